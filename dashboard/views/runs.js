// Full reconcile runs: the list (refreshed while one is running), one run (refreshed every 2 s
// while `running`), and starting one.

import { h, clear, dl, table, section, link, pager, path, qs, show, button, put } from "../dom.js";
import { api, v1 } from "../api.js";
import { navigate, every } from "../router.js";
import { act, say } from "../ui.js";

const REFRESH_MS = 2000;
const errCount = (r) => (Array.isArray(r.errors) ? r.errors.length : 0);

export async function runs(ctx) {
  const { pid } = ctx.params;
  ctx.heading("Runs");
  const start = button("Start a full run", () => act(async () => {
    const run = await api("POST", v1("projects", pid, "runs"), {});
    await navigate(path("projects", pid, "runs", run.id));
    say("The run has started.");
  }, start));
  const box = h("div");
  put(ctx.view, h("p", null, "A full run reads every subscription and customer from Stripe and every mapped app row."), h("div", { class: "actions" }, start), box);
  const url = v1("projects", pid, "runs") + qs({ cursor: ctx.query.get("cursor") });
  const load = async () => {
    const r = await api("GET", url);
    put(clear(box), 
      r.data.length
        ? table("Runs, newest first", [
            ["Run", (x) => link(["projects", pid, "runs", x.id], x.id)],
            ["Status", (x) => x.status],
            ["Trigger", (x) => x.trigger],
            ["Customers checked", (x) => x.customers_checked],
            ["Incidents opened", (x) => x.incidents_opened],
            ["Incidents resolved", (x) => x.incidents_resolved],
            ["Errors", (x) => errCount(x)],
            ["Started", (x) => x.started_at],
            ["Finished", (x) => x.finished_at],
          ], r.data)
        : h("p", null, "No runs yet."),
      pager(ctx.segs, ctx.query, "cursor", r.next_cursor));
    return r.data.some((x) => x.status === "running");
  };
  if (await load()) every(load, REFRESH_MS);
}

export async function run(ctx) {
  const { pid, rid } = ctx.params;
  const url = v1("projects", pid, "runs", rid);
  let r = await api("GET", url);
  ctx.heading(`Run ${show(r.id)}`);
  const box = h("div");
  const note = h("p", { class: "small" });
  put(ctx.view, note, box);
  const draw = () => {
    note.textContent = r.status === "running" ? "Running: this page refreshes every 2 seconds." : "";
    put(clear(box), r.status === "running" ? h("progress", { "aria-label": "Run in progress" }) : null,
      dl([
        ["Status", h("span", { class: `run-${r.status === "running" ? "running" : "done"}` }, show(r.status))],
        ["Trigger", r.trigger],
        ["Customers checked", r.customers_checked],
        ["Incidents opened", r.incidents_opened],
        ["Incidents resolved", r.incidents_resolved],
        ["Stripe requests", r.stripe_requests],
        ["Database round trips", r.db_round_trips],
        ["Started", r.started_at],
        ["Finished", r.finished_at],
      ]),
      section("Errors", errCount(r) ? h("ul", null, r.errors.map((e) => h("li", null, show(e)))) : h("p", null, "None.")));
  };
  draw();
  if (r.status !== "running") return;
  every(async () => {
    r = await api("GET", url);
    draw();
    if (r.status === "running") return true;
    say(`The run ${show(r.status)}.`);
    return false;
  }, REFRESH_MS);
}
