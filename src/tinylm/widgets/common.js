// Helpers shared by the tinylm widgets. A widget's module imports the ones it uses:
//
//     import { esc, html } from "./common.js";
//
// In the static book a widget's module is evaluated from a string, with no file beside it to
// import from, so tinylm/widgets/_assets.py puts this file's code in place of that line. Keep
// it self-contained: no imports, one `export function` or `export const` per name, and nothing
// that runs on load besides defining things.

// ---- text and numbers ------------------------------------------------------------------------

// Text for innerHTML: tokens such as </s> and <unk> are text, not tags.
export function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

// A fraction as a percentage with one decimal: bar widths, shares of a variance.
export function pct(x) {
  return (100 * x).toFixed(1) + "%";
}

// A probability: three decimals, or one significant digit below 0.01 ("4.2e-5" stays readable).
export function fmtProb(p) {
  return p >= 0.01 ? p.toFixed(3) : p.toExponential(1);
}

// A size in bytes: one decimal in GiB from 1 GiB up, whole MiB below.
export function fmtBytes(bytes) {
  return bytes >= 2 ** 30 ? (bytes / 2 ** 30).toFixed(1) + " GiB"
    : (bytes / 2 ** 20).toFixed(0) + " MiB";
}

// A log-prob or score with a real minus sign; null (how JSON carries -Infinity) is "−∞".
export function fmtScore(x) {
  return x === null ? "\u2212\u221e" : x.toFixed(3).replace("-", "\u2212");
}

// The bytes of a base64 string: how the widgets embed big arrays (int8 vectors, uint8 weights).
export function bytesOf(b64) {
  const bin = atob(b64), out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// ---- colours and theme -----------------------------------------------------------------------

// The value of a CSS custom property on `el` (e.g. "--tinylm-accent"), read when it is needed so
// that a canvas redrawn after the page switches between light and dark picks up the new colours.
// An element not yet in the page has no computed style: then `fallback`.
export function cssVar(el, name, fallback = "") {
  return getComputedStyle(el).getPropertyValue(name).trim() || fallback;
}

// A colour scale from transparent to `color` ("#4c78a8", "#48c" or "rgb(76, 120, 168)"):
// scale(t) is that colour with opacity t, as canvas fillStyle text. Unreadable colours are black.
export function alphaScale(color) {
  let rgb = [0, 0, 0];
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color);
  const fn = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/i.exec(color);
  if (hex) {
    const h = hex[1].length === 3 ? hex[1].replace(/./g, "$&$&") : hex[1];
    rgb = [0, 2, 4].map((k) => parseInt(h.slice(k, k + 2), 16));
  } else if (fn) {
    rgb = fn.slice(1, 4).map(Number);
  }
  const prefix = `rgba(${rgb.join(",")},`;
  return (t) => `${prefix}${t})`;
}

// Call `redraw` whenever `target` changes size (also once it is first laid out) and whenever
// the page switches theme: pydata-sphinx-theme sets data-theme on <html>, JupyterLab sets
// data-jp-theme-light on <body>. Returns the function that stops watching; a widget's render
// returns it, so anywidget calls it when the view goes away.
export function redrawOn(target, redraw) {
  const observers = [];
  if (window.ResizeObserver) {
    const resize = new ResizeObserver(() => redraw());
    resize.observe(target);
    observers.push(resize);
  }
  const theme = new MutationObserver(() => redraw());
  theme.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
  if (document.body) {
    theme.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light"] });
  }
  observers.push(theme);
  return () => { for (const o of observers) o.disconnect(); };
}

// ---- elements --------------------------------------------------------------------------------

// A new HTML element with a class and text (both optional), added to `parent` if given.
export function html(tag, cls, text, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

// A new SVG element with its attributes, added to `parent` if given.
export function svg(tag, attrs, parent) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// The suggestions of an <input list=...>: one <option> per value.
export function fillDatalist(list, values) {
  for (const value of values) html("option", "", undefined, list).value = value;
}

// A small label that follows the pointer inside `parent` (which must be position: relative):
// show(text, x, y) puts it just right of and above (x, y), in px from parent's corner, and keeps
// it inside parent; hide() hides it. `cls` is added to its class, "tinylm-tooltip".
export function tooltip(parent, cls) {
  const el = html("div", cls ? `tinylm-tooltip ${cls}` : "tinylm-tooltip", undefined, parent);
  el.hidden = true;
  return {
    el,
    show(text, x, y) {
      el.textContent = text;
      el.hidden = false;
      el.style.left = `${Math.min(x + 12, parent.clientWidth - el.offsetWidth - 2)}px`;
      el.style.top = `${Math.max(0, y - 26)}px`;
    },
    hide() { el.hidden = true; },
  };
}
