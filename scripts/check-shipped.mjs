// Checks a built worker as it would ship: none of the e2e build's fault hooks is compiled in
// (their variable names appear nowhere in the wasm), and the wasm fits the 1 MiB gzip budget.
// usage: node scripts/check-shipped.mjs <build dir>
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync, constants } from "node:zlib";

const dir = process.argv[2] ?? "build";
const find = (d) =>
  readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? find(join(d, e.name)) : e.name.endsWith(".wasm") ? [join(d, e.name)] : [],
  );
const wasm = find(dir);
if (wasm.length !== 1) {
  console.error(`expected one .wasm under ${dir}, found ${wasm.length}`);
  process.exit(1);
}
const bytes = readFileSync(wasm[0]);
const HOOKS = ["REPAIR_FAULT_STOP_AFTER_CLAIM", "RUN_FAULT_CRASH_AFTER_APPLY", "injected stop after the claim", "injected crash after apply"];
const found = HOOKS.filter((h) => bytes.includes(Buffer.from(h)));
if (found.length) {
  console.error(`the shipped worker contains fault hooks: ${found.join(", ")}`);
  process.exit(1);
}
const gz = gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION }).length;
const BUDGET = 1024 * 1024;
console.log(`shipped wasm: ${bytes.length} bytes, ${gz} bytes gzip -9 (budget ${BUDGET}); no fault hook`);
if (gz > BUDGET) {
  console.error("the shipped wasm is over its 1 MiB gzip budget");
  process.exit(1);
}
