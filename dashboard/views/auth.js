// Sign-in (`/`): with an API key, or by an e-mailed one-time link; and the link's landing page
// (`/signin/email#token=…`), which takes the token out of the address bar before anything else.

import { h, field, link, uid, put } from "../dom.js";
import { api, currentSession, setSession, safeNext } from "../api.js";
import { navigate } from "../router.js";
import { act, onSubmit, say, showError } from "../ui.js";

// The token of an e-mail link, taken from location.hash as early as possible.
let captured = null;
export function captureToken() {
  if (!/^\/signin\/email\/?$/.test(location.pathname) || !location.hash) return;
  const t = new URLSearchParams(location.hash.slice(1)).get("token");
  if (t) captured = t;
  history.replaceState(null, "", location.pathname + location.search);
}

// A 401 of the sign-in calls themselves is an answer to show, not a lost session.
const unless401 = (e) => {
  if (e && e.status === 401) { showError(e); return null; }
  throw e;
};

export async function signIn(ctx) {
  const next = safeNext(ctx.query.get("next"));
  if (currentSession()) return navigate(next || "/projects", { replace: true });
  ctx.heading("Sign in to ParityRail");
  const go = (r) => { setSession(r.session); return navigate(next || "/projects", { replace: true }); };

  const k = uid("h");
  const keyField = field("API key", "api_key", { type: "password", required: true, spellcheck: "false" });
  const keyForm = h("form", { class: "card", "aria-labelledby": k, method: "post", novalidate: true },
    h("h2", { id: k }, "With an API key"),
    keyField,
    h("p", { class: "small" }, "The key is sent once to open a session; this page does not keep it."),
    h("button", { type: "submit", class: "btn" }, "Sign in"));
  keyForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = keyField.querySelector("input");
    const key = input.value.trim();
    input.value = "";
    if (!key) { say("Enter an API key."); input.focus(); return; }
    act(async () => {
      const r = await api("POST", "/v1/sessions", { api_key: key }).catch(unless401);
      if (r) await go(r);
    }, keyForm.querySelector("button[type=submit]"));
  });

  const m = uid("h");
  const env = uid("e");
  const radio = (value, label, checked) => {
    const id = uid();
    return h("div", { class: "radio" }, h("input", { type: "radio", id, name: "environment", value, checked }), h("label", { for: id }, label));
  };
  const mailForm = onSubmit(h("form", { class: "card", "aria-labelledby": m },
    h("h2", { id: m }, "With an e-mailed link"),
    field("E-mail address", "email", { type: "email", required: true, autocomplete: "email" }),
    h("fieldset", null, h("legend", { id: env }, "Environment"), radio("live", "Live", true), radio("test", "Test", false)),
    h("p", { class: "small" }, "We e-mail a one-time link that works for 10 minutes. An e-mail session can read; a change asks for a second confirmation by e-mail."),
    h("button", { type: "submit", class: "btn" }, "E-mail me a link")), async (fd) => {
    await api("POST", "/v1/sessions/email", { email: String(fd.get("email") || "").trim(), environment: fd.get("environment") === "test" ? "test" : "live" });
    say("If that address belongs to a member, a sign-in link is on its way. Open it in this browser.");
  });
  put(ctx.view, h("div", { class: "cols" }, keyForm, mailForm));
}

export async function emailLanding(ctx) {
  captureToken();
  const token = captured;
  captured = null;
  ctx.heading("E-mail sign-in");
  const again = h("p", null, link([], "Back to sign-in"));
  if (!token) {
    put(ctx.view, h("p", null, "This link is incomplete: it carries no sign-in token. Ask for a new link."), again);
    return;
  }
  const checking = h("p", null, "Checking the link…");
  put(ctx.view, checking);
  const r = await api("POST", "/v1/sessions/email/confirm", { token }).catch(unless401);
  checking.remove();
  if (!r) {
    put(ctx.view, h("p", null, "The link was used already, has expired, or is not valid. Ask for a new one."), again);
    return;
  }
  setSession(r.session);
  await navigate(safeNext(ctx.query.get("next")) || "/projects", { replace: true });
  say(r.session && r.session.step_up_until
    ? `Confirmed: changes are allowed until ${r.session.step_up_until}. You may go back to the page that asked and retry.`
    : "You are signed in.");
}
