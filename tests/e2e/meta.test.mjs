import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker } from "./harness.mjs";

let w;
beforeAll(async () => {
  w = await startWorker();
});
afterAll(async () => w?.dispose());

describe("unauthenticated surfaces", () => {
  it("healthz answers ok", async () => {
    const r = await w.get("/healthz");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true });
  });
});
