// Checks the built workers as they would ship: none of the e2e build's fault hooks is compiled
// into either (their variable names appear nowhere in the wasm), and each wasm fits the 1 MiB
// gzip budget on its own (the edge and the coordinator are two scripts, each with its own limit).
// usage: node scripts/check-shipped.mjs [build dir ...]   (default: build build-coordinator)
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync, constants } from "node:zlib";

const dirs = process.argv.length > 2 ? process.argv.slice(2) : ["build", "build-coordinator"];
const HOOKS = ["REPAIR_FAULT_STOP_AFTER_CLAIM", "RUN_FAULT_CRASH_AFTER_APPLY", "injected stop after the claim", "injected crash after apply"];
const BUDGET = 1024 * 1024;
const find = (d) =>
  readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? find(join(d, e.name)) : e.name.endsWith(".wasm") ? [join(d, e.name)] : [],
  );
let failed = false;
for (const dir of dirs) {
  const wasm = find(dir);
  if (wasm.length !== 1) {
    console.error(`expected one .wasm under ${dir}, found ${wasm.length}`);
    failed = true;
    continue;
  }
  const bytes = readFileSync(wasm[0]);
  const found = HOOKS.filter((h) => bytes.includes(Buffer.from(h)));
  if (found.length) {
    console.error(`${dir}: the shipped worker contains fault hooks: ${found.join(", ")}`);
    failed = true;
  }
  const gz = gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION }).length;
  console.log(`shipped wasm ${wasm[0]}: ${bytes.length} bytes, ${gz} bytes gzip -9 (budget ${BUDGET})${found.length ? "" : "; no fault hook"}`);
  if (gz > BUDGET) {
    console.error(`${dir}: the shipped wasm is over its 1 MiB gzip budget`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
