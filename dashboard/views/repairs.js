// Repairs: the list, and one repair with its column diff, the row before/after, the statement
// it runs (values only as parameters), and approve / reject.

import { h, clear, dl, table, section, field, link, pager, pre, path, qs, show, js, button, confirmDialog, put } from "../dom.js";
import { api, v1 } from "../api.js";
import { navigate } from "../router.js";
import { act, onSubmit, say } from "../ui.js";
import { ledgerLink } from "./incidents.js";

const STATUSES = ["pending", "executing", "executed", "verified", "unverified", "rejected", "stale", "failed"];

const incidentIds = (r) => (Array.isArray(r.incident_ids) && r.incident_ids.length ? r.incident_ids : r.incident_id ? [r.incident_id] : []);
const incidentLinks = (pid, r) => {
  const ids = incidentIds(r);
  return ids.length ? h("ul", { class: "inline" }, ids.map((id) => h("li", null, link(["projects", pid, "incidents", id], id)))) : null;
};

export async function repairs(ctx) {
  const { pid } = ctx.params;
  const q = ctx.query;
  ctx.heading("Repairs");
  put(ctx.view, onSubmit(h("form", { class: "filters", "aria-label": "Filter repairs" },
    field("Status", "status", { options: [["", "Any status"], ...STATUSES.map((s) => [s, s])], value: q.get("status") || "" }),
    field("Customer (Stripe id)", "customer", { value: q.get("customer") || "", spellcheck: "false" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Filter"), link(["projects", pid, "repairs"], "Clear filters"))),
  async (fd) => {
    const f = (k) => String(fd.get(k) || "").trim();
    await navigate(path("projects", pid, "repairs") + qs({ status: f("status"), customer: f("customer"), incident: q.get("incident") }));
  }));
  if (q.get("incident")) put(ctx.view, h("p", null, "Only the repairs of incident ", h("code", null, q.get("incident")), "."));
  const r = await api("GET", v1("projects", pid, "repairs") + qs({
    status: q.get("status"), customer: q.get("customer"), incident: q.get("incident"), cursor: q.get("cursor"),
  }));
  put(ctx.view, 
    r.data.length
      ? table("Repairs", [
          ["Repair", (x) => link(["projects", pid, "repairs", x.id], x.id)],
          ["Customer", (x) => ledgerLink(pid, x.customer)],
          ["Status", (x) => x.status],
          ["Effect", (x) => x.effect],
          ["Columns", (x) => (Array.isArray(x.changes) ? x.changes.map((c) => c.column).join(", ") : null)],
          ["Incidents", (x) => incidentLinks(pid, x)],
          ["Created", (x) => x.created_at],
        ], r.data)
      : h("p", null, "No repairs match."),
    pager(ctx.segs, q, "cursor", r.next_cursor));
}

function statement(st) {
  if (!st) return h("p", null, "No statement: the project has no mapping to build it from.");
  if (st.refused) return h("p", { class: "warn" }, "This repair cannot run as stored: ", show(st.refused));
  const sqls = st.sql != null ? [["SQL", st.sql]] : [["Lock", st.lock], ["Update", st.update]].filter(([, s]) => s != null);
  return h("div", null,
    sqls.map(([c, s]) => pre(String(s), `${c} statement`)),
    pre(st.params ?? [], "Parameters ($1, $2, … in order)"));
}

function draw(box, pid, r) {
  clear(box);
  const rowCols = [...new Set([...Object.keys(r.row_before || {}), ...Object.keys(r.row_after || {})])];
  put(box, 
    dl([
      ["Status", r.status],
      ["Effect", r.effect],
      ["Customer", ledgerLink(pid, r.customer)],
      ["Table", r.table],
      ["Key column", r.key_column],
      ["Resolves incidents", incidentLinks(pid, r)],
      ["Approved by", r.approved_by],
      ["Created", r.created_at],
      ["Updated", r.updated_at],
      ["Executed", r.executed_at],
      ["Verified", r.verified_at],
      ["Error", r.error],
      ["Reason", r.reason],
    ]),
    section("Changes",
      table("Each column, the value it must still hold, and its new value", [
        ["Column", (c) => c.column],
        ["Before", (c) => js(c.before)],
        ["After", (c) => js(c.after)],
      ], Array.isArray(r.changes) ? r.changes : [])),
    section("The row before and after",
      rowCols.length
        ? table("The mapped columns as read inside the repair's transaction", [
            ["Column", (c) => c],
            ["Row before", (c) => (r.row_before ? js(r.row_before[c]) : "—")],
            ["Row after", (c) => (r.row_after ? js(r.row_after[c]) : "—")],
          ], rowCols)
        : h("p", null, "Not executed yet: the row is read inside the repair's transaction.")),
    section("Statement", statement(r.statement)));
}

export async function repair(ctx) {
  const { pid, rid } = ctx.params;
  const r = await api("GET", v1("projects", pid, "repairs", rid));
  ctx.heading(`Repair ${show(r.id)}`);
  const box = h("div");
  const decide = h("div");
  put(ctx.view, box, decide);
  const show_ = (x) => {
    draw(box, pid, x);
    clear(decide);
    if (x.status !== "pending") return;
    const approve = button("Approve and run", () => act(async () => {
      const ok = await confirmDialog(`Approve repair ${show(x.id)}? It updates the row of customer ${show(x.customer)} now, then re-checks the customer.`, "Approve");
      if (!ok) return;
      const done = await api("POST", v1("projects", pid, "repairs", rid, "approve"), {});
      show_(done);
      say(`Repair ${show(done.id)} is ${show(done.status)}.`);
    }, approve));
    put(decide, section("Decision",
      h("p", null, "Approving runs the statement above in one transaction; a row that changed meanwhile makes the repair stale and nothing is written."),
      h("div", { class: "actions" }, approve),
      onSubmit(h("form", { class: "stack" },
        field("Reason for rejecting", "reason", { textarea: true, required: true, maxlength: 500 }),
        h("button", { type: "submit", class: "btn danger" }, "Reject")), async (fd) => {
        const done = await api("POST", v1("projects", pid, "repairs", rid, "reject"), { reason: String(fd.get("reason") || "").trim() });
        show_(done);
        say(`Repair ${show(done.id)} is ${show(done.status)}.`);
      })));
  };
  show_(r);
}
