// Small DOM helpers shared by the lobby and the ops page.

// h builds an element: h("div.cls#id", {attr: v, onclick: f}, child, …).
export function h(spec, attrs, ...children) {
  const [, tag, rest] = spec.match(/^([a-z0-9]+)(.*)$/);
  const el = document.createElement(tag);
  // No attributes given: the second argument is a child.
  if (attrs !== null && attrs !== undefined && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : v);
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (sel) => document.querySelector(sel);

export function replace(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

// toast shows a short message at the bottom of the page.
export function toast(msg, kind = "info") {
  const box = $("#toasts");
  const t = h("div.toast." + kind, { role: kind === "error" ? "alert" : "status" }, msg);
  box.append(t);
  setTimeout(() => t.remove(), kind === "error" ? 8000 : 4000);
  window.gamehall.toasts = (window.gamehall.toasts || []).concat(msg).slice(-20);
}

// heat maps an occupancy share (0..1) to a colour from cool to hot.
export function heat(share) {
  const x = Math.max(0, Math.min(1, share));
  const hue = 140 - 140 * x; // green → yellow → red
  return `hsl(${hue} 65% ${x === 0 ? 94 : 82 - 30 * x}%)`;
}
