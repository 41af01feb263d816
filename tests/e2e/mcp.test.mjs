// The MCP server (POST /mcp) against the built worker: the official TypeScript SDK client over
// Streamable HTTP (2025-11-25 handshake, every tool called, results validated by the SDK against
// each tool's outputSchema), the stateless 2026-07-28 revision and the 2025-06-18 handshake on the
// wire, the JSON-RPC errors, and the shared security cases (no key, revoked key, a session
// cookie, another tenant's project, a test key on a live project, a foreign Origin, the rate
// limit), with real PostgreSQL and localstripe behind the reads.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startWorker } from "./harness.mjs";
import { forgeKey, missingProjectId, newKey, newOrg, newProject } from "./fixtures.mjs";
import { FAST, appRow, env, mappingFor, scenarioCustomers, scratchTable, sql, wiredProject } from "./reconcile-fixtures.mjs";

const META = (v = "2026-07-28") => ({ "io.modelcontextprotocol/protocolVersion": v, "io.modelcontextprotocol/clientCapabilities": {} });

let w, o, p, c, incident, foreign, liveProject, runId;
beforeAll(async () => {
  w = await startWorker({ STRIPE_API_BASE: env("PR_STRIPE_BASE"), ...FAST });
  const table = scratchTable("mcp");
  ({ o, p } = await wiredProject(w, { mapping: mappingFor(table) }));
  c = scenarioCustomers();
  sql(`INSERT INTO ${table} (stripe_customer_id, plan, is_premium, on_trial, feature_sso) VALUES ${appRow(c.missing, "free", false, false)}`);
  const checked = await w.post(`/v1/projects/${p.id}/customers/${c.missing}/check`, undefined, { key: o.key });
  expect(checked.status, checked.text).toBe(200);
  incident = checked.json.incidents.find((i) => i.kind === "missing_access");
  expect(incident).toBeTruthy();
  const other = await newOrg(w);
  foreign = (await newProject(w, other.key)).id;
  liveProject = (await newProject(w, o.liveKey)).id;
}, 90_000);
afterAll(async () => w?.dispose());

const mcpUrl = (query = "") => new URL(`/mcp${query}`, w.url);

async function connect(key, headers = {}) {
  const transport = new StreamableHTTPClientTransport(mcpUrl(), {
    requestInit: { headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } },
  });
  const client = new Client({ name: "parityrail-e2e", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport };
}

/** One raw JSON-RPC POST through the worker. */
async function rpc(body, { key = o.key, headers = {}, method = "POST" } = {}) {
  const r = await w.request(method, "/mcp", {
    key,
    raw: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
  });
  return r;
}

const modern = (method, name) => ({ "mcp-protocol-version": "2026-07-28", "mcp-method": method, ...(name ? { "mcp-name": name } : {}) });

describe("the official SDK client", () => {
  it("connects statelessly, lists the tools and calls every one of them", async () => {
    const { client, transport } = await connect(o.key);
    expect(transport.sessionId).toBeUndefined();
    expect(client.getServerVersion().name).toBe("parityrail");
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      "list_projects", "list_incidents", "get_incident", "customer_ledger", "run_status", "verify_audit_chain", "webhook_health", "get_integrations",
    ]);
    for (const t of tools) {
      expect(t.description, t.name).toBeTruthy();
      expect(t.annotations.readOnlyHint, t.name).toBe(true);
      expect(t.outputSchema.type, t.name).toBe("object");
    }
    const call = async (name, args) => {
      const r = await client.callTool({ name, arguments: args });
      expect(r.isError, `${name}: ${JSON.stringify(r.content)}`).toBeFalsy();
      expect(JSON.parse(r.content[0].text)).toEqual(r.structuredContent);
      return r.structuredContent;
    };
    expect((await call("list_projects", {})).data.map((x) => x.id)).toContain(p.id);
    const open = await call("list_incidents", { project_id: p.id, status: "open", customer: c.missing });
    expect(open.data.map((i) => i.id)).toContain(incident.id);
    expect(open.data.every((i) => i.customer === c.missing && i.status === "open")).toBe(true);
    expect((await call("list_incidents", { project_id: p.id, kind: "unpaid_access" })).data).toEqual([]);
    const one = await call("get_incident", { project_id: p.id, incident_id: incident.id });
    expect(one).toMatchObject({ id: incident.id, kind: "missing_access", customer: c.missing, severity: "high" });
    expect(one.snapshots.length).toBeGreaterThan(0);
    const ledger = await call("customer_ledger", { project_id: p.id, customer_id: c.missing });
    expect(ledger.customer).toBe(c.missing);
    expect(ledger.data.map((e) => e.action)).toContain("incident.opened");
    expect(await call("run_status", { project_id: p.id })).toEqual({ run: null });
    const started = await w.post(`/v1/projects/${p.id}/runs`, undefined, { key: o.key });
    expect(started.status, started.text).toBe(202);
    runId = started.json.id;
    expect((await call("run_status", { project_id: p.id })).run.id).toBe(started.json.id);
    expect((await call("run_status", { project_id: p.id, run_id: started.json.id })).run.id).toBe(started.json.id);
    const chain = await call("verify_audit_chain", { project_id: p.id });
    expect(chain.ok).toBe(true);
    expect(chain.entries).toBeGreaterThan(0);
    expect(await call("webhook_health", { project_id: p.id })).toMatchObject({ events_received: 0 });
    const integrations = await call("get_integrations", { project_id: p.id });
    expect(integrations.stripe).toBeTruthy();
    // Identifiers only: a key's prefix and last four, never the key, a URL or a password.
    expect(integrations.stripe.key_last4).toMatch(/^\w{4}$/);
    expect(JSON.stringify(integrations)).not.toMatch(/sk_test_\w{8,}|password|postgres(ql)?:\/\//);
    expect(await client.ping()).toEqual({});
    await client.close();
  });

  it("answers each tool as its GET route does, and no tool changes anything", async () => {
    // The run the previous test started writes to the chain until it ends: wait for it.
    for (let i = 0; i < 300 && runId; i++) {
      const r = await w.get(`/v1/projects/${p.id}/runs/${runId}`, { key: o.key });
      if (r.json.status !== "running") break;
      await new Promise((res) => setTimeout(res, 200));
    }
    const { client } = await connect(o.key);
    const before = (await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key })).json;
    const viaTool = (await client.callTool({ name: "get_incident", arguments: { project_id: p.id, incident_id: incident.id } })).structuredContent;
    const viaApi = (await w.get(`/v1/projects/${p.id}/incidents/${incident.id}`, { key: o.key })).json;
    expect(viaTool).toEqual(viaApi);
    for (const name of ["list_incidents", "get_integrations", "webhook_health", "verify_audit_chain", "customer_ledger"]) {
      await client.callTool({ name, arguments: { project_id: p.id, ...(name === "customer_ledger" ? { customer_id: c.missing } : {}) } });
    }
    const after = (await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key })).json;
    expect(after.head_seq).toBe(before.head_seq);
    expect(after.head_hash).toBe(before.head_hash);
    await client.close();
  });

  it("reports a project of another org, one of the other environment and a missing one as the same tool error", async () => {
    const { client } = await connect(o.key);
    const text = async (key, pid) => {
      const { client: cl } = key === o.key ? { client } : await connect(key);
      const r = await cl.callTool({ name: "list_incidents", arguments: { project_id: pid } });
      expect(r.isError).toBe(true);
      return r.content[0].text.replace(/request req_\w+/, "request …");
    };
    const missing = await text(o.key, missingProjectId());
    expect(missing).toMatch(/project not found \(not_found/);
    expect(await text(o.key, foreign)).toBe(missing);
    // The org's test key does not see its live project.
    expect(await text(o.key, liveProject)).toBe(missing);
    await client.close();
  });
});

describe("the wire", () => {
  it("serves the stateless 2026-07-28 revision: discover, headers checked against the body", async () => {
    const d = await rpc({ jsonrpc: "2.0", id: 1, method: "server/discover", params: { _meta: META() } }, { headers: modern("server/discover") });
    expect(d.status).toBe(200);
    expect(d.headers.get("content-type")).toMatch(/^application\/json/);
    expect(d.headers.get("mcp-session-id")).toBeNull();
    expect(d.json.result).toMatchObject({ resultType: "complete", supportedVersions: ["2026-07-28", "2025-11-25", "2025-06-18"], capabilities: { tools: {} } });
    const body = { jsonrpc: "2.0", id: "t", method: "tools/call", params: { _meta: META(), name: "list_projects", arguments: {} } };
    const ok = await rpc(body, { headers: modern("tools/call", "list_projects") });
    expect(ok.json.result.resultType).toBe("complete");
    expect(ok.json.result.structuredContent.data.map((x) => x.id)).toContain(p.id);
    for (const headers of [modern("tools/call", "get_incident"), modern("tools/list", "list_projects"), { ...modern("tools/call", "list_projects"), "mcp-protocol-version": "2025-11-25" }]) {
      const r = await rpc(body, { headers });
      expect([r.status, r.json.error.code, r.json.id]).toEqual([400, -32020, "t"]);
    }
    const future = { jsonrpc: "2.0", id: 2, method: "tools/list", params: { _meta: META("2099-01-01") } };
    const r = await rpc(future, { headers: { ...modern("tools/list"), "mcp-protocol-version": "2099-01-01" } });
    expect([r.status, r.json.error.code]).toEqual([400, -32022]);
    expect(r.json.error.data).toEqual({ supported: ["2026-07-28", "2025-11-25", "2025-06-18"], requested: "2099-01-01" });
    const init = await rpc({ jsonrpc: "2.0", id: 3, method: "initialize", params: { _meta: META() } }, { headers: modern("initialize") });
    expect([init.status, init.json.error.code]).toEqual([404, -32601]);
  });

  it("answers the 2025-06-18 handshake without a session, and only POST", async () => {
    const init = await rpc({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } });
    expect(init.status).toBe(200);
    expect(init.headers.get("mcp-session-id")).toBeNull();
    expect(init.json.result.protocolVersion).toBe("2025-06-18");
    const note = await rpc({ jsonrpc: "2.0", method: "notifications/initialized" }, { headers: { "mcp-protocol-version": "2025-06-18" } });
    expect([note.status, note.text]).toEqual([202, ""]);
    for (const method of ["GET", "DELETE"]) {
      const r = await rpc(undefined, { method, headers: { "mcp-protocol-version": "2025-06-18" } });
      expect(r.status, method).toBe(405);
      expect(r.json.jsonrpc).toBe("2.0");
    }
  });

  it("answers malformed requests, unknown methods and tools, and bad arguments with the JSON-RPC errors", async () => {
    expect((await rpc("{nope")).json.error.code).toBe(-32700);
    expect((await rpc([{ jsonrpc: "2.0", id: 1, method: "ping" }])).json.error.code).toBe(-32600);
    expect((await rpc({ jsonrpc: "2.0", id: 1, method: "resources/list" })).json.error.code).toBe(-32601);
    const unknown = await rpc({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "drop_everything", arguments: {} } });
    expect([unknown.status, unknown.json.error.code]).toEqual([200, -32602]);
    for (const [args, field] of [[{}, "project_id"], [{ project_id: p.id, status: "maybe" }, "status"], [{ project_id: p.id, limit: 1000 }, "limit"], [{ project_id: p.id, sql: "DROP TABLE" }, "sql"]]) {
      const r = await rpc({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "list_incidents", arguments: args } });
      expect([r.json.error.code, r.json.error.data.field], JSON.stringify(args)).toEqual([-32602, field]);
    }
    const big = await rpc({ jsonrpc: "2.0", id: 4, method: "ping", params: { pad: "x".repeat(2 * 1024 * 1024) } });
    expect(big.status).toBe(413);
  });
});

describe("security", () => {
  const ping = { jsonrpc: "2.0", id: 1, method: "tools/list" };

  it("needs an API key: none, a revoked one or a session cookie alone is 401", async () => {
    const none = await rpc(ping, { key: null });
    expect([none.status, none.json.error.data.code, none.json.id]).toEqual([401, "missing_api_key", undefined]);
    const k = await newKey(w, o.liveKey);
    expect((await rpc(ping, { key: k.key })).status).toBe(200);
    expect((await w.delete(`/v1/keys/${k.id}`, { key: o.liveKey })).status).toBe(200);
    const revoked = await rpc(ping, { key: k.key });
    expect([revoked.status, revoked.json.error.data.code]).toEqual([401, "invalid_api_key"]);
    // A real dashboard session: its cookie works on the API, and is no credential here.
    const signed = await w.post("/v1/sessions", { api_key: o.liveKey }, { headers: { origin: "http://localhost" } });
    expect(signed.status, signed.text).toBe(201);
    const cookie = `__Host-pr_session=${/__Host-pr_session=([^;]*)/.exec(signed.headers.get("set-cookie"))[1]}`;
    expect((await w.get("/v1/org", { headers: { cookie } })).status).toBe(200);
    const viaCookie = await rpc(ping, { key: null, headers: { cookie } });
    expect([viaCookie.status, viaCookie.json.error.data.code]).toEqual([401, "missing_api_key"]);
    await expect(connect(undefined)).rejects.toThrow();
  });

  it("shows a key limited to one project that project only, and its sibling as missing", async () => {
    const sibling = await newProject(w, o.liveKey);
    const scoped = await newKey(w, o.liveKey, { project_id: liveProject, capability: "read" });
    const { client } = await connect(scoped.key);
    const listed = await client.callTool({ name: "list_projects", arguments: {} });
    expect(listed.structuredContent.data.map((x) => x.id)).toEqual([liveProject]);
    const own = await client.callTool({ name: "webhook_health", arguments: { project_id: liveProject } });
    expect(own.isError).toBeFalsy();
    const other = await client.callTool({ name: "webhook_health", arguments: { project_id: sibling.id } });
    const missing = await client.callTool({ name: "webhook_health", arguments: { project_id: missingProjectId() } });
    expect(other.isError).toBe(true);
    expect(other.content[0].text.replace(/req_\w+/, "")).toBe(missing.content[0].text.replace(/req_\w+/, ""));
    await client.close();
  });

  it("checks every Origin sent, and refuses one that is not text", async () => {
    const two = await w.mf.dispatchFetch("http://localhost/mcp", {
      method: "POST",
      headers: [["authorization", `Bearer ${o.key}`], ["content-type", "application/json"], ["origin", "http://localhost:8787"], ["origin", "http://evil.example.com"]],
      body: JSON.stringify(ping),
    });
    expect(two.status).toBe(403);
    await two.text();
  });

  it("takes the key from api_key too, and never logs it", async () => {
    const r = await w.request("POST", `/mcp?api_key=${o.key}`, { raw: JSON.stringify(ping), headers: { "content-type": "application/json" } });
    expect(r.status).toBe(200);
    expect(w.logs.join("")).not.toContain(o.key);
  });

  it("refuses a page's foreign Origin (DNS rebinding) and accepts a loopback one", async () => {
    const evil = await rpc(ping, { headers: { origin: "http://evil.example.com" } });
    expect([evil.status, evil.json.error.data.code]).toEqual([403, "bad_origin"]);
    expect((await rpc(ping, { headers: { origin: "http://localhost:8787" } })).status).toBe(200);
  });

  it("counts against the key's rate limit and the client's failure lockout like any API request", async () => {
    const limited = await startWorker({ STRIPE_API_BASE: env("PR_STRIPE_BASE"), RATE_LIMIT_KEY_PER_MINUTE: "3", RATE_LIMIT_IP_PER_MINUTE: "3" });
    try {
      const org = await newOrg(limited);
      const statuses = [];
      for (let i = 0; i < 6; i++) {
        const r = await limited.request("POST", "/mcp", { key: org.key, raw: JSON.stringify(ping), headers: { "content-type": "application/json" } });
        statuses.push(r.status);
        if (r.status === 429) expect(r.json.error.data.code).toBe("rate_limited");
      }
      expect(statuses).toContain(429);
      // Bad keys from one address: locked out after the failure budget, even with a good key.
      const bad = [];
      for (let i = 0; i < 5; i++) {
        const r = await limited.request("POST", "/mcp", { key: forgeKey("live"), ip: "100.100.1.1", raw: JSON.stringify(ping), headers: { "content-type": "application/json" } });
        bad.push(r.status);
      }
      expect(bad.slice(0, 3)).toEqual([401, 401, 401]);
      expect(bad.at(-1)).toBe(429);
      const fresh = await newOrg(limited);
      const after = await limited.request("POST", "/mcp", { key: fresh.key, ip: "100.100.1.1", raw: JSON.stringify(ping), headers: { "content-type": "application/json" } });
      expect(after.status).toBe(429);
    } finally {
      await limited.dispose();
    }
  });
});
