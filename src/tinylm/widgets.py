"""Widgets for the book. Each one carries its data and its JavaScript, so it keeps working in
the static HTML book, where no Python kernel answers: everything interactive happens in the
browser. In JupyterLab the same widgets render through anywidget.
"""

from __future__ import annotations

import base64
import math
import operator
from collections.abc import Sequence

import anywidget
import numpy as np
import traitlets

from tinylm.ngram import BOS, UNK, NGramLM

# ---------------------------------------------------------------------------------------------
# Next-token explorer: MLE vs add-k vs Kneser-Ney for a typed context
# ---------------------------------------------------------------------------------------------

_EXPLORER_ESM = r"""
function fmt(p) { return p >= 0.01 ? p.toFixed(3) : p.toExponential(1); }
function esc(s) {  // tokens such as </s> and <unk> are text, not HTML
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function render({ model, el }) {
  const data = model.get("data");
  const root = document.createElement("div");
  root.className = "tinylm-widget tinylm-ngram-explorer";
  root.innerHTML = `
    <div class="tne-controls">
      <label>context <input class="tne-context" type="text" list="tne-list-${data.uid}"
             spellcheck="false" autocomplete="off"></label>
      <datalist id="tne-list-${data.uid}"></datalist>
      <label>add-k: k = <span class="tne-k-value"></span>
        <input class="tne-k" type="range" min="-3" max="1" step="0.05"></label>
    </div>
    <div class="tne-status"></div>
    <div class="tne-charts"></div>`;
  el.appendChild(root);

  const input = root.querySelector(".tne-context");
  const slider = root.querySelector(".tne-k");
  const kValue = root.querySelector(".tne-k-value");
  const status = root.querySelector(".tne-status");
  const charts = root.querySelector(".tne-charts");
  const list = root.querySelector("datalist");
  for (const key of Object.keys(data.contexts).slice(0, 200)) {
    const option = document.createElement("option");
    option.value = key;
    list.appendChild(option);
  }
  input.value = data.initial;
  slider.value = Math.log10(data.k);

  // The longest known suffix of the typed context: what Kneser-Ney falls back to.
  function lookup(words) {
    for (let start = 0; start <= words.length; start++) {
      const key = words.slice(start).join(" ");
      if (key in data.contexts) return [key, data.contexts[key]];
    }
    return [null, null];
  }

  function bars(title, rows, note) {
    const max = Math.max(...rows.map(r => r[1]), 1e-12);
    const body = rows.map(([w, p]) => `
      <div class="tne-row" data-word="${esc(w)}">
        <span class="tne-word">${esc(w)}</span>
        <span class="tne-bar-wrap">
          <span class="tinylm-bar" style="width:${(100 * p / max).toFixed(1)}%"></span>
        </span>
        <span class="tne-p">${fmt(p)}</span>
      </div>`).join("");
    return `<div class="tne-chart"><div class="tne-title">${title}</div>
      <div class="tne-note">${note || ""}</div>${body}</div>`;
  }

  function update() {
    const k = Math.pow(10, parseFloat(slider.value));
    kValue.textContent = k >= 0.1 ? k.toFixed(2) : k.toFixed(3);
    const words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean)
      .slice(-(data.order - 1));
    const full = words.join(" ");
    const exact = data.contexts[full];
    const [knKey, kn] = lookup(words);
    const V = data.vocab_size;
    let mleRows = [], addkRows = [], mleNote = "", addkNote = "";
    if (exact && exact.total > 0) {
      mleRows = exact.words.map((w, i) => [w, exact.counts[i] / exact.total]);
      addkRows = exact.words.map((w, i) => [w, (exact.counts[i] + k) / (exact.total + k * V)]);
      addkNote = `every unseen word: ${fmt(k / (exact.total + k * V))}`;
    } else {
      mleNote = "context never seen: the MLE is undefined (0/0)";
      addkRows = (kn ? kn.words : []).map(w => [w, 1 / V]);
      addkNote = `unseen context: add-k is uniform, 1/|V| = ${fmt(1 / V)}`;
    }
    const knRows = kn ? kn.words.map((w, i) => [w, kn.kn[i]]) : [];
    const knNote = (knKey === full ? "" : `backed off to "${esc(knKey)}"; `)
      + `${esc(data.unk)}: ${fmt(kn.kn_unk)}`;
    status.textContent = exact
      ? `"${full || "(empty context)"}" seen ${exact.total} times; |V| = ${V}`
      : `"${full}" never seen in training; |V| = ${V}`;
    charts.innerHTML = bars("MLE", mleRows, mleNote)
      + bars(`add-k (k = ${kValue.textContent})`, addkRows, addkNote)
      + bars(`Kneser-Ney (d = ${data.discount})`, knRows, knNote);
  }
  input.addEventListener("input", update);
  slider.addEventListener("input", update);
  update();
}
export default { render };
"""

_EXPLORER_CSS = """
.tinylm-ngram-explorer { font: 13px/1.4 system-ui, sans-serif; border: 1px solid #ddd;
  border-radius: 6px; padding: 10px; max-width: 900px; }
.tinylm-ngram-explorer .tne-controls { display: flex; gap: 24px; flex-wrap: wrap; }
.tinylm-ngram-explorer .tne-context { width: 220px; font: inherit; padding: 2px 4px; }
.tinylm-ngram-explorer .tne-status { color: #555; margin: 6px 0; }
.tinylm-ngram-explorer .tne-charts { display: flex; gap: 16px; flex-wrap: wrap; }
.tinylm-ngram-explorer .tne-chart { flex: 1 1 250px; min-width: 230px; }
.tinylm-ngram-explorer .tne-title { font-weight: 600; }
.tinylm-ngram-explorer .tne-note { color: #777; font-size: 12px; min-height: 1.4em; }
.tinylm-ngram-explorer .tne-row { display: flex; align-items: center; gap: 6px; }
.tinylm-ngram-explorer .tne-word { width: 80px; text-align: right; overflow: hidden;
  white-space: nowrap; text-overflow: ellipsis; }
.tinylm-ngram-explorer .tne-bar-wrap { flex: 1; background: #f3f3f3; height: 12px; }
.tinylm-ngram-explorer .tinylm-bar { display: block; height: 12px; background: #4c78a8; }
.tinylm-ngram-explorer .tne-p { width: 58px; font-variant-numeric: tabular-nums; }
"""


class NextTokenExplorer(anywidget.AnyWidget):
    """Type a context, see P(next token | context) under MLE, add-k and Kneser-Ney.

    The distributions of the ``max_contexts`` most frequent contexts (and all their shorter
    suffixes, which Kneser-Ney backs off to) are computed here in Python and embedded; the
    add-k bars are recomputed in the browser as the k slider moves, from the raw counts.
    """

    _esm = _EXPLORER_ESM
    _css = _EXPLORER_CSS
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, sentences: Sequence[Sequence[str]], order: int = 3, k: float = 1.0,
                 discount: float = 0.75, top: int = 10, max_contexts: int = 1000,
                 initial: str = "of the"):
        if order < 2:
            raise ValueError(f"the explorer needs order >= 2 (a context to type), got {order}")
        counts_lm = NGramLM(order, "mle").fit(sentences)
        kn_lm = NGramLM(order, "kneser_ney", discount=discount).fit(sentences)
        contexts = _frequent_contexts(sentences, order, max_contexts)
        table = {}
        for ctx in contexts:
            table[" ".join(ctx)] = _context_entry(counts_lm, kn_lm, ctx, top)
        super().__init__(data={
            "uid": f"{id(self):x}", "order": order, "k": k, "discount": discount,
            "vocab_size": len(counts_lm.vocab), "unk": UNK, "initial": initial,
            "contexts": table,
        })


def _frequent_contexts(sentences, order: int, max_contexts: int) -> list[tuple[str, ...]]:
    """The most frequent full contexts, then every suffix of them (shortest last)."""
    from collections import Counter

    full = Counter()
    for sent in sentences:
        padded = [BOS] * (order - 1) + list(sent)
        for i in range(order - 1, len(padded)):
            ctx = tuple(padded[i - order + 1 : i])
            if BOS not in ctx:
                full[ctx] += 1
    chosen = [ctx for ctx, _ in full.most_common(max_contexts)]
    suffixes = {ctx[j:] for ctx in chosen for j in range(1, len(ctx) + 1)}
    return chosen + sorted(suffixes - set(chosen), key=lambda c: (-len(c), c))


def _context_entry(counts_lm: NGramLM, kn_lm: NGramLM, ctx, top: int) -> dict:
    """The top words after ``ctx`` with their raw counts and Kneser-Ney probabilities."""
    counts = counts_lm.context_counts(ctx)
    kn = kn_lm.distribution(ctx)
    hidden = [counts_lm.index[t] for t in (BOS, UNK)]
    order = np.argsort(-kn, kind="stable")
    best = [int(i) for i in order if i not in hidden][:top]
    return {
        "words": [counts_lm.vocab[i] for i in best],
        "counts": [int(counts[i]) for i in best],
        "total": int(counts.sum()),
        "kn": [_round(kn[i]) for i in best],
        "kn_unk": _round(kn[kn_lm.index[UNK]]),
    }


def _round(p: float) -> float:
    """Four significant digits: plenty for bars, and it keeps the page small."""
    return float(f"{p:.4g}")


# ---------------------------------------------------------------------------------------------
# Embedding projector: a 3-D PCA view of word vectors, nearest neighbours and analogies
# ---------------------------------------------------------------------------------------------

_PROJECTOR_ESM = r"""
function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}
const COLORS = { point: "76,120,168", word: "#d62728", near: "#f58518", input: "#2ca02c",
                 answer: "#7b3fb5", mark: "#222" };

// The embedded vectors: int8, each row scaled so that its largest entry is +-127. Cosine
// similarity does not care about that scale: every row is divided by its norm here.
function unitVectors(b64, n, d) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const q = new Int8Array(bytes.buffer), u = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += q[i * d + j] * q[i * d + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < d; j++) u[i * d + j] = q[i * d + j] * inv;
  }
  return u;
}

// The k words most similar (cosine) to the direction `t`, skipping the indices in `skip`.
function mostSimilar(u, n, d, t, k, skip) {
  let tn = 0;
  for (let j = 0; j < d; j++) tn += t[j] * t[j];
  tn = Math.sqrt(tn) || 1;
  const scores = [];
  for (let i = 0; i < n; i++) {
    if (skip.has(i)) continue;
    let s = 0;
    for (let j = 0; j < d; j++) s += u[i * d + j] * t[j];
    scores.push([i, s / tn]);
  }
  scores.sort((a, b) => (b[1] - a[1]) || (a[0] - b[0]));
  return scores.slice(0, k);
}

function render({ model, el }) {
  const data = model.get("data");
  const n = data.words.length, d = data.dim;
  const xyz = data.xyz, words = data.words;
  const index = new Map();
  words.forEach((w, i) => { if (!index.has(w)) index.set(w, i); });
  const u = unitVectors(data.vectors, n, d);
  const pct = (x) => (100 * x).toFixed(1) + "%";
  const evr = data.explained_variance;

  const root = document.createElement("div");
  root.className = "tinylm-widget tinylm-projector";
  root.innerHTML = `
    ${data.title ? `<div class="tpj-title">${esc(data.title)}</div>` : ""}
    <div class="tpj-body">
      <div class="tpj-view">
        <canvas class="tpj-canvas" role="img" tabindex="0"
          aria-label="3-D PCA projection of ${n} word vectors; drag to rotate, wheel to zoom">
        </canvas>
        <div class="tpj-hover" hidden></div>
        <button type="button" class="tpj-reset" title="reset the view">reset view</button>
      </div>
      <div class="tpj-side">
        <label class="tpj-label">find a word
          <input class="tpj-search" type="search" list="tpj-list-${data.uid}"
                 spellcheck="false" autocomplete="off" placeholder="type a word"></label>
        <datalist id="tpj-list-${data.uid}"></datalist>
        <div class="tpj-head">nearest neighbours <span class="tpj-note">(cosine, ${d}-D)</span>
        </div>
        <ol class="tpj-neighbours"></ol>
        <fieldset class="tpj-analogy">
          <legend>analogy: <i>a</i> is to <i>b</i> as <i>c</i> is to ?</legend>
          <div class="tpj-abc">
            <input class="tpj-a" type="text" aria-label="a" placeholder="a"
                   list="tpj-list-${data.uid}" spellcheck="false" autocomplete="off">
            <span>:</span>
            <input class="tpj-b" type="text" aria-label="b" placeholder="b"
                   list="tpj-list-${data.uid}" spellcheck="false" autocomplete="off">
            <span>::</span>
            <input class="tpj-c" type="text" aria-label="c" placeholder="c"
                   list="tpj-list-${data.uid}" spellcheck="false" autocomplete="off">
            <span>: ?</span>
          </div>
          <div class="tpj-note">nearest to <i>b</i> &minus; <i>a</i> + <i>c</i></div>
          <ol class="tpj-analogies"></ol>
        </fieldset>
        <div class="tpj-message" role="status" aria-live="polite"></div>
      </div>
    </div>
    <div class="tpj-caption"></div>`;
  el.appendChild(root);
  const $ = (sel) => root.querySelector(sel);
  const canvas = $(".tpj-canvas"), hover = $(".tpj-hover"), message = $(".tpj-message");
  const search = $(".tpj-search"), ins = [$(".tpj-a"), $(".tpj-b"), $(".tpj-c")];
  const list = $("datalist");
  for (const w of words.slice(0, 1000)) {
    const option = document.createElement("option");
    option.value = w;
    list.appendChild(option);
  }
  $(".tpj-caption").textContent = `PCA of the ${n} most frequent of ${data.total} words `
    + `(unit vectors, ${d}-D) to 3-D: the axes keep ${evr.map(pct).join(", ")} of the `
    + `variance (${pct(evr[0] + evr[1] + evr[2])} in all). Distances in the plot are only a `
    + `shadow of the ${d}-D ones that neighbours and analogies use. Drag to rotate, `
    + `scroll to zoom, click a point to look it up.`;

  // ---- the 3-D view: points scaled into the unit ball, a camera orbiting a target point ----
  let radius = 1e-12;
  for (let i = 0; i < n; i++) {
    radius = Math.max(radius, Math.hypot(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]));
  }
  const P = new Float64Array(3 * n).map((_, k) => xyz[k] / radius);
  const DIST = 3.2;  // camera distance from the target, in units of the cloud's radius
  const view = { yaw: 0.6, pitch: 0.35, zoom: 1, target: [0, 0, 0] };
  const marks = new Map();  // index -> role: word, near, input, answer, mark
  for (const i of data.highlight) marks.set(i, "mark");
  let screen = new Float64Array(3 * n);  // x, y (CSS px) and depth of every point
  let order = [], hoverIndex = -1, width = 0, height = 0, anim = null;

  function project() {
    const [cy, sy, cp, sp] = [Math.cos(view.yaw), Math.sin(view.yaw),
                              Math.cos(view.pitch), Math.sin(view.pitch)];
    const scale = 0.5 * Math.min(width, height) * 0.95 * view.zoom;
    for (let i = 0; i < n; i++) {
      const x0 = P[3 * i] - view.target[0], y0 = P[3 * i + 1] - view.target[1];
      const z0 = P[3 * i + 2] - view.target[2];
      const x1 = cy * x0 + sy * z0, z1 = -sy * x0 + cy * z0;  // yaw: about the y axis
      const y2 = cp * y0 - sp * z1, z2 = sp * y0 + cp * z1;   // pitch: about the x axis
      const depth = DIST + z2, f = depth > 0.05 ? DIST / depth : -1;
      screen[3 * i] = width / 2 + scale * x1 * f;
      screen[3 * i + 1] = height / 2 - scale * y2 * f;
      screen[3 * i + 2] = f > 0 ? depth : -1;
    }
    order = [...Array(n).keys()].filter((i) => screen[3 * i + 2] > 0)
      .sort((a, b) => screen[3 * b + 2] - screen[3 * a + 2]);  // far to near
  }

  function axes(ctx) {  // a small PC1/PC2/PC3 gizmo in the bottom-left corner
    const [cy, sy, cp, sp] = [Math.cos(view.yaw), Math.sin(view.yaw),
                              Math.cos(view.pitch), Math.sin(view.pitch)];
    const ox = 34, oy = height - 30;
    ctx.font = "10px system-ui, sans-serif";
    for (let a = 0; a < 3; a++) {
      const v = [0, 0, 0]; v[a] = 1;
      const x1 = cy * v[0] + sy * v[2], z1 = -sy * v[0] + cy * v[2];
      const y2 = cp * v[1] - sp * z1;
      ctx.strokeStyle = ctx.fillStyle = "#999";
      ctx.beginPath(); ctx.moveTo(ox, oy); ctx.lineTo(ox + 18 * x1, oy - 18 * y2); ctx.stroke();
      const len = Math.hypot(x1, y2);  // an axis pointing at the viewer gets no label
      if (len > 0.3) ctx.fillText(`PC${a + 1}`, ox + x1 * (18 + 12 / len) - 8,
                                  oy - y2 * (18 + 8 / len) + 3);
    }
  }

  function draw() {
    const ratio = window.devicePixelRatio || 1;
    width = canvas.clientWidth || 480;
    height = canvas.clientHeight || 420;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    project();
    const depths = order.map((i) => screen[3 * i + 2]);
    const near = Math.min(...depths), far = Math.max(...depths), span = far - near || 1;
    for (const i of order) {  // plain points first, far to near
      if (marks.has(i)) continue;
      const t = (far - screen[3 * i + 2]) / span;  // 0 far .. 1 near
      ctx.fillStyle = `rgba(${COLORS.point},${(0.18 + 0.5 * t).toFixed(3)})`;
      ctx.beginPath();
      ctx.arc(screen[3 * i], screen[3 * i + 1], (1.4 + 1.6 * t) * Math.pow(view.zoom, 0.25),
              0, 2 * Math.PI);
      ctx.fill();
    }
    const rank = { mark: 0, near: 1, input: 2, answer: 3, word: 4 };  // drawn last = on top
    const labelled = order.filter((i) => marks.has(i) || i === hoverIndex)
      .sort((a, b) => (rank[marks.get(a)] ?? 5) - (rank[marks.get(b)] ?? 5));
    ctx.font = "12px system-ui, sans-serif";
    ctx.lineJoin = "round";
    for (const i of labelled) {  // marked points and their words on top
      const role = marks.get(i) || "word", x = screen[3 * i], y = screen[3 * i + 1];
      const color = i === hoverIndex && !marks.has(i) ? COLORS.mark : COLORS[role];
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.arc(x, y, role === "word" || role === "answer" ? 5 : 4, 0, 2 * Math.PI);
      ctx.fill();
      if (i === hoverIndex && !marks.has(i)) continue;  // the hover label names it
      ctx.font = (role === "word" || role === "answer" ? "600 " : "") + "12px system-ui";
      ctx.strokeStyle = "rgba(255,255,255,0.85)";
      ctx.lineWidth = 3;
      ctx.strokeText(words[i], x + 7, y - 5);
      ctx.fillText(words[i], x + 7, y - 5);
    }
    axes(ctx);
  }

  function stopGlide() {
    if (anim) cancelAnimationFrame(anim);
    anim = null;
    delete root.dataset.moving;
  }
  function glideTo(i) {  // move the target onto point i (and zoom in a little)
    const from = view.target.slice(), to = [P[3 * i], P[3 * i + 1], P[3 * i + 2]];
    const z0 = view.zoom, z1 = Math.max(view.zoom, 2.2), t0 = performance.now();
    stopGlide();
    root.dataset.moving = "1";
    const step = (now) => {
      const t = Math.min(1, (now - t0) / 350), e = t * t * (3 - 2 * t);
      view.target = from.map((v, k) => v + e * (to[k] - v));
      view.zoom = z0 + e * (z1 - z0);
      draw();
      if (t < 1) anim = requestAnimationFrame(step);
      else { anim = null; delete root.dataset.moving; }
    };
    anim = requestAnimationFrame(step);
  }

  // ---- look-ups: words typed in the boxes --------------------------------------------------
  function find(text) {
    const w = text.trim();
    if (index.has(w)) return index.get(w);
    if (index.has(w.toLowerCase())) return index.get(w.toLowerCase());
    return -1;
  }
  function unknown(w) {
    return `"${w}" is not among the ${n} words shown (the ${n} most frequent of `
      + `${data.total}).`;
  }
  function rows(list, cls, role) {
    return list.map(([i, s]) => `<li class="${cls}" data-word="${esc(words[i])}"
        data-role="${role}" style="--tpj-s:${Math.max(0, 100 * s).toFixed(1)}%"
        title="look up ${esc(words[i])}"><span class="tpj-w">${esc(words[i])}</span> `
      + `<span class="tpj-s">${s.toFixed(3)}</span></li>`).join("");
  }
  function clearRoles(...roles) {
    for (const [i, r] of [...marks]) if (roles.includes(r)) marks.delete(i);
    for (const i of data.highlight) if (!marks.has(i)) marks.set(i, "mark");
  }

  let state = { search: "", analogy: "" };
  function showMessage() {
    message.textContent = [state.search, state.analogy].filter(Boolean).join(" ");
  }

  function lookUp() {
    const text = search.value.trim(), list = $(".tpj-neighbours");
    clearRoles("word", "near");
    list.innerHTML = "";
    state.search = "";
    if (text) {
      const i = find(text);
      if (i < 0) state.search = unknown(text);
      else {
        const best = mostSimilar(u, n, d, u.subarray(i * d, (i + 1) * d),
                                 data.n_neighbours, new Set([i]));
        for (const [j] of best) marks.set(j, "near");
        marks.set(i, "word");
        list.innerHTML = rows(best, "tpj-neighbour", "near");
        glideTo(i);
      }
    }
    showMessage();
    draw();
  }

  function analogy() {
    const texts = ins.map((x) => x.value.trim()), out = $(".tpj-analogies");
    clearRoles("input", "answer");
    out.innerHTML = "";
    state.analogy = "";
    if (texts.every(Boolean)) {
      const idx = texts.map(find), missing = texts.filter((_, k) => idx[k] < 0);
      if (missing.length) state.analogy = missing.map(unknown).join(" ");
      else {
        const [a, b, c] = idx, t = new Float64Array(d);
        for (let j = 0; j < d; j++) t[j] = u[b * d + j] - u[a * d + j] + u[c * d + j];
        const best = mostSimilar(u, n, d, t, 5, new Set(idx));
        for (const k of idx) marks.set(k, "input");
        marks.set(best[0][0], "answer");
        out.innerHTML = rows(best, "tpj-analogy-result", "answer");
      }
    }
    showMessage();
    draw();
  }

  // ---- events ------------------------------------------------------------------------------
  search.addEventListener("input", lookUp);
  for (const box of ins) box.addEventListener("input", analogy);
  root.addEventListener("click", (ev) => {
    const li = ev.target.closest("li[data-word]");
    if (li && root.contains(li)) { search.value = li.dataset.word; lookUp(); }
  });

  function pick(ev) {  // the nearest drawn point within 8 px of the pointer, or -1
    const rect = canvas.getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    let best = -1, bestD = 64;
    for (const i of order) {  // near points come last and win ties
      const dd = (screen[3 * i] - x) ** 2 + (screen[3 * i + 1] - y) ** 2;
      if (dd <= bestD) { best = i; bestD = dd; }
    }
    return [best, x, y];
  }
  let drag = null;
  canvas.addEventListener("pointerdown", (ev) => {
    drag = { x: ev.clientX, y: ev.clientY, moved: false };
    canvas.setPointerCapture(ev.pointerId);
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (drag) {
      const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
      view.yaw += dx * 0.01;
      view.pitch = Math.max(-1.5, Math.min(1.5, view.pitch + dy * 0.01));
      drag.x = ev.clientX; drag.y = ev.clientY;
      draw();
      return;
    }
    const [i, x, y] = pick(ev);
    if (i !== hoverIndex) {
      hoverIndex = i;
      draw();
    }
    if (i < 0) { hover.hidden = true; return; }
    hover.textContent = words[i];
    hover.hidden = false;
    hover.style.left = `${Math.min(x + 12, width - hover.offsetWidth - 2)}px`;
    hover.style.top = `${Math.max(0, y - 26)}px`;
  });
  canvas.addEventListener("pointerup", (ev) => {
    const click = drag && !drag.moved;
    drag = null;
    if (click) {
      const [i] = pick(ev);
      if (i >= 0) { search.value = words[i]; lookUp(); }
    }
  });
  canvas.addEventListener("pointerleave", () => {
    hover.hidden = true;
    if (hoverIndex >= 0) { hoverIndex = -1; draw(); }
  });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    stopGlide();
    view.zoom = Math.max(0.3, Math.min(40, view.zoom * Math.exp(-ev.deltaY * 0.0015)));
    draw();
  }, { passive: false });
  $(".tpj-reset").addEventListener("click", () => {
    stopGlide();
    Object.assign(view, { yaw: 0.6, pitch: 0.35, zoom: 1, target: [0, 0, 0] });
    draw();
  });

  // For tests and curious readers: where each drawn point is, in CSS px from the canvas corner.
  root.tpjPositions = () => order.map((i) => [words[i], screen[3 * i], screen[3 * i + 1]]);
  if (window.ResizeObserver) new ResizeObserver(() => draw()).observe(canvas);
  draw();
}
export default { render };
"""

_PROJECTOR_CSS = """
.tinylm-projector { font: 13px/1.4 system-ui, sans-serif; color: #222; background: #fff;
  border: 1px solid #ddd; border-radius: 6px; padding: 10px; max-width: 900px;
  box-sizing: border-box; }
.tinylm-projector .tpj-title { font-weight: 600; margin-bottom: 6px; }
.tinylm-projector .tpj-body { display: flex; gap: 12px; flex-wrap: wrap; }
.tinylm-projector .tpj-view { position: relative; flex: 1 1 380px; min-width: 280px; }
.tinylm-projector .tpj-canvas { display: block; width: 100%; height: 420px; cursor: grab;
  background: #fcfcfd; border: 1px solid #eee; border-radius: 4px; touch-action: none; }
.tinylm-projector .tpj-canvas:active { cursor: grabbing; }
.tinylm-projector .tpj-hover { position: absolute; pointer-events: none; padding: 1px 6px;
  background: #222; color: #fff; border-radius: 3px; font-size: 12px; white-space: nowrap; }
.tinylm-projector .tpj-hover[hidden] { display: none; }
.tinylm-projector .tpj-reset { position: absolute; top: 6px; right: 6px; font: 11px system-ui;
  color: #555; background: #fff; border: 1px solid #ccc; border-radius: 3px;
  padding: 1px 6px; cursor: pointer; }
.tinylm-projector .tpj-side { flex: 0 1 250px; min-width: 220px; }
.tinylm-projector .tpj-label { display: block; font-weight: 600; }
.tinylm-projector input { font: inherit; padding: 2px 5px; border: 1px solid #bbb;
  border-radius: 3px; background: #fff; color: #222; box-sizing: border-box; }
.tinylm-projector .tpj-search { display: block; width: 100%; margin-top: 2px;
  font-weight: normal; }
.tinylm-projector .tpj-head { margin-top: 8px; font-weight: 600; }
.tinylm-projector .tpj-note { color: #777; font-weight: normal; font-size: 12px; }
.tinylm-projector ol { margin: 2px 0 0; padding: 0; list-style: none; }
.tinylm-projector li { display: flex; justify-content: space-between; padding: 0 4px;
  margin: 1px 0; cursor: pointer; border-radius: 2px; background-repeat: no-repeat;
  background-size: var(--tpj-s) 100%; }
.tinylm-projector li:hover { outline: 1px solid #ccc; }
.tinylm-projector .tpj-neighbours:empty::before { content: "type a word, or click a point";
  color: #999; font-size: 12px; }
.tinylm-projector .tpj-analogies:empty::before { content: "three words of the plot"; color: #999;
  font-size: 12px; }
.tinylm-projector .tpj-neighbour { background-image: linear-gradient(#fde3cc, #fde3cc); }
.tinylm-projector .tpj-analogy-result {
  background-image: linear-gradient(#e8dcf5, #e8dcf5); }
.tinylm-projector .tpj-analogy-result:first-child .tpj-w { font-weight: 600; }
.tinylm-projector .tpj-s { font-variant-numeric: tabular-nums; color: #444; }
.tinylm-projector .tpj-analogy { border: 1px solid #e3e3e3; border-radius: 4px;
  margin: 10px 0 0; padding: 4px 8px 6px; }
.tinylm-projector .tpj-analogy legend { font-weight: 600; padding: 0 3px; font-size: 13px; }
.tinylm-projector .tpj-abc { display: flex; align-items: center; gap: 3px; }
.tinylm-projector .tpj-abc input { width: 0; flex: 1 1 0; min-width: 0; }
.tinylm-projector .tpj-message { color: #b00020; min-height: 1.4em; margin-top: 6px; }
.tinylm-projector .tpj-caption { color: #555; font-size: 12px; margin-top: 8px; }
"""


class EmbeddingProjector(anywidget.AnyWidget):
    """Word vectors in 3-D (PCA), with nearest neighbours and analogies computed in the browser.

    ``words[i]`` names ``vectors[i]``; the first ``n_points`` words are kept (pass them most
    frequent first). Their vectors are scaled to unit length and projected onto their first
    three principal components (centred, then an SVD) for the plot, and
    ``explained_variance_ratio`` says how much of the variance those three axes keep.

    The neighbour list and the analogy box do *not* use the plot: they compare the full
    ``d``-dimensional vectors by cosine similarity, in JavaScript, over an int8 copy embedded
    in the page (each row scaled so that its largest entry is +-127; cosine ignores that
    scale). `nearest` and `analogy` compute the same lists here in Python from the same
    int8 copy. The analogy ranks words by cosine with ``b - a + c`` and leaves out ``a``,
    ``b`` and ``c``, as gensim's ``most_similar(positive=[b, c], negative=[a])`` does.

    Size: for 1500 words and d = 100 the embedded data is about 0.25 MB of JSON (the int8
    vectors, base64 encoded, are 0.2 MB of it); it grows as ``n_points * d * 4 / 3`` bytes.
    """

    _esm = _PROJECTOR_ESM
    _css = _PROJECTOR_CSS
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, words: Sequence[str], vectors: np.ndarray, n_points: int = 1500,
                 n_neighbours: int = 10, title: str | None = None,
                 highlight: str | Sequence[str] | None = None):
        words = [str(w) for w in words]
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array (words, dim), got shape "
                             f"{vectors.shape}")
        if vectors.shape[0] != len(words):
            raise ValueError(f"{len(words)} words but {vectors.shape[0]} vectors: "
                             "there must be one vector per word")
        if vectors.shape[1] < 3:
            raise ValueError(f"a 3-D projection needs vectors of dimension >= 3, got "
                             f"{vectors.shape[1]}")
        if n_points < 3:
            raise ValueError(f"n_points must be >= 3, got {n_points}")
        if n_neighbours < 1:
            raise ValueError(f"n_neighbours must be >= 1, got {n_neighbours}")
        n = min(n_points, len(words))
        if n < 3:
            raise ValueError(f"the projector needs at least 3 words, got {len(words)}")
        words, x = words[:n], vectors[:n]
        bad = ~np.isfinite(x).all(axis=1)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} of the vectors hold NaN or infinite values, e.g. "
                             f"the vector of {words[int(np.argmax(bad))]!r}")
        norms = np.linalg.norm(x, axis=1)
        if (norms == 0).any():
            raise ValueError(f"the vector of {words[int(np.argmin(norms))]!r} is zero: "
                             "it has no direction to compare")
        unit = x / norms[:, None]  # (n, d)
        index = {w: i for i, w in reversed(list(enumerate(words)))}
        if isinstance(highlight, str):
            highlight = [highlight]
        marked = []
        for w in highlight or []:
            if w not in index:
                raise ValueError(f"highlight word {w!r} is not among the first {n} words")
            marked.append(index[w])

        self.words = words
        self.coords, self.explained_variance_ratio = pca_3d(unit)  # (n, 3), (3,)
        self.quantized = quantize_rows(unit)  # (n, d) int8
        self._unit = _unit_rows(self.quantized)  # what the browser compares, (n, d)
        self._index = index
        super().__init__(data={
            "uid": f"{id(self):x}", "title": title or "", "total": len(vectors),
            "dim": int(x.shape[1]), "n_neighbours": int(min(n_neighbours, n - 1)),
            "words": words,
            "xyz": [round(float(v), 4) for v in self.coords.ravel()],
            "explained_variance": [round(float(v), 5) for v in self.explained_variance_ratio],
            "vectors": base64.b64encode(self.quantized.tobytes()).decode("ascii"),
            "highlight": marked,
        })

    def nearest(self, word: str, k: int | None = None) -> list[tuple[str, float]]:
        """The ``k`` (default ``n_neighbours``) words closest to ``word``: what the page lists."""
        i = self._lookup(word)
        return self._most_similar(self._unit[i], k or self.data["n_neighbours"], {i})

    def analogy(self, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
        """"a is to b as c is to ?": the ``k`` words closest to b - a + c, leaving out a, b, c."""
        ia, ib, ic = (self._lookup(w) for w in (a, b, c))
        target = self._unit[ib] - self._unit[ia] + self._unit[ic]
        return self._most_similar(target, k, {ia, ib, ic})

    def _lookup(self, word: str) -> int:
        for w in (word.strip(), word.strip().lower()):
            if w in self._index:
                return self._index[w]
        raise KeyError(f"{word!r} is not among the {len(self.words)} words shown")

    def _most_similar(self, target: np.ndarray, k: int, skip: set[int]):
        scores = self._unit @ target / (np.linalg.norm(target) or 1.0)  # (n,)
        ranked = [int(i) for i in np.lexsort((np.arange(len(scores)), -scores))
                  if int(i) not in skip]
        return [(self.words[i], float(scores[i])) for i in ranked[:k]]


def pca_3d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project the rows of ``x`` (n, d) onto their first 3 principal components.

    Returns the coordinates (n, 3) and the fraction of the total variance each component
    explains (3,). Signs are fixed as scikit-learn fixes them: the largest coordinate (in
    absolute value) of each component is positive.
    """
    centred = x - x.mean(axis=0)  # (n, d)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)  # u: (n, r), s: (r,)
    coords = u[:, :3] * s[:3]  # (n, 3): the same as centred @ vt[:3].T
    biggest = np.argmax(np.abs(coords), axis=0)
    coords *= np.sign(coords[biggest, np.arange(3)])
    variance = s**2
    return coords, variance[:3] / variance.sum()


def quantize_rows(x: np.ndarray) -> np.ndarray:
    """int8 copy of ``x`` (n, d): each row scaled so that its largest entry becomes +-127."""
    peak = np.abs(x).max(axis=1, keepdims=True)
    return np.round(x / np.where(peak > 0, peak, 1.0) * 127).astype(np.int8)


def _unit_rows(q: np.ndarray) -> np.ndarray:
    """The int8 rows of `quantize_rows`, back as unit vectors (float64): what the page uses."""
    q = q.astype(np.float64)
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    return q / np.where(norms > 0, norms, 1.0)


# ---------------------------------------------------------------------------------------------
# KV-cache calculator: LLaMA 2 7B / 13B / 70B, multi-head vs grouped-query attention
# ---------------------------------------------------------------------------------------------

_KV_ESM = r"""
const GiB = 2 ** 30;
function fmt(bytes) { return bytes >= GiB ? (bytes / GiB).toFixed(1) + " GiB"
                                           : (bytes / 2 ** 20).toFixed(0) + " MiB"; }

function render({ model, el }) {
  const data = model.get("data");
  const root = document.createElement("div");
  root.className = "tinylm-widget tinylm-kv-calculator";
  root.innerHTML = `
    <div class="tkv-controls">
      <label>context length <input class="tkv-seq" type="range" min="7" max="15" step="1">
        <span class="tkv-seq-value"></span> tokens</label>
      <label>batch <input class="tkv-batch" type="range" min="0" max="6" step="1">
        <span class="tkv-batch-value"></span></label>
      <label>precision <select class="tkv-bytes">
        <option value="2">fp16 / bf16 (2 bytes)</option><option value="4">fp32 (4 bytes)</option>
        <option value="1">int8 (1 byte)</option></select></label>
    </div>
    <table class="tkv-table"><thead><tr><th>model</th><th>layers x kv heads x head dim</th>
      <th>weights</th><th>KV cache with MHA</th><th>KV cache as built</th></tr></thead>
      <tbody></tbody></table>
    <div class="tkv-note"></div>`;
  el.appendChild(root);
  const seq = root.querySelector(".tkv-seq"), batch = root.querySelector(".tkv-batch");
  const bytes = root.querySelector(".tkv-bytes"), body = root.querySelector("tbody");
  seq.value = Math.log2(data.seq_len); batch.value = Math.log2(data.batch_size);

  function update() {
    const s = 2 ** parseInt(seq.value), b = 2 ** parseInt(batch.value);
    const w = parseInt(bytes.value);
    root.querySelector(".tkv-seq-value").textContent = s.toLocaleString("en");
    root.querySelector(".tkv-batch-value").textContent = b;
    const max = Math.max(...data.models.map(
      m => 2 * m.n_layers * m.n_heads * m.head_dim * s * b * w));
    body.innerHTML = data.models.map(m => {
      const per = 2 * m.n_layers * m.head_dim * s * b * w;  // k and v, per kv head
      const mha = per * m.n_heads, built = per * m.n_kv_heads;
      const bar = (v, cls) =>
        `<span class="tkv-bar ${cls}" style="width:${(100 * v / max).toFixed(1)}%"></span>`;
      const kind = m.n_kv_heads < m.n_heads ? " (GQA)" : " (MHA)";
      return `<tr data-model="${m.name}"><td>${m.name}</td>
        <td>${m.n_layers} x ${m.n_kv_heads} x ${m.head_dim}${kind}</td>
        <td class="tkv-weights">${fmt(m.n_params * w)}</td>
        <td class="tkv-mha">${fmt(mha)}${bar(mha, "tkv-bar-mha")}</td>
        <td class="tkv-built">${fmt(built)}${bar(built, "tkv-bar-built")}</td></tr>`;
    }).join("");
    const big = data.models[data.models.length - 1];
    root.querySelector(".tkv-note").textContent =
      `${big.name}: grouped-query attention shares each key/value head among ` +
      `${big.n_heads / big.n_kv_heads} query heads, so its cache is ` +
      `${big.n_heads / big.n_kv_heads}x smaller than with one key/value head per query head.`;
  }
  for (const input of [seq, batch, bytes]) input.addEventListener("input", update);
  update();
}
export default { render };
"""

_KV_CSS = """
.tinylm-kv-calculator { font: 13px/1.4 system-ui, sans-serif; border: 1px solid #ddd;
  border-radius: 6px; padding: 10px; max-width: 900px; }
.tinylm-kv-calculator .tkv-controls { display: flex; gap: 20px; flex-wrap: wrap;
  margin-bottom: 8px; }
.tinylm-kv-calculator table { border-collapse: collapse; width: 100%; }
.tinylm-kv-calculator th, .tinylm-kv-calculator td { text-align: left; padding: 3px 6px;
  border-bottom: 1px solid #eee; vertical-align: top; }
.tinylm-kv-calculator .tkv-bar { display: block; height: 8px; margin-top: 2px; }
.tinylm-kv-calculator .tkv-bar-mha { background: #e45756; }
.tinylm-kv-calculator .tkv-bar-built { background: #4c78a8; }
.tinylm-kv-calculator .tkv-note { color: #555; margin-top: 6px; }
"""


class KVCacheCalculator(anywidget.AnyWidget):
    """How much memory the KV cache of LLaMA 2 7B, 13B and 70B takes, with one key/value head
    per query head (multi-head attention, MHA) and as published (70B uses grouped-query
    attention with 8 key/value heads). Context length, batch size and precision are sliders.

    A cache holds keys and values (2) for every layer, key/value head, position and head
    dimension: ``2 x layers x kv_heads x head_dim x seq x batch x bytes``. The model sizes come
    from ``tinylm.llama.LLAMA2``, the published configurations.
    """

    _esm = _KV_ESM
    _css = _KV_CSS
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, seq_len: int = 4096, batch_size: int = 1):
        from tinylm.llama import LLAMA2

        for name, value, low, high in [("seq_len", seq_len, 128, 32768),
                                       ("batch_size", batch_size, 1, 64)]:
            if value < low or value > high or value & (value - 1):
                raise ValueError(f"{name} must be a power of two in [{low}, {high}], got {value}")
        models = [{"name": f"LLaMA 2 {name}", "n_layers": c.n_layers, "n_heads": c.n_heads,
                   "n_kv_heads": c.n_kv_heads, "head_dim": c.head_dim,
                   "n_params": c.num_parameters()} for name, c in LLAMA2.items()]
        super().__init__(data={"models": models, "seq_len": seq_len, "batch_size": batch_size})


# ---------------------------------------------------------------------------------------------
# Attention-heads viewer: where each head of each layer looks
# ---------------------------------------------------------------------------------------------

_ATTN_ESM = r"""
function decode(b64) {  // uint8 weights, 255 = 1.0
  const bin = atob(b64), out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function render({ model, el }) {
  const data = model.get("data");
  const W = decode(data.weights), T = data.tokens.length, H = data.n_heads, L = data.n_layers;
  const at = (l, h, q, k) => W[((l * H + h) * T + q) * T + k] / 255;
  const root = document.createElement("div");
  root.className = "tinylm-widget tinylm-attention";
  root.innerHTML = `
    <div class="tav-controls">
      <label>layer <input class="tav-layer" type="range" min="0" max="${L - 1}" step="1" value="0">
        <span class="tav-layer-value"></span></label>
      <span class="tav-hint">click a head to enlarge it; hover a cell to read it</span>
    </div>
    <div class="tav-heads"></div>
    <div class="tav-main"><canvas class="tav-canvas"></canvas>
      <div class="tav-info">&nbsp;</div></div>`;
  el.appendChild(root);
  const layer = root.querySelector(".tav-layer"), heads = root.querySelector(".tav-heads");
  const canvas = root.querySelector(".tav-canvas"), info = root.querySelector(".tav-info");
  let head = 0;
  const cell = Math.max(6, Math.min(18, Math.floor(420 / T))), pad = 70;
  canvas.width = pad + T * cell; canvas.height = pad + T * cell;

  function thumb(l, h) {
    const c = document.createElement("canvas"), s = Math.max(1, Math.floor(64 / T));
    c.width = c.height = T * s; c.className = "tav-thumb" + (h === head ? " tav-selected" : "");
    c.title = `head ${h}`; c.dataset.head = h;
    const ctx = c.getContext("2d");
    for (let q = 0; q < T; q++) for (let k = 0; k < T; k++) {
      ctx.fillStyle = `rgba(76,120,168,${at(l, h, q, k)})`; ctx.fillRect(k * s, q * s, s, s);
    }
    c.addEventListener("click", () => { head = h; update(); });
    return c;
  }

  function draw(l) {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.font = "11px sans-serif"; ctx.fillStyle = "#333";
    for (let i = 0; i < T; i++) {
      const label = data.tokens[i].slice(0, 10);
      ctx.textAlign = "right"; ctx.fillText(label, pad - 4, pad + i * cell + cell * 0.75);
      ctx.save(); ctx.translate(pad + i * cell + cell * 0.75, pad - 4); ctx.rotate(-Math.PI / 3);
      ctx.textAlign = "left"; ctx.fillText(label, 0, 0); ctx.restore();
    }
    for (let q = 0; q < T; q++) for (let k = 0; k < T; k++) {
      ctx.fillStyle = `rgba(76,120,168,${at(l, head, q, k)})`;
      ctx.fillRect(pad + k * cell, pad + q * cell, cell - 1, cell - 1);
    }
  }

  function update() {
    const l = parseInt(layer.value);
    root.querySelector(".tav-layer-value").textContent = `${l} of ${L - 1}`;
    heads.replaceChildren(...Array.from({ length: H }, (_, h) => thumb(l, h)));
    draw(l);
    info.textContent = `layer ${l}, head ${head}: each row is a query token, each column a key ` +
      `token it may attend to (causal: only earlier tokens); darker = more attention.`;
  }
  canvas.addEventListener("mousemove", (e) => {
    const r = canvas.getBoundingClientRect();
    const k = Math.floor((e.clientX - r.left - pad) / cell);
    const q = Math.floor((e.clientY - r.top - pad) / cell);
    if (q < 0 || k < 0 || q >= T || k >= T) return;
    const w = at(parseInt(layer.value), head, q, k);
    info.innerHTML = `<b>${esc(data.tokens[q])}</b> (position ${q}) attends to ` +
      `<b>${esc(data.tokens[k])}</b> (position ${k}) with weight ${w.toFixed(3)}`;
  });
  layer.addEventListener("input", update);
  update();
}
export default { render };
"""

_ATTN_CSS = """
.tinylm-attention { font: 13px/1.4 system-ui, sans-serif; border: 1px solid #ddd;
  border-radius: 6px; padding: 10px; max-width: 900px; }
.tinylm-attention .tav-controls { display: flex; gap: 20px; align-items: center; }
.tinylm-attention .tav-hint { color: #777; }
.tinylm-attention .tav-heads { display: flex; gap: 6px; flex-wrap: wrap; margin: 8px 0; }
.tinylm-attention .tav-thumb { border: 2px solid #eee; cursor: pointer; width: 64px;
  height: 64px; image-rendering: pixelated; }
.tinylm-attention .tav-selected { border-color: #f58518; }
.tinylm-attention .tav-info { color: #333; min-height: 1.4em; }
"""


class AttentionViewer(anywidget.AnyWidget):
    """Every head of every layer: which earlier tokens each token attends to.

    tokens: the T tokens (as text); attentions: (layers, heads, T, T) weights, rows summing to
    one, e.g. the list ``Llama(..., return_attention=True)`` returns for one sequence. Weights
    are stored as bytes (255 = 1.0) to keep the page small: 6 layers x 8 heads x 40 x 40 tokens
    is about 100 kB.
    """

    _esm = _ATTN_ESM
    _css = _ATTN_CSS
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, tokens: Sequence[str], attentions):
        weights = np.stack([np.asarray(a, dtype=np.float64) for a in attentions]) \
            if isinstance(attentions, (list, tuple)) else np.asarray(attentions, np.float64)
        if weights.ndim == 5 and weights.shape[1] == 1:  # per-layer (1, heads, T, T): one sequence
            weights = weights[:, 0]
        T = len(tokens)
        if weights.ndim != 4 or weights.shape[2:] != (T, T):
            raise ValueError(f"attentions must have shape (layers, heads, {T}, {T}) for {T} "
                             f"tokens, got {weights.shape}")
        if not np.isfinite(weights).all() or weights.min() < 0 or weights.max() > 1 + 1e-6:
            raise ValueError("attention weights must be finite and in [0, 1]")
        quantised = np.round(np.clip(weights, 0, 1) * 255).astype(np.uint8)
        super().__init__(data={
            "tokens": [str(t) for t in tokens], "n_layers": int(weights.shape[0]),
            "n_heads": int(weights.shape[1]),
            "weights": base64.b64encode(quantised.tobytes()).decode("ascii")})


# ---------------------------------------------------------------------------------------------
# Beam-search tree: every candidate of every step, kept, pruned or finished
# ---------------------------------------------------------------------------------------------

BEAM_STATUSES = ("kept", "pruned", "finished")

_BEAM_ESM = r"""
const NS = "http://www.w3.org/2000/svg";
const NODE_W = 112, NODE_H = 34, COL = 148, ROW = 44, PAD = 12, TOP = 30;

function svg(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}
function html(tag, cls, text, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
// Token text with its whitespace made visible: " the" is drawn as "␣the".
function visible(t) {
  return t.replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5");
}
function label(node) { return node.text ? visible(node.text) : `\u27e8${node.token_id}\u27e9`; }
function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }
function short(s, n) { return s.length > n ? s.slice(0, n - 1) + "\u2026" : s; }
function num(x) { return x === null ? "\u2212\u221e" : x.toFixed(3).replace("-", "\u2212"); }

function render({ model, el }) {
  const data = model.get("data");
  const nodes = data.nodes, byId = new Map(nodes.map((n) => [n.id, n]));
  const steps = data.n_steps;
  const rows = Math.max(1, ...nodes.map((n) => n.rank));
  const root = html("div", "tinylm-widget tinylm-beam-tree");
  el.appendChild(root);
  if (data.title) html("div", "tbt-title", data.title, root);
  html("div", "tbt-summary",
       `prompt "${data.prompt}" (${plural(data.prompt_length, "token")}), ` +
       `${plural(data.num_beams, "beam")}, ` +
       `length penalty ${data.length_penalty}: ${steps} steps, ${nodes.length} candidates`, root);

  const legend = html("div", "tbt-legend", undefined, root);
  for (const [cls, text] of [["tbt-kept", "kept (extended at the next step)"],
                             ["tbt-pruned", "pruned"],
                             ["tbt-finished", "finished (end of sequence)"],
                             ["tbt-path", "returned hypothesis"]]) {
    const item = html("span", "tbt-legend-item", undefined, legend);
    const sw = svg("svg", { width: 30, height: 16, "aria-hidden": "true" }, item);
    const g = svg("g", { class: `tbt-node ${cls === "tbt-path" ? "tbt-kept tbt-path" : cls}` }, sw);
    svg("rect", { x: 1.5, y: 1.5, width: 27, height: 13, rx: 3 }, g);
    if (cls === "tbt-finished") svg("rect", { class: "tbt-flag", x: 23, y: 1.5, width: 5.5,
                                               height: 13 }, g);
    html("span", "", text, item);
  }
  const info = html("div", "tbt-info", undefined, root);
  info.setAttribute("aria-live", "polite");

  // ---- layout: the prompt in column 0, step s in column s + 1, candidates by rank ----------
  const xOf = (step) => PAD + (step + 1) * COL;
  const yOf = (rank) => TOP + (rank - 1) * ROW;
  const first = nodes.filter((n) => n.step === 0);
  const rootY = first.length ? (yOf(1) + yOf(Math.max(...first.map((n) => n.rank)))) / 2 : TOP;
  const width = PAD * 2 + (steps + 1) * COL - (COL - NODE_W);
  const height = TOP + rows * ROW + PAD;
  const scroll = html("div", "tbt-scroll", undefined, root);
  const plot = svg("svg", { class: "tbt-svg", width, height, viewBox: `0 0 ${width} ${height}`,
                            role: "group",
                            "aria-label": `beam-search tree: ${steps} steps, ${nodes.length} ` +
                                          "candidates; hover or focus a candidate for details" },
                   scroll);
  for (let s = 0; s < steps; s++) {
    svg("text", { class: "tbt-step", x: xOf(s) + NODE_W / 2, y: 14, "text-anchor": "middle" },
        plot).textContent = `step ${s}`;
  }
  const pos = (n) => n.parent < 0 ? [PAD, rootY] : [xOf(byId.get(n.parent).step),
                                                      yOf(byId.get(n.parent).rank)];
  const edges = svg("g", { class: "tbt-edges" }, plot);
  const edgeOf = new Map(), layer = { pruned: 0, kept: 1, finished: 1 };
  const drawOrder = [...nodes].sort((a, b) => (a.path - b.path) ||
                                               (layer[a.status] - layer[b.status]));
  for (const n of drawOrder) {  // pruned edges underneath, the returned path on top
    const [px, py] = pos(n), x0 = px + NODE_W, y0 = py + NODE_H / 2;
    const x1 = xOf(n.step), y1 = yOf(n.rank) + NODE_H / 2, mx = (x0 + x1) / 2;
    const e = svg("path", { class: `tbt-edge tbt-edge-${n.status}` + (n.path ? " tbt-path" : ""),
                            d: `M${x0},${y0} C${mx},${y0} ${mx},${y1} ${x1},${y1}`,
                            "data-child": n.id }, edges);
    edgeOf.set(n.id, e);
  }
  const rootG = svg("g", { class: "tbt-node tbt-root", transform: `translate(${PAD},${rootY})` },
                    plot);
  svg("rect", { width: NODE_W, height: NODE_H, rx: 4 }, rootG);
  svg("text", { x: 6, y: 14 }, rootG).textContent = short(visible(data.prompt), 15);
  svg("text", { class: "tbt-sub", x: 6, y: 28 }, rootG).textContent = "prompt";

  const nodeEl = new Map();
  for (const n of nodes) {
    const g = svg("g", {
      class: `tbt-node tbt-${n.status}` + (n.path ? " tbt-path" : "") +
             (n.returned ? " tbt-returned" : ""),
      transform: `translate(${xOf(n.step)},${yOf(n.rank)})`, tabindex: 0,
      "data-id": n.id, "data-status": n.status,
      "aria-label": `step ${n.step}, rank ${n.rank}: ${label(n)}, ${n.status}` }, plot);
    svg("rect", { width: NODE_W, height: NODE_H, rx: 4 }, g);
    if (n.status === "finished") {
      svg("rect", { class: "tbt-flag", x: NODE_W - 7, y: 0, width: 7, height: NODE_H }, g);
    }
    svg("text", { x: 6, y: 14 }, g).textContent =
      short(label(n), 12) + (n.returned ? " \u2605" : "");
    svg("text", { class: "tbt-sub", x: 6, y: 28 }, g).textContent = n.status === "finished"
      ? `${num(n.score)} \u2192 ${num(n.final)}` : num(n.score);
    nodeEl.set(n.id, g);
  }

  // ---- details: hover or focus shows a candidate, a click pins it -------------------------
  function ancestry(n) {
    const out = [];
    for (let m = n; m; m = m.parent < 0 ? null : byId.get(m.parent)) out.unshift(m);
    return out;
  }
  function field(parent, name, key, value) {
    const row = html("div", "tbt-field", undefined, parent);
    html("span", "tbt-key", name, row);
    html("span", "tbt-value", value, row).dataset.field = key;
  }
  let pinned = null;
  function show(n) {
    const traced = plot.querySelectorAll(".tbt-trace");
    for (const e of traced) e.classList.remove("tbt-trace");
    if (traced.length) for (const m of drawOrder) edges.appendChild(edgeOf.get(m.id));
    info.replaceChildren();
    if (!n) {
      info.textContent = "Hover over a candidate (or focus it with Tab) to see its numbers; " +
        "click to keep them. \u2605 marks a returned hypothesis.";
      return;
    }
    for (const m of ancestry(n)) {
      nodeEl.get(m.id).classList.add("tbt-trace");
      edgeOf.get(m.id).classList.add("tbt-trace");
      edges.appendChild(edgeOf.get(m.id));  // on top of the others
    }
    const head = html("div", "tbt-head", undefined, info);
    html("span", "tbt-token", label(n), head).dataset.field = "token";
    const dropped = n.status === "finished" && n.hyp === null && data.hypotheses.length;
    html("span", "tbt-status", ` ${n.status}` + (n.returned ? ", returned" : "") +
         (dropped ? ", later pushed out of the finished hypotheses by better ones" : "") +
         (pinned === n ? " (pinned: click again to release)" : ""), head);
    const grid = html("div", "tbt-fields", undefined, info);
    field(grid, "token id", "token_id", String(n.token_id));
    field(grid, "token text", "text", JSON.stringify(n.text));
    field(grid, "token log-prob", "logprob", num(n.logprob));
    field(grid, "cumulative score", "score", num(n.score));
    field(grid, `final score (length penalty ${data.length_penalty})`, "final",
          n.final === null ? "\u2014" : num(n.final));
    field(grid, "rank at its step", "rank", `${n.rank} of ${data.step_sizes[n.step]}`);
    field(grid, "step", "step", String(n.step));
    field(grid, "beam", "beam", n.beam === null ? "\u2014" : String(n.beam));
    const path = html("div", "tbt-text", undefined, info);
    html("span", "tbt-prompt", data.prompt, path);
    html("span", "tbt-generated", ancestry(n).map((m) => m.text).join(""), path)
      .dataset.field = "sequence";
  }
  const current = (ev) => {
    const g = ev.target.closest && ev.target.closest(".tbt-node[data-id]");
    return g ? byId.get(Number(g.dataset.id)) : null;
  };
  plot.addEventListener("mouseover", (ev) => { const n = current(ev); if (n) show(n); });
  plot.addEventListener("mouseleave", () => show(pinned));
  plot.addEventListener("focusin", (ev) => { const n = current(ev); if (n) show(n); });
  plot.addEventListener("click", (ev) => {
    const n = current(ev);
    if (pinned) nodeEl.get(pinned.id).classList.remove("tbt-pinned");
    pinned = n && n !== pinned ? n : null;
    if (pinned) nodeEl.get(pinned.id).classList.add("tbt-pinned");
    show(pinned || n);
  });
  plot.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); ev.target.dispatchEvent(
      new MouseEvent("click", { bubbles: true })); }
  });

  // ---- the final hypotheses, best first as the trace lists them ---------------------------
  if (data.hypotheses.length) {
    html("div", "tbt-hyps-head", "finished hypotheses (final score = length-penalised)", root);
    const list = html("ol", "tbt-hyps", undefined, root);
    for (const h of data.hypotheses) {
      const li = html("li", h.returned ? "tbt-hyp tbt-hyp-returned" : "tbt-hyp", undefined, list);
      li.dataset.node = h.node;
      html("span", "tbt-hyp-score", num(h.final), li);
      html("span", "tbt-hyp-text", h.text, li);
      if (h.returned) html("span", "tbt-hyp-badge", "returned", li);
      li.addEventListener("mouseenter", () => show(byId.get(h.node)));
      li.addEventListener("mouseleave", () => show(pinned));
    }
  }
  show(null);
}
export default { render };
"""

_BEAM_CSS = """
.tinylm-beam-tree { font: 13px/1.4 system-ui, sans-serif; color: #222; background: #fff;
  border: 1px solid #ddd; border-radius: 6px; padding: 10px; max-width: 900px;
  box-sizing: border-box; }
.tinylm-beam-tree .tbt-title { font-weight: 600; }
.tinylm-beam-tree .tbt-summary { color: #555; }
.tinylm-beam-tree .tbt-legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 6px 0;
  font-size: 12px; color: #444; }
.tinylm-beam-tree .tbt-legend-item { display: inline-flex; align-items: center; gap: 4px; }
.tinylm-beam-tree .tbt-info { height: 8.6em; overflow-y: auto; background: #fafafa;
  border: 1px solid #eee; border-radius: 4px; padding: 4px 8px; margin-bottom: 6px;
  color: #555; }
.tinylm-beam-tree .tbt-head { color: #222; }
.tinylm-beam-tree .tbt-token { font-weight: 600; font-family: ui-monospace, monospace; }
.tinylm-beam-tree .tbt-fields { display: grid; gap: 0 16px;
  grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); }
.tinylm-beam-tree .tbt-field { display: flex; justify-content: space-between; gap: 8px; }
.tinylm-beam-tree .tbt-value { color: #222; font-variant-numeric: tabular-nums;
  font-family: ui-monospace, monospace; }
.tinylm-beam-tree .tbt-text { white-space: pre-wrap; overflow-wrap: anywhere; }
.tinylm-beam-tree .tbt-prompt { color: #888; }
.tinylm-beam-tree .tbt-generated { color: #222; background: #fff3e0; }
.tinylm-beam-tree .tbt-scroll { overflow: auto; max-height: 560px; border: 1px solid #eee;
  border-radius: 4px; background: #fcfcfd; }
.tinylm-beam-tree .tbt-svg { display: block; font: 12px system-ui, sans-serif; }
.tinylm-beam-tree .tbt-step { fill: #777; font-size: 11px; }
.tinylm-beam-tree .tbt-edge { fill: none; stroke: #8da9c8; stroke-width: 1.2; }
.tinylm-beam-tree .tbt-edge-pruned { stroke: #d6d6d6; stroke-dasharray: 3 3; }
.tinylm-beam-tree .tbt-edge-finished { stroke: #5aa469; }
.tinylm-beam-tree .tbt-edge.tbt-path { stroke: #f58518; stroke-width: 3; }
.tinylm-beam-tree .tbt-edge.tbt-trace { stroke: #222; stroke-width: 2.2; stroke-dasharray: none; }
.tinylm-beam-tree .tbt-node { cursor: pointer; outline: none; }
.tinylm-beam-tree .tbt-node rect { fill: #e8f0fa; stroke: #4c78a8; stroke-width: 1.2; }
.tinylm-beam-tree .tbt-node text { fill: #222; font-family: ui-monospace, monospace;
  font-size: 12px; }
.tinylm-beam-tree .tbt-node .tbt-sub { fill: #555; font-size: 10.5px;
  font-family: system-ui, sans-serif; font-variant-numeric: tabular-nums; }
.tinylm-beam-tree .tbt-root { cursor: default; }
.tinylm-beam-tree .tbt-root rect { fill: #f0f0f0; stroke: #888; }
.tinylm-beam-tree .tbt-pruned rect { fill: #f5f5f5; stroke: #cfcfcf; stroke-dasharray: 3 2; }
.tinylm-beam-tree .tbt-pruned text, .tinylm-beam-tree .tbt-pruned .tbt-sub { fill: #a0a0a0; }
.tinylm-beam-tree .tbt-finished rect { fill: #e6f4ea; stroke: #2e7d32; }
.tinylm-beam-tree .tbt-node rect.tbt-flag { fill: #2e7d32; stroke: none; }
.tinylm-beam-tree .tbt-node.tbt-path rect:first-child { stroke: #f58518; stroke-width: 3; }
.tinylm-beam-tree .tbt-returned text:first-of-type { font-weight: 700; }
.tinylm-beam-tree .tbt-node.tbt-trace rect:first-child { stroke: #222; stroke-width: 2.2;
  stroke-dasharray: none; }
.tinylm-beam-tree .tbt-node.tbt-pinned rect:first-child { stroke: #d62728; stroke-width: 3; }
.tinylm-beam-tree .tbt-node:focus-visible rect:first-child { stroke: #d62728; }
.tinylm-beam-tree .tbt-hyps-head { font-weight: 600; margin-top: 8px; }
.tinylm-beam-tree .tbt-hyps { margin: 2px 0 0; padding-left: 28px; max-height: 9.8em;
  overflow-y: auto; }
.tinylm-beam-tree .tbt-hyp { cursor: default; white-space: pre-wrap; }
.tinylm-beam-tree .tbt-hyp:hover { background: #f3f3f3; }
.tinylm-beam-tree .tbt-hyp-score { display: inline-block; width: 64px;
  font-variant-numeric: tabular-nums; color: #555; }
.tinylm-beam-tree .tbt-hyp-returned .tbt-hyp-text { background: #fff3e0; font-weight: 600; }
.tinylm-beam-tree .tbt-hyp-badge { margin-left: 8px; padding: 0 5px; border-radius: 3px;
  background: #f58518; color: #fff; font-size: 11px; }
"""


class BeamTreeViewer(anywidget.AnyWidget):
    """The tree a beam search grew: one column per step, one box per candidate.

    Every candidate the search scored at a step is drawn, ranked by its cumulative score:
    kept ones (extended at the next step), pruned ones (greyed) and finished ones (green, with
    the length-penalised final score after the arrow), each joined to the kept beam it extends.
    The returned hypotheses are drawn in orange. Hovering over (or focusing) a candidate shows
    its token id and text, token log-prob, cumulative and final score and rank; a click pins
    it. Everything is drawn in the browser from the state `beam_tree_state` computes.

    trace: the ``trace`` of a beam search (``BeamSearchTrace``, or its ``to_dict()``); decode:
    a tokenizer (anything with ``decode(list_of_ids)``) or a function from a token id to its
    text; prompt: the prompt's text, shown as the root.
    """

    _esm = _BEAM_ESM
    _css = _BEAM_CSS
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, trace, decode, prompt: str = "", title: str | None = None):
        super().__init__(data={**beam_tree_state(trace, decode, prompt), "title": title or ""})


def beam_tree_state(trace, decode, prompt: str = "") -> dict:
    """The JSON-ready state `BeamTreeViewer` draws, from a beam-search trace.

    ``trace`` has (as attributes, or as keys of its ``to_dict()``) ``prompt_length``,
    ``num_beams``, ``length_penalty``, ``steps`` (a list per step of candidates with ``step``,
    ``parent``, ``token_id``, ``token_logprob``, ``score``, ``status``, ``beam`` and
    ``final_score``) and ``finished`` (hypotheses with ``tokens``, ``final_score`` (else
    ``score`` is taken as the final score), ``returned`` and, optionally, the ``step`` and
    ``candidate`` of their last token; without these they are found from their tokens).

    Returns a dict with one entry of ``nodes`` per candidate, in the trace's order::

        {"id", "step", "rank" (1 = best cumulative score at its step), "parent" (the id of the
         kept node it extends, -1 for the prompt), "token_id", "text", "logprob", "score",
         "status", "beam", "final", "hyp" (the index of the hypothesis ending here, or None),
         "returned" (a returned hypothesis ends here), "path" (on the way to one)}

    and one entry of ``hypotheses`` per finished hypothesis: ``{"node", "text", "score"
    (cumulative), "final", "returned"}``. Log-probs of minus infinity become None (as in
    ``to_dict()``); floats are rounded to 4 decimals. Bad traces raise ValueError.
    """
    token_text = _token_decoder(decode)
    num_beams = _as_int(_field(trace, "num_beams", "the trace"), "the trace's num_beams")
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1, got {num_beams}")
    prompt_length = _as_int(_field(trace, "prompt_length", "the trace"),
                            "the trace's prompt_length")
    length_penalty = float(_field(trace, "length_penalty", "the trace"))
    steps = _field(trace, "steps", "the trace")
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence) or not steps:
        raise ValueError("the trace's steps must be a non-empty list (one list of candidates "
                         "per generated token)")

    nodes: list[dict] = []
    paths: list[tuple[int, ...]] = []  # the generated tokens from the prompt to each node
    kept_before: dict[int, int] = {}  # beam index at the previous step -> node id
    step_starts = []  # the id of each step's first node
    for s, candidates in enumerate(steps):
        if isinstance(candidates, (str, bytes)) or not isinstance(candidates, Sequence) \
                or not candidates:
            raise ValueError(f"step {s} of the trace has no candidates (each step must be a "
                             "non-empty list)")
        kept_now: dict[int, int] = {}
        first = len(nodes)
        step_starts.append(first)
        for j, cand in enumerate(candidates):
            where = f"step {s}, candidate {j}"
            step = _as_int(_field(cand, "step", where), f"{where}: step")
            if step != s:
                raise ValueError(f"{where} says it belongs to step {step}")
            status = _field(cand, "status", where)
            status = getattr(status, "value", status)
            if status not in BEAM_STATUSES:
                raise ValueError(f"{where}: status must be one of {', '.join(BEAM_STATUSES)}, "
                                 f"got {status!r}")
            token_id = _as_int(_field(cand, "token_id", where), f"{where}: token_id")
            logprob = _logprob(_field(cand, "token_logprob", where), f"{where}: token_logprob")
            score = _logprob(_field(cand, "score", where), f"{where}: score")
            beam = _optional(cand, "beam")
            beam = None if beam is None else _as_int(beam, f"{where}: beam")
            final = _optional(cand, "final_score")
            final = None if final is None else _logprob(final, f"{where}: final_score")
            if status == "kept":
                if beam is None or not 0 <= beam < num_beams:
                    raise ValueError(f"{where} is kept, so its beam must be in "
                                     f"[0, {num_beams}), got {beam}")
                if beam in kept_now:
                    raise ValueError(f"{where}: beam {beam} is already taken at step {s}")
                kept_now[beam] = len(nodes)
            if status == "finished" and final is None:
                raise ValueError(f"{where} is finished but has no final_score")
            if s == 0:
                parent, path = -1, ()
            else:
                p = _as_int(_field(cand, "parent", where), f"{where}: parent")
                if p not in kept_before:
                    raise ValueError(f"{where}: parent {p} is not a kept beam of step {s - 1} "
                                     f"(kept beams: {sorted(kept_before)})")
                parent, path = kept_before[p], paths[kept_before[p]]
            paths.append(path + (token_id,))
            nodes.append({
                "id": len(nodes), "step": s, "rank": 0, "parent": parent,
                "token_id": token_id, "text": token_text(token_id), "logprob": logprob,
                "score": score, "status": status, "beam": beam, "final": final,
                "hyp": None, "returned": False, "path": False,
            })
        order = sorted(range(first, len(nodes)), key=lambda i: (
            nodes[i]["score"] is None, -(nodes[i]["score"] or 0.0), i))
        for rank, i in enumerate(order, start=1):
            nodes[i]["rank"] = rank
        kept_before = kept_now

    hypotheses = [_hypothesis(h, k, nodes, paths, step_starts, prompt_length, decode,
                              token_text)
                  for k, h in enumerate(_field(trace, "finished", "the trace") or [])]
    for k, h in enumerate(hypotheses):
        if nodes[h["node"]]["hyp"] is not None:
            raise ValueError(f"finished hypotheses {nodes[h['node']]['hyp']} and {k} end at the "
                             "same candidate")
        nodes[h["node"]]["hyp"] = k
        if h["returned"]:
            nodes[h["node"]]["returned"] = True
            i = h["node"]
            while i >= 0:
                nodes[i]["path"] = True
                i = nodes[i]["parent"]
    return {
        "prompt": str(prompt), "prompt_length": prompt_length, "num_beams": num_beams,
        "length_penalty": length_penalty, "n_steps": len(steps),
        "step_sizes": [end - start for start, end in
                       zip(step_starts, step_starts[1:] + [len(nodes)], strict=True)],
        "nodes": nodes, "hypotheses": hypotheses,
    }


_MISSING = object()


def _field(obj, name: str, what: str):
    """``obj.name``, or ``obj[name]`` for a dict (the ``to_dict()`` form of a trace)."""
    if isinstance(obj, dict):
        value = obj.get(name, _MISSING)
    else:
        value = getattr(obj, name, _MISSING)
    if value is _MISSING:
        raise ValueError(f"{what} has no {name!r} ({type(obj).__name__})")
    return value


def _optional(obj, name: str):
    """``obj.name`` or ``obj[name]``, None when there is no such field."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _as_int(value, what: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an integer, got {value!r}") from None


def _logprob(value, what: str) -> float | None:
    """A log-prob or score rounded to 4 decimals; None for minus infinity (which ``to_dict()``
    writes as None)."""
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if x == -math.inf:
        return None
    if not math.isfinite(x):
        raise ValueError(f"{what} must be finite or -inf, got {x}")
    return round(x, 4)


def _token_decoder(decode):
    """A function token id -> text, from a tokenizer with ``decode(ids)`` or a function."""
    if hasattr(decode, "decode"):
        def text(i: int) -> str:
            try:  # tokenizers.Tokenizer drops special tokens such as </s> unless told not to
                return decode.decode([i], skip_special_tokens=False)
            except TypeError:
                return decode.decode([i])
    elif callable(decode):
        text = decode
    else:
        raise TypeError("decode must be a tokenizer (with a decode method) or a function from "
                        f"a token id to its text, got {type(decode).__name__}")

    def checked(i: int) -> str:
        out = text(i)
        if not isinstance(out, str):
            raise TypeError(f"decode({i}) returned {type(out).__name__}, not str")
        return out

    return checked


def _hypothesis(h, k: int, nodes: list[dict], paths: list[tuple[int, ...]],
                step_starts: list[int], prompt_length: int, decode, token_text) -> dict:
    """A finished hypothesis and the node it ends at.

    ``step`` and ``candidate`` (if the hypothesis has them) say where its last token is in
    ``trace.steps``; its tokens must then lead there. Without them the node is found from the
    tokens alone, which may or may not start with the prompt and may or may not end with the
    end-of-sequence token of a finished candidate: finished candidates first, then the one with
    the closest final score.
    """
    what = f"finished hypothesis {k}"
    tokens = _field(h, "tokens", what)
    tokens = tokens.tolist() if hasattr(tokens, "tolist") else tokens
    tokens = tuple(_as_int(t, f"{what}: token") for t in tokens)
    final = _optional(h, "final_score")
    final = _logprob(_field(h, "score", what) if final is None else final,
                     f"{what}: final_score")
    returned = bool(_field(h, "returned", what))
    options = [tokens]
    if len(tokens) > prompt_length > 0:
        options.append(tokens[prompt_length:])

    def leads_to(i: int) -> bool:
        path = paths[i]
        return path in options or (nodes[i]["status"] == "finished" and path[:-1] in options)

    step, cand = _optional(h, "step"), _optional(h, "candidate")
    if step is not None and cand is not None:
        step, cand = _as_int(step, f"{what}: step"), _as_int(cand, f"{what}: candidate")
        if not 0 <= step < len(step_starts):
            raise ValueError(f"{what} ends at step {step}, but the trace has "
                             f"{len(step_starts)} steps")
        size = (step_starts[step + 1] if step + 1 < len(step_starts) else len(nodes)) \
            - step_starts[step]
        if not 0 <= cand < size:
            raise ValueError(f"{what} ends at candidate {cand} of step {step}, which has "
                             f"{size} candidates")
        node = step_starts[step] + cand
        if not leads_to(node):
            raise ValueError(f"{what}: its tokens {list(tokens)} do not lead to candidate "
                             f"{cand} of step {step} (tokens {list(paths[node])})")
    else:
        matches = []
        for i, n in enumerate(nodes):
            if leads_to(i):
                finished = n["status"] == "finished"
                node_final = n["final"] if finished else n["score"]
                gap = abs((node_final or -1e9) - (final or -1e9))
                matches.append((not finished, gap, i))
        if not matches:
            raise ValueError(f"{what} (tokens {list(tokens)}) does not end at any candidate "
                             "of the trace")
        node = min(matches)[2]
    generated = paths[node]
    if hasattr(decode, "decode"):  # the whole sequence at once: byte-level pieces join up
        try:
            text = decode.decode(list(generated), skip_special_tokens=False)
        except TypeError:
            text = decode.decode(list(generated))
    else:
        text = "".join(token_text(t) for t in generated)
    return {"node": node, "text": text, "score": nodes[node]["score"], "final": final,
            "returned": returned}
