// A stand-in for the Resend API (`POST /emails`), for tests only: Resend cannot run locally.
// It records what the worker sends so a test can follow the one-time links it holds.
import { createServer } from "node:http";

export async function startMailbox() {
  const mails = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      let json;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      mails.push({ method: req.method, path: req.url, authorization: req.headers.authorization, body: json });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: `mail_${mails.length}` }));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    mails,
    /** The mails to `to`, newest last. */
    to: (to) => mails.filter((m) => m.body?.to?.includes(to)),
    /** Waits for the `n`th mail to `to` (mail goes out after the answer). */
    async waitFor(to, n = 1, ms = 10_000) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const got = mails.filter((m) => m.body?.to?.includes(to));
        if (got.length >= n) return got[n - 1];
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no mail #${n} to ${to} within ${ms} ms`);
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

/** The tokens of the links in a mail's text (`…/signin/email#token=…`). */
export function linkTokens(mail) {
  return [...(mail?.body?.text ?? "").matchAll(/\/signin\/email#token=([0-9A-Za-z]+)/g)].map((m) => m[1]);
}
