// Small DOM helpers. Every text goes in through textContent, never innerHTML, so a business
// key, an error message or an event field from the API can never become markup.

/** Builds an element: h("a", {href: "#/runs", class: "x"}, "text", child, …). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/** A status or event badge; `kind` is also its CSS class. */
export function badge(kind, text = kind.replaceAll("_", " ")) {
  return h("span", { class: `badge ${kind}` }, text);
}

/** "14:03:07" today, "2024-12-01 14:03" on another day. */
export function clock(ms) {
  if (typeof ms !== "number") return "—";
  const at = new Date(ms);
  const today = new Date().toDateString() === at.toDateString();
  const time = at.toLocaleTimeString([], { hour12: false });
  if (today) return time;
  return `${at.toISOString().slice(0, 10)} ${time.slice(0, 5)}`;
}

/** "850 ms", "1.24 s", "3 min 4 s". */
export function duration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** "3 s ago" for a time in the past. */
export function ago(ms) {
  if (typeof ms !== "number") return "—";
  return `${duration(Math.max(0, Date.now() - ms))} ago`;
}

/** A table whose cells carry their column's name, for the phone layout's labels. */
export function table(columns, rows) {
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null }, c.title)));
  const body = rows.map((row) =>
    h("tr", row.attrs || {}, columns.map((c, i) =>
      h("td", { "data-label": c.title, class: c.num ? "num" : null }, row.cells[i]))));
  return h("div", { class: "table" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
}

/** A message box for an API error (its code and message, and the field it names). */
export function errorBox(error) {
  const field = error.field ? ` (field: ${error.field})` : "";
  const code = error.code ? `${error.code}: ` : "";
  return h("p", { class: "form-error", role: "alert" }, `${code}${error.message}${field}`);
}

/** A short random hex string, for fresh business keys and client ids. */
export function randomHex(bytes = 4) {
  const values = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (b) => b.toString(16).padStart(2, "0")).join("");
}
