// The JSON API client. The session (and its CSRF token) lives only in this module's memory:
// nothing of it is written to browser storage or to cookies; after a reload it
// is read again from GET /v1/session.

let session = null;
const listeners = new Set();

export const currentSession = () => session;
export function setSession(s) {
  session = s || null;
  for (const f of listeners) f(session);
}
export const onSession = (f) => listeners.add(f);

// An e-mail session with read capability and no step-up running.
function needsStepUp() {
  if (!session || session.via !== "email" || session.capability !== "read") return false;
  return !(session.step_up_until && Date.parse(session.step_up_until) > Date.now());
}

export class ApiError extends Error {
  constructor(status, code, message, requestId, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId || null;
    this.body = body || null;
  }
}

// The 401 codes that mean "the session is gone: sign in again".
const GONE = new Set(["session_expired", "missing_api_key", "invalid_api_key"]);
export const sessionGone = (e) => e instanceof ApiError && e.status === 401 && GONE.has(e.code);

// api("GET", "/v1/projects") → parsed JSON (null for 204). Errors throw ApiError with the
// server's {code, message, request_id}. Every change carries the CSRF token and a JSON body.
export async function api(method, url, body) {
  // An e-mail session reads only until a step-up: a change is answered here as the API would
  // answer it (403 step_up_required), without a request the browser would log as failed.
  if (method !== "GET" && !url.startsWith("/v1/session") && needsStepUp()) {
    throw new ApiError(403, "step_up_required", "This change needs a confirmation by e-mail first.");
  }
  const init = { method, credentials: "same-origin", headers: { accept: "application/json" }, cache: "no-store" };
  if (method !== "GET" && method !== "HEAD") {
    init.headers["content-type"] = "application/json";
    init.headers["x-csrf-token"] = session ? session.csrf_token : "";
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch {
    throw new ApiError(0, "network_error", "The server could not be reached. Check the connection and try again.");
  }
  let data = null;
  if (res.status !== 204) {
    const text = await res.text().catch(() => "");
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  }
  if (res.ok) return data;
  const e = (data && typeof data.error === "object" && data.error) || {};
  throw new ApiError(
    res.status,
    typeof e.code === "string" ? e.code : `http_${res.status}`,
    typeof e.message === "string" ? e.message : `The request failed (HTTP ${res.status}).`,
    typeof e.request_id === "string" ? e.request_id : res.headers.get("x-request-id"),
    data,
  );
}

// A `next` target: only a same-site path with exactly one leading slash.
export function safeNext(next) {
  if (typeof next !== "string" || next.length > 2000) return null;
  if (!next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return null;
  if (/[\u0000-\u001f\u007f\\]/.test(next)) return null;
  try {
    const u = new URL(next, location.origin);
    if (u.origin !== location.origin) return null;
    return u.pathname + u.search;
  } catch {
    return null;
  }
}

// "/v1/projects/{pid}/…" from raw segments, each encoded; a segment a URL parser would resolve
// ("", ".", "..") is a 404 without asking the server.
export function v1(...segs) {
  for (const s of segs) {
    const t = String(s);
    if (t === "" || t === "." || t === ".." || /^(\.|%2e){1,2}$/i.test(t)) throw new ApiError(404, "not_found", "Not found");
  }
  return "/v1/" + segs.map((s) => encodeURIComponent(String(s))).join("/");
}
