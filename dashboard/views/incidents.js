// Projects, and a project's incidents: the filtered list and one incident with its expected and
// actual access and the snapshots it was decided on.

import { h, dl, table, section, field, link, pager, pre, path, qs, show, put } from "../dom.js";
import { api, v1 } from "../api.js";
import { navigate, render } from "../router.js";
import { onSubmit, say, rememberProject } from "../ui.js";

export const KINDS = ["missing_access", "unpaid_access", "plan_mismatch", "trial_mismatch", "entitlement_mismatch", "unknown_customer"];
const STATUSES = ["open", "resolved", "ignored"];

export const ledgerLink = (pid, cus) => link(["projects", pid, "customers", cus, "ledger"], show(cus));
const label = (s) => String(s).replace(/_/g, " ");

export async function projects(ctx) {
  ctx.heading("Projects");
  const r = await api("GET", "/v1/projects" + qs({ cursor: ctx.query.get("cursor") }));
  r.data.forEach(rememberProject);
  put(ctx.view, 
    r.data.length
      ? table("Projects in this organisation", [
          ["Name", (p) => link(["projects", p.id, "incidents"], p.name || p.id)],
          ["Id", (p) => h("code", null, p.id)],
          ["Environment", (p) => p.environment],
          ["Reconciles every", (p) => `${show(p.reconcile_every_minutes)} min`],
          ["Approves grants on its own", (p) => p.auto_approve_grants],
          ["Created", (p) => p.created_at],
        ], r.data)
      : h("p", null, "No projects yet."),
    pager(ctx.segs, ctx.query, "cursor", r.next_cursor));
}

export const projectHome = (ctx) => navigate(path("projects", ctx.params.pid, "incidents"), { replace: true });

export async function incidents(ctx) {
  const { pid } = ctx.params;
  const q = ctx.query;
  ctx.heading("Incidents");
  const form = onSubmit(h("form", { class: "filters", "aria-label": "Filter incidents" },
    field("Status", "status", { options: [["", "Any status"], ...STATUSES.map((s) => [s, s])], value: q.get("status") || "" }),
    field("Kind", "kind", { options: [["", "Any kind"], ...KINDS.map((k) => [k, label(k)])], value: q.get("kind") || "" }),
    field("Customer (Stripe id)", "customer", { value: q.get("customer") || "", spellcheck: "false" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Filter"), link(["projects", pid, "incidents"], "Clear filters"))),
  async (fd) => {
    const f = (k) => String(fd.get(k) || "").trim();
    await navigate(path("projects", pid, "incidents") + qs({ status: f("status"), kind: f("kind"), customer: f("customer") }));
  });
  put(ctx.view, form);
  const r = await api("GET", v1("projects", pid, "incidents") + qs({
    status: q.get("status"), kind: q.get("kind"), customer: q.get("customer"), cursor: q.get("cursor"),
  }));
  put(ctx.view, 
    r.data.length
      ? table("Incidents", [
          ["Incident", (i) => link(["projects", pid, "incidents", i.id], i.id)],
          ["Kind", (i) => label(i.kind)],
          ["Customer", (i) => ledgerLink(pid, i.customer)],
          ["Status", (i) => i.status],
          ["Severity", (i) => h("span", { class: `sev sev-${i.severity === "high" ? "high" : "medium"}` }, show(i.severity))],
          ["Opened", (i) => i.opened_at],
          ["Updated", (i) => i.updated_at],
        ], r.data)
      : h("p", null, "No incidents match."),
    pager(ctx.segs, q, "cursor", r.next_cursor));
}

function access(a, field) {
  if (!a) return null;
  const v = a[field];
  return Array.isArray(v) ? (v.length ? v.join(", ") : "none") : v;
}

export async function incident(ctx) {
  const { pid, iid } = ctx.params;
  const i = await api("GET", v1("projects", pid, "incidents", iid));
  ctx.heading(`Incident ${show(i.id)}`);
  put(ctx.view, dl([
    ["Kind", label(i.kind)],
    ["Status", i.status],
    ["Severity", i.severity],
    ["Customer", ledgerLink(pid, i.customer)],
    ["Opened", i.opened_at],
    ["Updated", i.updated_at],
    ["Resolved", i.resolved_at],
    ["Reason", i.reason],
    ["Repair", i.repair_id ? link(["projects", pid, "repairs", i.repair_id], i.repair_id) : null],
  ]), h("p", null, link(["projects", pid, "repairs"], "Repairs for this incident", { incident: i.id })));

  const rows = ["plan", "premium", "trial", "entitlements"].map((f) => ({ f, e: access(i.expected, f), a: access(i.actual, f) }));
  put(ctx.view, section("Expected and actual access",
    !i.expected ? h("p", null, "Expected: Stripe has no such customer.") : null,
    !i.actual ? h("p", null, "Actual: the app has no row for this customer.") : null,
    table("What billing implies against what the app grants", [
      ["Access", (r) => r.f],
      ["Expected (Stripe)", (r) => r.e],
      ["Actual (app)", (r) => r.a],
      ["Differs", (r) => (JSON.stringify(r.e) !== JSON.stringify(r.a) ? "differs" : "")],
    ], rows)));

  const snaps = Array.isArray(i.snapshots) ? i.snapshots : [];
  put(ctx.view, section("Snapshots it was decided on",
    snaps.length
      ? snaps.map((s, n) => h("div", { class: "snapshot" },
          h("h3", null, `Snapshot ${n + 1}, taken ${show(s.taken_at)}`),
          h("div", { class: "cols" }, pre(s.stripe, "Stripe"), pre(s.app, "App row"))))
      : h("p", null, "No snapshot recorded for this incident.")));

  if (i.status === "open") {
    put(ctx.view, section("Ignore this incident",
      h("p", null, "An ignored incident stays ignored while the drift is unchanged; its pending repair is withdrawn."),
      onSubmit(h("form", { class: "stack" },
        field("Reason", "reason", { textarea: true, required: true, maxlength: 500 }),
        h("button", { type: "submit", class: "btn danger" }, "Ignore incident")), async (fd) => {
        await api("POST", v1("projects", pid, "incidents", iid, "ignore"), { reason: String(fd.get("reason") || "").trim() });
        await render();
        say("The incident is ignored.");
      })));
  }
}
