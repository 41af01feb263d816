// Servers that produce faults real components cannot be made to produce on demand (SPEC
// "real over fake": a mock only for a 429 storm, a dropped connection, a hang). Loopback only;
// every server is closed by the test that opens it.
import { createServer } from "node:http";
import { connect as connectTcp, createServer as createTcpServer } from "node:net";

/** A Stripe-shaped HTTP server. `mode`: ok | storm429 | error500 | garbage | hang | slowbody
 * (headers, then a body that never ends) | huge (a 9 MiB body, streamed without a length). */
export async function fakeStripe(mode) {
  const hits = [];
  const server = createServer((req, res) => {
    hits.push({ method: req.method, url: req.url, auth: req.headers.authorization });
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(body);
    };
    switch (mode) {
      case "storm429":
        return send(429, JSON.stringify({ error: { type: "rate_limit_error" } }), { "retry-after": "0" });
      case "error500":
        return send(500, JSON.stringify({ error: { type: "api_error" } }));
      case "garbage":
        return send(200, "<html>definitely not json");
      case "hang":
        return; // never answers
      case "slowbody":
        res.writeHead(200, { "content-type": "application/json" });
        return res.write('{"id": "acct_'); // …and nothing more
      case "huge": {
        res.writeHead(200, { "content-type": "application/json" });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        let sent = 0;
        const more = () => {
          while (sent < 9 && res.write(chunk)) sent += 1;
          if (sent >= 9) return res.end("{}");
          res.once("drain", () => { sent += 1; more(); });
        };
        return more();
      }
      default:
        if (req.url.startsWith("/v1/account")) return send(200, JSON.stringify({ id: "acct_fake123", object: "account" }));
        return send(200, JSON.stringify({ object: "list", data: [], has_more: false }));
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    hits,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

/** A TCP port that accepts connections and never says a word (a hung database). */
export async function silentTcp() {
  const sockets = [];
  const server = createTcpServer((s) => sockets.push(s));
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: server.address().port,
    close: () => new Promise((r) => { sockets.forEach((s) => s.destroy()); server.close(r); }),
  };
}

/** A loopback port with nothing listening. */
export async function closedPort() {
  // A privileged port below the ephemeral range: a port freed by closing a listener can be
  // taken again at once by another test file's server (it happened: the "unreachable" Stripe
  // answered). Checked to refuse connections.
  for (let port = 1; port < 1024; port++) {
    const refused = await new Promise((resolve) => {
      const s = connectTcp(port, "127.0.0.1");
      s.once("connect", () => { s.destroy(); resolve(false); });
      s.once("error", (e) => resolve(e.code === "ECONNREFUSED"));
    });
    if (refused) return port;
  }
  throw new Error("no closed port below 1024");
}

/** A TCP proxy to 127.0.0.1:`port` that forwards both ways until a client message containing
 * `marker` has been passed on; from then on the server's answers are dropped and the connection
 * is held open: a server that took the query and never answers. */
export async function stallingProxy(port, marker) {
  const sockets = [];
  let stalled = false;
  const server = createTcpServer((client) => {
    const upstream = connectTcp(port, "127.0.0.1");
    sockets.push(client, upstream);
    client.on("data", (d) => {
      upstream.write(d);
      if (d.includes(marker)) stalled = true;
    });
    upstream.on("data", (d) => {
      if (!stalled) client.write(d);
    });
    client.on("error", () => {});
    upstream.on("error", () => {});
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: server.address().port,
    stalled: () => stalled,
    close: () => new Promise((r) => { sockets.forEach((s) => s.destroy()); server.close(r); }),
  };
}
