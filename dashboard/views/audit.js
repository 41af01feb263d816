// The audit log (entries by `after_seq`, chain verification, the latest signed checkpoint) and a
// customer's access ledger, which is built from the same entries.

import { h, clear, dl, table, section, field, link, pager, pre, path, show, button, tree, put } from "../dom.js";
import { api, v1 } from "../api.js";
import { navigate } from "../router.js";
import { act, onSubmit, showError } from "../ui.js";

// "incident:inc_1" / "repair:rep_1" link to their pages; any other target is text.
function target(pid, t) {
  const m = /^(incident|repair):(.+)$/.exec(String(t ?? ""));
  return m ? link(["projects", pid, m[1] === "incident" ? "incidents" : "repairs", m[2]], String(t)) : show(t);
}

export function entries(caption, pid, rows) {
  return table(caption, [
    ["Seq", (e) => e.seq],
    ["At", (e) => e.at],
    ["Action", (e) => h("code", null, show(e.action))],
    ["Target", (e) => target(pid, e.target)],
    ["Actor", (e) => e.actor],
    ["Before and after", (e) => h("details", null, h("summary", null, "Show"),
      h("div", { class: "cols" }, pre(e.before, "Before"), pre(e.after, "After")))],
    ["Hash", (e) => h("code", { class: "hash", title: show(e.hash) }, show(e.hash).slice(0, 12) + "…")],
  ], rows);
}

export async function audit(ctx) {
  const { pid } = ctx.params;
  ctx.heading("Audit log");
  const result = h("div", { class: "result" });
  const checkpoint = h("div", null, h("p", null, "Verify the chain to see the newest signed checkpoint it is held to."));
  const verify = button("Verify chain", () => act(async () => {
    const v = await api("GET", v1("projects", pid, "audit", "verify"));
    const cp = v.checkpoint ? ["Checked against checkpoint", tree(v.checkpoint)] : null;
    put(clear(result), v.ok
      ? dl([["Result", h("strong", { class: "ok" }, "The chain is intact")], ["Entries", v.entries], ["Head seq", v.head_seq], ["Head hash", h("code", null, show(v.head_hash))], cp])
      : dl([["Result", h("strong", { class: "bad" }, "The chain does NOT verify")], ["First bad seq", v.first_bad_seq], ["Reason", v.reason], ["Entries checked", v.entries_checked], cp]));
    // The checkpoint verify held the chain to: signed with the org's key, checked by the API
    // against that key and against D1's note of it.
    put(clear(checkpoint), v.checkpoint
      ? dl([["Entries it covers", v.checkpoint.size], ["Head hash", h("code", null, show(v.checkpoint.head_hash))], ["Signed at", v.checkpoint.time]])
      : h("p", null, "No checkpoint has been signed for this chain yet (the cron signs one every few minutes)."));
  }, verify));
  put(ctx.view,
    section("Chain", h("p", null, "Recomputes every entry's hash and link, and holds the chain to its newest signed checkpoint."), h("div", { class: "actions" }, verify), result),
    section("Latest signed checkpoint", checkpoint));
  const list = h("div");
  put(ctx.view, section("Entries", list));

  const after = ctx.query.get("after_seq");
  const r = await api("GET", v1("projects", pid, "audit") + (after ? `?after_seq=${encodeURIComponent(after)}` : ""));
  put(list, r.data.length ? entries("Audit entries in chain order", pid, r.data) : h("p", null, "No entries."),
    pager(ctx.segs, ctx.query, "after_seq", r.next_cursor));

}

export async function ledgerLookup(ctx) {
  const { pid } = ctx.params;
  ctx.heading("Access ledger");
  put(ctx.view, h("p", null, "Every incident, repair and verification touching one customer, from the project's audit log."),
    onSubmit(h("form", { class: "filters", "aria-label": "Find a customer" },
      field("Customer (Stripe id)", "customer", { required: true, spellcheck: "false" }),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Show ledger"))), async (fd) => {
      await navigate(path("projects", pid, "customers", String(fd.get("customer") || "").trim(), "ledger"));
    }));
}

export async function ledger(ctx) {
  const { pid, cus } = ctx.params;
  ctx.heading(`Access ledger of ${cus}`);
  const r = await api("GET", v1("projects", pid, "customers", cus, "ledger") + (ctx.query.get("cursor") ? `?cursor=${encodeURIComponent(ctx.query.get("cursor"))}` : ""));
  put(ctx.view, 
    h("p", null, "From the project's audit log. Each entry's hash can be checked against the chain on the ", link(["projects", pid, "audit"], "audit page"), "."),
    r.data && r.data.length ? entries("Ledger entries in chain order", pid, r.data) : h("p", null, "No entries."),
    pager(ctx.segs, ctx.query, "cursor", r.next_cursor));
}
