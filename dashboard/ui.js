// The page's fixed regions (who is signed in, the navigation, the status and error regions)
// and `act`, which runs a change and handles what may come back (step-up, errors).

import { h, clear, link, button, show, put } from "./dom.js";
import { api, v1, ApiError, currentSession, setSession, onSession } from "./api.js";
import { handleError, every, navigate } from "./router.js";

const $ = (id) => document.getElementById(id);

export function clearRegions() {
  clear($("status"));
  clear($("errors"));
  clear($("stepup"));
}

// A polite status message (the region is aria-live).
export function say(msg) {
  const s = clear($("status"));
  put(s, h("p", null, msg));
}

export function showError(e) {
  put(clear($("errors")), h("div", { class: "error", role: "alert" },
    h("p", { class: "error-title" }, "Error ", h("code", null, e.code || "error")),
    h("p", null, e.message || "Something went wrong."),
    e.requestId ? h("p", { class: "small" }, "Request id: ", h("code", null, e.requestId)) : null));
}

// Runs a change; `btn` is disabled meanwhile. Every error is shown; none escapes.
export async function act(fn, btn) {
  if (btn) btn.disabled = true;
  clear($("errors"));
  try {
    await fn();
  } catch (e) {
    if (e instanceof ApiError && e.status === 403 && e.code === "step_up_required") offerStepUp(() => act(fn, btn), e);
    else handleError(e);
  } finally {
    if (btn && btn.isConnected) btn.disabled = false;
  }
}

// Submits a form through `act` with its values.
export function onSubmit(form, fn) {
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(() => fn(new FormData(form)), form.querySelector("button[type=submit]"));
  });
  return form;
}

// 403 step_up_required: offer the confirmation e-mail, wait for it (GET /v1/session every 3 s
// until `step_up_until` is set, for at most the link's 10 minutes), then let the user retry.
function offerStepUp(retry, err) {
  const box = clear($("stepup"));
  const panel = h("div", { class: "panel" },
    h("h2", null, "Confirmation needed"),
    h("p", null, "This change needs a second confirmation: we e-mail you a link. Open it in this browser, then retry the change here."));
  const send = button("Send me a confirmation e-mail", () => act(async () => {
    await api("POST", "/v1/session/step-up", {});
    send.remove();
    put(panel, h("p", null, "Sent. Open the link in the e-mail (in this browser); this page notices within a few seconds."));
    say("Confirmation e-mail sent.");
    // The link works 10 minutes; waiting longer would only keep an idle session alive.
    const giveUp = Date.now() + 10 * 60 * 1000;
    every(async () => {
      if (Date.now() > giveUp) {
        put(clear(panel), h("p", null, "The link has expired. Retry the change to ask for a new one."));
        return false;
      }
      const r = await api("GET", "/v1/session");
      setSession(r.session);
      if (!r.session || !r.session.step_up_until) return true;
      put(clear(panel), h("h2", null, "Confirmed"), h("p", null, "You may retry the change now."),
        button("Retry", () => { clear(box); retry(); }));
      say("Confirmation received. You may retry the change now.");
      return false;
    }, 3000);
  }, send));
  put(panel, send);
  put(box, panel);
  // The panel sits above the page: take the keyboard (and the view) there.
  send.focus();
}

// Who is signed in, and the sign-out button.
function renderWho(s) {
  const who = clear($("who"));
  if (!s) return;
  const org = s.org && s.org.name;
  const parts = [s.role, `${s.capability} access`, s.environment].filter(Boolean).map(show).join(" · ");
  put(who, 
    h("p", null, "Signed in as ", h("strong", null, show(s.email)), ` (${parts})`, org ? [" in ", h("strong", null, org)] : null,
      s.step_up_until ? h("span", { class: "badge" }, `confirmed until ${show(s.step_up_until)}`) : null),
    button("Sign out", (ev) => act(async () => {
      await api("DELETE", "/v1/session", {}).catch((e) => { if (e.status !== 401) throw e; });
      setSession(null);
      await navigate("/");
      say("You are signed out.");
    }, ev.currentTarget), "btn secondary"),
  );
}
onSession(renderWho);

const projectNames = new Map();
export const rememberProject = (p) => p && p.id && projectNames.set(p.id, p.name);

export function renderNav(params, pathname) {
  const nav = clear($("nav"));
  nav.hidden = !currentSession();
  if (nav.hidden) return;
  const item = (segs, text) => {
    const a = link(segs, text);
    if (a.getAttribute && a.getAttribute("href") === pathname) a.setAttribute("aria-current", "page");
    return h("li", null, a);
  };
  put(nav, h("ul", null, item(["projects"], "Projects"), item(["keys"], "API keys")));
  const pid = params.pid;
  if (!pid) return;
  const name = h("span", null, projectNames.get(pid) || pid);
  put(nav, h("p", { class: "navlabel" }, "Project: ", name), h("ul", null,
    ["incidents", "repairs", "runs", "customers", "integrations", "audit", "webhooks"].map((p) =>
      item(["projects", pid, p], { customers: "Ledger", webhooks: "Webhook health" }[p] || p[0].toUpperCase() + p.slice(1)))));
  if (!projectNames.has(pid)) {
    Promise.resolve().then(() => api("GET", v1("projects", pid)))
      .then((p) => { rememberProject(p); if (p && p.name) name.textContent = p.name; })
      .catch(() => {});
  }
}
