// Through `wrangler dev` itself (the local runtime a newcomer and the black-box checks use),
// not Miniflare's API: a request refused before its body was read must not stall the runtime.
// A signed webhook delivery over 1 MiB used to leave the next cron tick
// (`/cdn-cgi/handler/scheduled`) hanging until some other request arrived.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHmac, randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { startWrangler, stripeServer } from "../../scripts/bench-lib.mjs";

const SECRET = `whsec_${randomBytes(16).toString("hex")}`;
let wd, stripe, pid;

const freePort = () =>
  new Promise((res) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

/** Fetches with a deadline; `null` when nothing answered in time. */
async function within(ms, url, init) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), ms);
  try {
    const r = await fetch(url, { ...init, signal: ctl.signal });
    return { status: r.status, text: await r.text() };
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

beforeAll(async () => {
  stripe = await stripeServer();
  wd = await startWrangler(await freePort(), { STRIPE_API_BASE: stripe.base, RATE_LIMIT_IP_PER_MINUTE: "100000" }, "e2e-wrangler", { prebuilt: true });
  const org = await wd.call("POST", "/v1/operator/orgs", wd.op, { name: "Ticks", owner_email: "ticks@example.com" });
  const key = (await wd.call("POST", "/v1/keys", org.key.key, { name: "t", environment: "test", capability: "repair" })).key;
  pid = (await wd.call("POST", "/v1/projects", key, { name: "ticks" })).id;
  await wd.call("PUT", `/v1/projects/${pid}/integrations/stripe`, key, { api_key: `sk_test_${randomBytes(12).toString("hex")}`, webhook_secrets: [SECRET] });
}, 120_000);
afterAll(async () => {
  await wd?.stop();
  stripe?.close();
});

describe("a cron tick after a refused delivery", () => {
  it("answers within seconds after each signed delivery over 1 MiB, three times running", async () => {
    for (let round = 0; round < 3; round++) {
      const t = Math.floor(Date.now() / 1000);
      const body = Buffer.alloc(1024 * 1024 + 100, 0x20);
      const sig = `t=${t},v1=${createHmac("sha256", SECRET).update(`${t}.`).update(body).digest("hex")}`;
      const refused = await within(10_000, `${wd.base}/webhooks/stripe/${pid}`, { method: "POST", headers: { "content-type": "application/json", "stripe-signature": sig }, body });
      expect(refused?.status, refused?.text).toBe(400);
      expect(JSON.parse(refused.text).error.code).toBe("invalid_webhook");
      // Nothing else reaches the worker meanwhile: the tick must answer on its own.
      const tick = await within(10_000, `${wd.base}/cdn-cgi/handler/scheduled`);
      expect(tick, `round ${round}: the cron tick did not answer within 10 s`).not.toBeNull();
      expect(tick.status).toBe(200);
    }
  }, 90_000);
});
