// Client-side routes: every page is a path (a deep link); navigation is pushState. A view is an
// async function of a context; its timers stop when the page changes. Errors end in one place:
// 401 (session gone) → sign-in with ?next=, 404 → the one "Not found" view, else the error region.

import { h, clear, link, put } from "./dom.js";
import { ApiError, currentSession, setSession, sessionGone, safeNext } from "./api.js";
import { clearRegions, showError, renderNav, say } from "./ui.js";

const routes = [];
let gen = 0;
let timers = [];
let rendered = null;
let first = true;

export function route(pattern, view, opts = {}) {
  routes.push({ segs: pattern === "/" ? [] : pattern.slice(1).split("/"), view, ...opts });
}

function match(pathname) {
  let raw = pathname.slice(1).split("/");
  if (raw.length && raw[raw.length - 1] === "") raw.pop();
  let segs;
  try { segs = raw.map(decodeURIComponent); } catch { return null; }
  for (const r of routes) {
    if (r.segs.length !== segs.length) continue;
    const params = {};
    const ok = r.segs.every((p, i) => {
      if (!p.startsWith(":")) return p === segs[i];
      params[p.slice(1)] = segs[i];
      return segs[i] !== "";
    });
    if (ok) return { r, params, segs };
  }
  return null;
}

function stop() {
  gen++;
  for (const t of timers) clearTimeout(t);
  timers = [];
}

function heading(view, text) {
  document.title = `${text} — ParityRail`;
  const h1 = h("h1", { tabindex: -1 }, text);
  view.prepend(h1);
  if (!first) h1.focus();
  return h1;
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  return render();
}

export async function render() {
  stop();
  const my = gen;
  rendered = location.pathname + location.search;
  clearRegions();
  // Each page renders into its own element: a view still loading when the page changes
  // writes into a detached element, never into the next page.
  const view = h("div");
  put(clear(document.getElementById("view")), view);
  const m = match(location.pathname);
  renderNav(m ? m.params : {}, location.pathname);
  if (!m) { notFound(); first = false; return; }
  if (!m.r.public && !currentSession()) { toSignIn(); return; }
  const ctx = {
    params: m.params,
    segs: m.segs,
    query: new URLSearchParams(location.search),
    view,
    alive: () => my === gen,
    heading: (text) => (my === gen ? heading(view, text) : put(view, h("h1", null, text))),
  };
  const p = m.r.view(ctx);
  first = false;
  try { await p; } catch (e) { if (my === gen) handleError(e, view); }
}

// Runs fn every `ms` while the current page stays; fn returns true to keep going.
export function every(fn, ms) {
  const my = gen;
  const tick = async () => {
    if (my !== gen) return;
    let again = false;
    try { again = await fn(); } catch (e) { if (my === gen) handleError(e); return; }
    if (again && my === gen) timers.push(setTimeout(tick, ms));
  };
  timers.push(setTimeout(tick, ms));
}

export function handleError(e, view) {
  if (sessionGone(e)) return toSignIn();
  if (e instanceof ApiError && e.status === 404) return notFound();
  const err = e instanceof ApiError ? e : new ApiError(0, "client_error", (e && e.message) || String(e));
  const v = view || document.getElementById("view");
  if (!v.querySelector("h1")) heading(v, "Something went wrong");
  showError(err);
}

export function notFound() {
  stop();
  clearRegions();
  const view = clear(document.getElementById("view"));
  heading(view, "Not found");
  put(view, 
    h("p", null, "There is nothing at this address, or it is not yours to see."),
    h("p", null, currentSession() ? link(["projects"], "Go to your projects") : link([], "Sign in")),
  );
}

export async function toSignIn() {
  const had = currentSession() != null;
  setSession(null);
  const here = location.pathname === "/" || location.pathname === "/signin/email" ? null : safeNext(location.pathname + location.search);
  await navigate("/" + (here ? "?next=" + encodeURIComponent(here) : ""), { replace: true });
  // A session that was there and is gone (expired, signed out elsewhere, its key revoked): say so.
  if (had) say("Your session has ended: it expired, was signed out elsewhere, or its key was revoked. Sign in again.");
}

export function start() {
  document.addEventListener("click", (ev) => {
    const a = ev.target instanceof Element ? ev.target.closest("a[data-nav]") : null;
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    navigate(a.getAttribute("href"));
  });
  window.addEventListener("popstate", () => {
    if (location.pathname + location.search !== rendered) render();
  });
  return render();
}
