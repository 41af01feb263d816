// Integrations (non-secret identifiers, connection tests), API keys (create shows the plaintext
// once, in the page only; revoke; rotate) and webhook health.

import { h, clear, dl, table, section, field, uid, link, pager, qs, show, button, confirmDialog, tree, put } from "../dom.js";
import { api, v1, currentSession } from "../api.js";
import { act, onSubmit, say } from "../ui.js";

export async function integrations(ctx) {
  const { pid } = ctx.params;
  ctx.heading("Integrations");
  const r = await api("GET", v1("projects", pid, "integrations"));
  const db = r.database;
  const dbResult = h("div", { class: "result" });
  const stripeResult = h("div", { class: "result" });
  const testDb = button("Test database connection", () => act(async () => {
    const t = await api("POST", v1("projects", pid, "integrations", "database", "test"), {});
    const rep = t.repair;
    put(clear(dbResult), 
      h("h3", null, "Read connection"),
      dl([
        ["Connected", h("strong", { class: t.ok ? "ok" : "bad" }, t.ok ? "yes" : "no")],
        ["Read-only enforced", t.read_only_enforced],
        ["Role can write", t.role_can_write],
        ["Latency", t.latency_ms != null ? `${t.latency_ms} ms` : null],
        t.error ? ["Error", tree(t.error)] : null,
      ]),
      h("h3", null, "Repair role"),
      rep ? tree(rep) : h("p", null, "No repair connection is configured."));
  }, testDb));
  const testStripe = button("Test Stripe connection", () => act(async () => {
    put(clear(stripeResult), tree(await api("POST", v1("projects", pid, "integrations", "stripe", "test"), {})));
  }, testStripe));
  put(ctx.view, 
    h("p", null, "Only non-secret identifiers are shown; secrets never leave the vault."),
    section("Stripe", r.stripe ? tree(r.stripe) : h("p", null, "Not configured."),
      r.stripe ? h("div", { class: "actions" }, testStripe) : null, stripeResult),
    section("Database", db
      ? [h("h3", null, "Read connection"), tree(db.read), h("h3", null, "Repair connection"),
         db.repair ? tree(db.repair) : h("p", null, "None: repairs cannot run."), dl([["Updated", db.updated_at]])]
      : h("p", null, "Not configured."),
    db ? h("div", { class: "actions" }, testDb) : null, dbResult));
}

export async function webhooks(ctx) {
  const { pid } = ctx.params;
  ctx.heading("Webhook health");
  const w = await api("GET", v1("projects", pid, "webhooks", "health"));
  const epoch = (n) => (typeof n === "number" ? `${new Date(n * 1000).toISOString()} (${n})` : n);
  const gap = w.unrecoverable_gap;
  put(ctx.view, dl([
    ["Events received by webhook", w.events_received],
    ["Events recovered through the Events API", w.events_recovered],
    ["Newest event created", epoch(w.newest_event_created)],
    ["Outbound events pending", w.outbox_pending],
    ["Unrecoverable gap", gap ? `detected ${show(gap.detected_at)}, events from ${epoch(gap.gap_from)} lost: a full run repairs it` : "none"],
  ]));
}

// The new key's plaintext, shown once in a read-only field. It exists only in this element.
function secretPanel(box, key, what) {
  const id = uid();
  const input = h("input", { id, type: "text", readOnly: true, value: key, class: "secret", autocomplete: "off", spellcheck: "false" });
  const copy = button("Copy", () => act(async () => {
    try { await navigator.clipboard.writeText(input.value); say("Copied to the clipboard."); }
    catch { input.select(); say("Copying is not allowed here: the key is selected, copy it with the keyboard."); }
  }, copy));
  const done = button("I have stored it", () => { input.value = ""; clear(box); say("The key is no longer shown."); }, "btn secondary");
  put(clear(box), h("div", { class: "panel" },
    h("h2", null, what),
    h("p", null, h("strong", null, "Copy it now: it is shown once and can never be shown again.")),
    h("div", { class: "field" }, h("label", { for: id }, "API key"), input),
    h("div", { class: "actions" }, copy, done)));
  input.focus();
  input.select();
}

export async function keys(ctx) {
  ctx.heading("API keys");
  const s = currentSession() || {};
  const created = h("div");
  const list = h("div");
  const projects = await api("GET", "/v1/projects?limit=100").catch(() => ({ data: [] }));
  const form = onSubmit(h("form", { class: "grid" },
    field("Name", "name", { required: true, maxlength: 100 }),
    field("Environment", "environment", { options: [["live", "live"], ["test", "test"]], value: s.environment || "live" }),
    field("Capability", "capability", { options: [["read", "read"], ["repair", "repair"]], value: "read" }),
    field("Project", "project_id", { options: [["", "All projects (org-wide)"], ...projects.data.map((p) => [p.id, `${p.name} (${p.environment})`])] }),
    field("Expires (optional, your local time)", "expires", { type: "datetime-local" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Create key"))), async (fd) => {
    const body = { name: String(fd.get("name") || "").trim(), environment: fd.get("environment"), capability: fd.get("capability") };
    if (fd.get("project_id")) body.project_id = fd.get("project_id");
    const exp = fd.get("expires");
    if (exp) {
      const d = new Date(exp);
      if (isNaN(d)) throw new Error("The expiry is not a valid date.");
      body.expires_at = d.toISOString();
    }
    const k = await api("POST", "/v1/keys", body);
    form.reset();
    secretPanel(created, k.key, `New key “${show(k.name)}”`);
    await load();
  });
  put(ctx.view, created, section("Create a key", form), section("Keys", list));

  const url = "/v1/keys" + qs({ cursor: ctx.query.get("cursor") });
  const load = async () => {
    const r = await api("GET", url);
    put(clear(list), 
      r.data.length
        ? table("Keys (secrets are never listed)", [
            ["Name", (k) => k.name],
            ["Key and id", (k) => h("span", null, h("code", null, `${show(k.prefix)}…${show(k.last4)}`), h("br"), h("code", { class: "small" }, show(k.id)))],
            ["Environment", (k) => k.environment],
            ["Capability", (k) => k.capability],
            ["Scope", (k) => (k.project_id ? link(["projects", k.project_id, "incidents"], k.project_id) : "org")],
            ["Created", (k) => k.created_at],
            ["Last used", (k) => k.last_used_at],
            ["Expires", (k) => k.expires_at],
            ["Revoked", (k) => k.revoked_at],
            ["Actions", (k) => (k.revoked_at ? "—" : keyActions(k))],
          ], r.data)
        : h("p", null, "No keys."),
      pager(ctx.segs, ctx.query, "cursor", r.next_cursor));
  };

  const keyActions = (k) => {
    const sr = (t) => h("span", { class: "sr" }, ` ${t}`);
    const revoke = h("button", { type: "button", class: "btn small danger" }, "Revoke", sr(show(k.name)));
    revoke.addEventListener("click", () => act(async () => {
      if (!(await confirmDialog(`Revoke the key “${show(k.name)}” (${show(k.prefix)}…${show(k.last4)})? It stops working on the next request.`, "Revoke"))) return;
      await api("DELETE", v1("keys", k.id), {});
      say(`The key “${show(k.name)}” is revoked.`);
      await load();
    }, revoke));
    const rotate = h("button", { type: "button", class: "btn small secondary" }, "Rotate", sr(show(k.name)));
    rotate.addEventListener("click", () => act(async () => {
      const grace = field("Grace period in seconds (0 = the old key stops now; at most 86400)", "grace", { type: "number", min: 0, max: 86400, value: "0", required: true });
      if (!(await confirmDialog(`Rotate the key “${show(k.name)}”? A new key with the same settings is issued.`, "Rotate", grace))) return;
      const n = Number(grace.querySelector("input").value);
      const r = await api("POST", v1("keys", k.id, "rotate"), { grace_seconds: Number.isFinite(n) ? Math.trunc(n) : 0 });
      secretPanel(created, r.key, `Rotated key “${show(r.name)}”`);
      say(`Rotated. The old key works until ${show(r.old_key_expires_at)}.`);
      await load();
    }, rotate));
    return h("div", { class: "actions" }, revoke, rotate);
  };
  await load();
}
