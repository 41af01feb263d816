// DOM helpers. Every piece of data reaches the page as a text node or a form value; the only
// URL this code ever writes is an internal route built by `path()` from encoded segments.

const SAFE_PROPS = new Set(["value", "checked", "disabled", "readOnly", "required", "selected", "hidden", "type"]);
const FORBIDDEN = /^(href|src|srcdoc|style|action|formaction|xlink:href)$/i;

// h("p", {class: "x"}, "text", child, [more]) — text children become text nodes.
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (FORBIDDEN.test(k)) throw new Error(`h(): attribute ${k} is not allowed`);
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (SAFE_PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, kids);
  return el;
}

export function append(el, kids) {
  for (const k of [kids].flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
  return el;
}

// Appends children, skipping null/false (Element.append would print "null").
export const put = (el, ...kids) => append(el, kids);

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let seq = 0;
export const uid = (p = "f") => `${p}-${++seq}`;

// An internal path from raw segments. A segment that a URL parser would treat as a directory
// step ("", ".", "..") cannot be addressed: it throws, and callers render plain text instead.
export function path(...segs) {
  return "/" + segs.map((s) => {
    const t = String(s);
    if (t === "" || t === "." || t === ".." || /^(\.|%2e){1,2}$/i.test(t)) throw new Error("unaddressable");
    return encodeURIComponent(t);
  }).join("/");
}

export function qs(query) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) if (v != null && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? "?" + s : "";
}

// A link to an internal route; `segs` are raw values (encoded here). Falls back to text.
export function link(segs, text, query, cls) {
  let href;
  try { href = path(...segs) + qs(query); } catch { return h("span", { class: cls }, text); }
  const a = h("a", { class: cls, "data-nav": true }, text);
  a.href = href;
  return a;
}

// How a value reads in a cell: "—" for none, yes/no for flags, JSON for structures.
export function show(v) {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "object") return JSON.stringify(v);
  const t = String(v);
  // RFC 3339 UTC times read as "2026-12-01 10:00:00.123 UTC" (nothing dropped).
  return t.replace(/^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d(?:\.\d+)?)(?:Z|\+00:00)$/, "$1 $2 UTC");
}

// A JSON value exactly (strings keep their quotes), for before/after comparisons.
export const js = (v) => (v === undefined ? "—" : JSON.stringify(v));

// A captioned, keyboard-scrollable block of text (JSON for structures).
export function pre(value, caption) {
  const text = typeof value === "string" ? value : JSON.stringify(value ?? null, null, 2);
  return h("figure", { class: "code" }, h("figcaption", null, caption), h("pre", { tabindex: 0 }, text));
}

// A definition list from [label, value|Node] pairs.
export function dl(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [
    h("dt", null, k),
    h("dd", null, v instanceof Node ? v : show(v)),
  ]));
}

// A table: cols = [[header, row => Node|value], …]; the first column heads its row.
export function table(caption, cols, rows) {
  return h("div", { class: "scroll" }, h("table", null,
    h("caption", null, caption),
    h("thead", null, h("tr", null, cols.map(([label]) => h("th", { scope: "col" }, label)))),
    h("tbody", null, rows.map((r) => h("tr", null, cols.map(([, cell], i) => {
      const v = cell(r);
      return h(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : null, v instanceof Node ? v : show(v));
    }))))));
}

// Any JSON object as nested definition lists (for views whose fields are not fixed).
export function tree(v) {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const keys = Object.keys(v);
    return keys.length ? dl(keys.map((k) => [k.replace(/_/g, " "), tree(v[k])])) : h("span", null, "—");
  }
  if (Array.isArray(v) && v.every((x) => x === null || typeof x !== "object")) return h("span", null, v.length ? v.map(show).join(", ") : "none");
  return h("span", null, show(v));
}

// "First page" / "Next page" links for a list whose position is `param` in the query.
export function pager(segs, query, param, next) {
  const base = Object.fromEntries(query);
  delete base[param];
  const items = [];
  if (query.get(param)) items.push(link(segs, "First page", base));
  if (next != null && next !== "") items.push(link(segs, "Next page", { ...base, [param]: next }));
  return items.length ? h("nav", { "aria-label": "Pages", class: "pager" }, items) : null;
}

export function section(title, ...kids) {
  const id = uid("s");
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), kids);
}

// A labelled form control. kind: "input" (type in opts), "select" (opts.options [[value, label]]),
// "textarea".
export function field(label, name, opts = {}) {
  const id = uid();
  let control;
  if (opts.options) {
    control = h("select", { id, name }, opts.options.map(([v, l]) => h("option", { value: v, selected: v === (opts.value ?? "") }, l)));
  } else if (opts.textarea) {
    control = h("textarea", { id, name, rows: 3, required: opts.required, maxlength: opts.maxlength });
  } else {
    control = h("input", {
      id, name, type: opts.type || "text", value: opts.value ?? "", required: opts.required,
      autocomplete: opts.autocomplete || "off", min: opts.min, max: opts.max, readOnly: opts.readOnly,
      spellcheck: opts.spellcheck, inputmode: opts.inputmode, maxlength: opts.maxlength,
    });
  }
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

export function button(text, onclick, cls = "btn") {
  return h("button", { type: "button", class: cls, onclick }, text);
}

// A modal confirmation; resolves true when confirmed.
export function confirmDialog(message, confirmLabel, extra) {
  return new Promise((resolve) => {
    const id = uid("d");
    const form = h("form", { method: "dialog" }, extra,
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "btn", value: "ok" }, confirmLabel),
        h("button", { type: "submit", class: "btn secondary", value: "cancel", formnovalidate: true }, "Cancel")));
    const d = h("dialog", { "aria-labelledby": id }, h("p", { id }, message), form);
    d.addEventListener("close", () => { d.remove(); resolve(d.returnValue === "ok"); });
    document.body.append(d);
    d.showModal();
  });
}
