// The embedding projector: word vectors in 3-D (their first three principal components, from
// projector.py), a search box that lists a word's nearest neighbours and an analogy box
// (a : b :: c : ?). Neighbours and analogies compare the full d-dimensional vectors, here in the
// browser, not the 3-D shadows in the plot. A look-up moves the view so that the words it found
// are all on the canvas, labelled, on top of the cloud.
import {
  alphaScale, bytesOf, cssVar, esc, fillDatalist, pct, redrawOn, tooltip,
} from "./common.js";

// The embedded vectors: int8, each row scaled so that its largest entry is +-127. Cosine
// similarity does not care about that scale: every row is divided by its norm here.
function unitVectors(b64, n, d) {
  const q = new Int8Array(bytesOf(b64).buffer), u = new Float64Array(n * d);
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

// The colours of the plot, from the theme (common.css), read at every draw.
function palette(root) {
  const v = (name) => cssVar(root, `--tinylm-${name}`);
  return { point: alphaScale(v("accent")), word: v("focus"), near: v("highlight"),
           input: v("given"), answer: v("answer"), mark: v("fg"), halo: v("halo"),
           axis: v("dim") };
}

// Rectangles [x, y, w, h]: how much two of them overlap (area).
function overlap(a, b) {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  return w > 0 && h > 0 ? w * h : 0;
}

const ZOOM_MIN = 0.3, ZOOM_MAX = 40, ZOOM_STEP = 1.5;
const MARGIN = 10;  // px kept free around the words a look-up shows
const FONT = "12px system-ui, sans-serif", BOLD = "600 12px system-ui, sans-serif";
// Where a label may go, relative to its point (x, y): its top-left corner is at
// (x + dx - k * w, y + dy) for a label w px wide. Right of the point first, as readers expect.
const SPOTS = [[7, -17, 0], [7, 3, 0], [-7, -17, 1], [-7, 3, 1], [0, -22, 0.5], [0, 8, 0.5]];
const FIT_ZOOM_MAX = 16;  // a look-up zooms in at most this far
const LABEL_H = 15;

function render({ model, el }) {
  const data = model.get("data");
  const n = data.words.length, d = data.dim;
  const xyz = data.xyz, words = data.words;
  const index = new Map();
  words.forEach((w, i) => { if (!index.has(w)) index.set(w, i); });
  const u = unitVectors(data.vectors, n, d);
  const evr = data.explained_variance;

  const root = document.createElement("div");
  root.className = "tinylm-widget tinylm-projector";
  root.innerHTML = `
    ${data.title ? `<div class="tpj-title">${esc(data.title)}</div>` : ""}
    <div class="tpj-body">
      <div class="tpj-view">
        <div class="tpj-tools">
          <span class="tpj-note">drag to rotate</span>
          <button type="button" class="tpj-zoom-out" title="zoom out"
                  aria-label="zoom out">&minus;</button>
          <button type="button" class="tpj-zoom-in" title="zoom in"
                  aria-label="zoom in">+</button>
          <button type="button" class="tpj-reset" title="reset the view">reset view</button>
        </div>
        <canvas class="tpj-canvas" role="img" tabindex="0"
          aria-label="3-D PCA projection of ${n} word vectors; drag to rotate; wheel, pinch,
          the + and - keys or buttons to zoom">
        </canvas>
      </div>
      <div class="tpj-side">
        <label class="tpj-label">find a word
          <input class="tpj-search" type="search" list="tpj-list-${data.uid}"
                 spellcheck="false" autocomplete="off" placeholder="type a word"></label>
        <div class="tpj-head">nearest neighbours <span class="tpj-note">(cosine, ${d}-D)</span>
        </div>
        <datalist id="tpj-list-${data.uid}"></datalist>
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
  const canvas = $(".tpj-canvas"), message = $(".tpj-message");
  const hover = tooltip($(".tpj-view"), "tpj-hover");
  const search = $(".tpj-search"), ins = [$(".tpj-a"), $(".tpj-b"), $(".tpj-c")];
  fillDatalist($("datalist"), words.slice(0, 1000));
  $(".tpj-caption").textContent = `PCA of the ${n} most frequent of ${data.total} words `
    + `(unit vectors, ${d}-D) to 3-D: the axes keep ${evr.map(pct).join(", ")} of the `
    + `variance (${pct(evr[0] + evr[1] + evr[2])} in all). Distances in the plot are only a `
    + `shadow of the ${d}-D ones that neighbours and analogies use. Drag to rotate; zoom `
    + `with the wheel, a pinch or the + and \u2212 buttons; click a point to look it up.`;

  // ---- the 3-D view: points scaled into the unit ball, a camera orbiting a target point ----
  let radius = 1e-12;
  for (let i = 0; i < n; i++) {
    radius = Math.max(radius, Math.hypot(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]));
  }
  const P = new Float64Array(3 * n).map((_, k) => xyz[k] / radius);
  const DIST = 3.2;  // camera distance from the target, in units of the cloud's radius
  const HOME = { yaw: 0.6, pitch: 0.35, zoom: 1, target: [0, 0, 0] };
  const view = { ...HOME, target: HOME.target.slice() };
  const marks = new Map();  // index -> role: word, near, input, answer, mark
  for (const i of data.highlight) marks.set(i, "mark");
  const screen = new Float64Array(3 * n);  // x, y (CSS px) and depth of every point
  let order = [], hoverIndex = -1, width = 0, height = 0, anim = null;
  let labels = [];  // the labels of the last draw: {word, role, x, y, w, h} in CSS px
  // The words the last look-up showed, kept in view (after a resize, say) until the reader
  // moves the view: {points: [indices], centre: index or -1}.
  let fit = null;

  function rotate(x0, y0, z0) {  // yaw about the y axis, then pitch about the x axis
    const [cy, sy, cp, sp] = [Math.cos(view.yaw), Math.sin(view.yaw),
                              Math.cos(view.pitch), Math.sin(view.pitch)];
    const x1 = cy * x0 + sy * z0, z1 = -sy * x0 + cy * z0;
    return [x1, cp * y0 - sp * z1, sp * y0 + cp * z1];
  }
  function baseScale() { return 0.5 * Math.min(width, height) * 0.95; }

  function project() {
    const scale = baseScale() * view.zoom;
    for (let i = 0; i < n; i++) {
      const [x1, y2, z2] = rotate(P[3 * i] - view.target[0], P[3 * i + 1] - view.target[1],
                                  P[3 * i + 2] - view.target[2]);
      const depth = DIST + z2, f = depth > 0.05 ? DIST / depth : -1;
      screen[3 * i] = width / 2 + scale * x1 * f;
      screen[3 * i + 1] = height / 2 - scale * y2 * f;
      screen[3 * i + 2] = f > 0 ? depth : -1;
    }
    order = [...Array(n).keys()].filter((i) => screen[3 * i + 2] > 0)
      .sort((a, b) => screen[3 * b + 2] - screen[3 * a + 2]);  // far to near
  }

  function axes(ctx, color) {  // a small PC1/PC2/PC3 gizmo in the bottom-left corner
    const ox = 34, oy = height - 30;
    ctx.font = "10px system-ui, sans-serif";
    for (let a = 0; a < 3; a++) {
      const v = [0, 0, 0]; v[a] = 1;
      const [x1, y2] = rotate(...v);
      ctx.strokeStyle = ctx.fillStyle = color;
      ctx.beginPath(); ctx.moveTo(ox, oy); ctx.lineTo(ox + 18 * x1, oy - 18 * y2); ctx.stroke();
      const len = Math.hypot(x1, y2);  // an axis pointing at the viewer gets no label
      if (len > 0.3) ctx.fillText(`PC${a + 1}`, ox + x1 * (18 + 12 / len) - 8,
                                  oy - y2 * (18 + 8 / len) + 3);
    }
  }

  // Place the labels of the marked points, most important first, where they overlap nothing
  // placed before and stay on the canvas (or, if no spot is free, where they overlap least).
  const rank = { word: 0, answer: 1, input: 2, near: 3, mark: 4 };
  function placeLabels(ctx, shown) {
    const placed = [];
    const dots = shown.map((i) => ({ i, heavy: marks.get(i) === "word" ? 50 : 1,
                                     rect: [screen[3 * i] - 6, screen[3 * i + 1] - 6, 12, 12] }));
    for (const i of shown) {
      const role = marks.get(i), x = screen[3 * i], y = screen[3 * i + 1];
      ctx.font = role === "word" || role === "answer" ? BOLD : FONT;
      const w = ctx.measureText(words[i]).width + 4;
      let best = null, bestCost = Infinity;
      for (const [dx, dy, k] of SPOTS) {
        const r = [x + dx - k * w, y + dy, w, LABEL_H];
        const outside = (r[0] < 2 || r[1] < 2 || r[0] + w > width - 2
                         || r[1] + LABEL_H > height - 2) ? 1e6 : 0;
        let cost = outside;
        for (const p of placed) cost += overlap(r, p.rect) * (p.role === "word" ? 50 : 10);
        for (const dot of dots) if (dot.i !== i) cost += overlap(r, dot.rect) * dot.heavy;
        if (cost < bestCost) { best = r; bestCost = cost; }
        if (cost === 0) break;
      }
      placed.push({ i, role, rect: best });
    }
    return placed;
  }

  function draw() {
    const colors = palette(root);
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 480, h = canvas.clientHeight || 420;
    const resized = w !== width || h !== height;
    width = w; height = h;
    if (resized && fit && !anim) applyFit();  // keep the looked-up words in view
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
      ctx.fillStyle = colors.point((0.18 + 0.5 * t).toFixed(3));
      ctx.beginPath();
      ctx.arc(screen[3 * i], screen[3 * i + 1], (1.4 + 1.6 * t) * Math.pow(view.zoom, 0.25),
              0, 2 * Math.PI);
      ctx.fill();
    }
    // marked points on top of the cloud, the most important last; their labels on top of all
    const shown = order.filter((i) => marks.has(i))
      .sort((a, b) => rank[marks.get(a)] - rank[marks.get(b)] || a - b);
    for (const i of shown.slice().reverse()) {
      const role = marks.get(i);
      ctx.fillStyle = colors[role];
      ctx.beginPath();
      ctx.arc(screen[3 * i], screen[3 * i + 1], role === "word" || role === "answer" ? 5 : 4,
              0, 2 * Math.PI);
      ctx.fill();
    }
    if (hoverIndex >= 0 && !marks.has(hoverIndex) && screen[3 * hoverIndex + 2] > 0) {
      ctx.fillStyle = colors.mark;  // the hovered point: its word is in the tooltip
      ctx.beginPath();
      ctx.arc(screen[3 * hoverIndex], screen[3 * hoverIndex + 1], 4, 0, 2 * Math.PI);
      ctx.fill();
    }
    const placed = placeLabels(ctx, shown);
    ctx.lineJoin = "round";
    for (const { i, role, rect } of placed.slice().reverse()) {
      ctx.font = role === "word" || role === "answer" ? BOLD : FONT;
      ctx.fillStyle = colors[role];
      ctx.strokeStyle = colors.halo;
      ctx.lineWidth = 3;
      const [x, y] = [rect[0] + 2, rect[1] + LABEL_H - 3.5];
      ctx.strokeText(words[i], x, y);
      ctx.fillText(words[i], x, y);
    }
    labels = placed.map(({ i, role, rect }) => ({ word: words[i], role, x: rect[0],
                                                  y: rect[1], w: rect[2], h: rect[3] }));
    axes(ctx, colors.axis);
  }

  // ---- moving the view ----------------------------------------------------------------------
  function stopGlide() {
    if (anim) cancelAnimationFrame(anim);
    anim = null;
    delete root.dataset.moving;
  }
  function glide(to, ms = 400) {  // animate the target and the zoom to `to`
    const from = { target: view.target.slice(), zoom: view.zoom }, t0 = performance.now();
    stopGlide();
    root.dataset.moving = "1";
    const step = (now) => {
      const t = Math.min(1, (now - t0) / ms), e = t * t * (3 - 2 * t);
      view.target = from.target.map((v, k) => v + e * (to.target[k] - v));
      // zoom geometrically, so that zooming in and out take the same time
      view.zoom = from.zoom * Math.pow(to.zoom / from.zoom, e);
      anim = t < 1 ? requestAnimationFrame(step) : null;
      if (!anim) delete root.dataset.moving;
      draw();
    };
    anim = requestAnimationFrame(step);
  }

  // The target and zoom that show the points `fit.points` with their labels: centred on point
  // `fit.centre` (or on the middle of the points), zoomed as far in as they all still fit.
  function fitView() {
    const pts = fit.points, c = fit.centre;
    let target;
    if (c >= 0) target = [P[3 * c], P[3 * c + 1], P[3 * c + 2]];
    else {
      target = [0, 0, 0];
      for (const i of pts) for (let k = 0; k < 3; k++) target[k] += P[3 * i + k] / pts.length;
    }
    const ctx = canvas.getContext("2d"), s = baseScale();
    let zoom = FIT_ZOOM_MAX;
    for (const i of pts) {
      // at zoom 1 the point is (dx, dy) px from the centre; zooming scales both
      const [x1, y2, z2] = rotate(P[3 * i] - target[0], P[3 * i + 1] - target[1],
                                  P[3 * i + 2] - target[2]);
      const f = DIST / (DIST + z2), dx = s * x1 * f, dy = -s * y2 * f;
      ctx.font = marks.get(i) === "word" || marks.get(i) === "answer" ? BOLD : FONT;
      const room = ctx.measureText(words[i]).width + 13;  // its label, right of the point
      const limits = [dx > 0 ? (width / 2 - MARGIN - room) / dx : (width / 2 - MARGIN) / -dx,
                      dy < 0 ? (height / 2 - MARGIN - 20) / -dy : (height / 2 - MARGIN) / dy];
      for (const lim of limits) if (Number.isFinite(lim) && lim > 0) zoom = Math.min(zoom, lim);
    }
    return { target, zoom: Math.max(ZOOM_MIN, zoom) };
  }
  function applyFit() { Object.assign(view, fitView()); }
  function showFound(points, centre) {  // glide to the words a look-up found
    fit = { points, centre };
    if (!width) return;
    glide(fitView());
  }
  function zoomBy(factor) {
    stopGlide();
    fit = null;
    view.zoom = Math.max(ZOOM_MIN, Math.min(ZOOM_MAX, view.zoom * factor));
    draw();
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
        data-role="${role}" style="--tpj-s:${pct(Math.max(0, s))}"
        title="look up ${esc(words[i])}"><span class="tpj-w">${esc(words[i])}</span> `
      + `<span class="tpj-s">${s.toFixed(3)}</span></li>`).join("");
  }
  function clearRoles(...roles) {
    for (const [i, r] of [...marks]) if (roles.includes(r)) marks.delete(i);
    for (const i of data.highlight) if (!marks.has(i)) marks.set(i, "mark");
  }

  // One message line, about the latest look-up: an error, or nothing. A look-up that succeeds
  // clears it, whichever box the error came from; emptying a box clears only its own error.
  let said = "";  // which box the message is about: "search", "analogy" or ""
  function say(source, text) {
    message.textContent = text;
    said = text ? source : "";
  }
  function quiet(source) { if (said === source) say("", ""); }

  function lookUp() {
    const text = search.value.trim(), list = $(".tpj-neighbours");
    clearRoles("word", "near");
    list.innerHTML = "";
    if (!text) quiet("search");
    else {
      const i = find(text);
      if (i < 0) say("search", unknown(text));
      else {
        say("", "");
        const best = mostSimilar(u, n, d, u.subarray(i * d, (i + 1) * d),
                                 data.n_neighbours, new Set([i]));
        for (const [j] of best) marks.set(j, "near");
        marks.set(i, "word");
        list.innerHTML = rows(best, "tpj-neighbour", "near");
        showFound([i, ...best.map(([j]) => j)], i);
      }
    }
    draw();
  }

  function analogy() {
    const texts = ins.map((x) => x.value.trim()), out = $(".tpj-analogies");
    clearRoles("input", "answer");
    out.innerHTML = "";
    if (!texts.every(Boolean)) quiet("analogy");
    else {
      const idx = texts.map(find), missing = texts.filter((_, k) => idx[k] < 0);
      if (missing.length) say("analogy", missing.map(unknown).join(" "));
      else {
        say("", "");
        const [a, b, c] = idx, t = new Float64Array(d);
        for (let j = 0; j < d; j++) t[j] = u[b * d + j] - u[a * d + j] + u[c * d + j];
        const best = mostSimilar(u, n, d, t, 5, new Set(idx));
        for (const k of idx) marks.set(k, "input");
        marks.set(best[0][0], "answer");
        out.innerHTML = rows(best, "tpj-analogy-result", "answer");
        showFound([...idx, best[0][0]], -1);
      }
    }
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
  // One pointer drags (rotates); two pointers pinch (zoom), as on a phone.
  const pointers = new Map();  // pointerId -> [clientX, clientY]
  let drag = null, pinch = null;
  const spread = () => {
    const [[x1, y1], [x2, y2]] = [...pointers.values()];
    return Math.hypot(x2 - x1, y2 - y1) || 1;
  };
  canvas.addEventListener("pointerdown", (ev) => {
    pointers.set(ev.pointerId, [ev.clientX, ev.clientY]);
    try { canvas.setPointerCapture(ev.pointerId); } catch { /* a synthetic pointer */ }
    if (pointers.size === 2) {
      stopGlide();
      fit = null;
      drag = null;
      pinch = { spread: spread(), zoom: view.zoom };
    } else if (pointers.size === 1) {
      drag = { x: ev.clientX, y: ev.clientY, moved: false };
    }
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (pointers.has(ev.pointerId)) pointers.set(ev.pointerId, [ev.clientX, ev.clientY]);
    if (pinch && pointers.size === 2) {
      view.zoom = Math.max(ZOOM_MIN, Math.min(ZOOM_MAX, pinch.zoom * spread() / pinch.spread));
      draw();
      return;
    }
    if (drag) {
      const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 2) {
        if (!drag.moved) { stopGlide(); fit = null; }
        drag.moved = true;
      }
      if (!drag.moved) return;
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
    if (i < 0) hover.hide();
    else hover.show(words[i], x, y);
  });
  function release(ev) {
    pointers.delete(ev.pointerId);
    if (pointers.size < 2) pinch = null;
    const click = drag && !drag.moved && ev.type === "pointerup";
    if (pointers.size === 0) drag = null;
    if (click) {
      const [i] = pick(ev);
      if (i >= 0) { search.value = words[i]; lookUp(); }
    }
  }
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  canvas.addEventListener("pointerleave", () => {
    hover.hide();
    if (hoverIndex >= 0) { hoverIndex = -1; draw(); }
  });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    zoomBy(Math.exp(-ev.deltaY * 0.0015));
  }, { passive: false });
  canvas.addEventListener("keydown", (ev) => {
    const turn = { ArrowLeft: [-0.1, 0], ArrowRight: [0.1, 0], ArrowUp: [0, -0.1],
                   ArrowDown: [0, 0.1] }[ev.key];
    if (ev.key === "+" || ev.key === "=") zoomBy(ZOOM_STEP);
    else if (ev.key === "-") zoomBy(1 / ZOOM_STEP);
    else if (turn) {
      view.yaw += turn[0];
      view.pitch = Math.max(-1.5, Math.min(1.5, view.pitch + turn[1]));
      draw();
    } else return;
    ev.preventDefault();
  });
  $(".tpj-zoom-in").addEventListener("click", () => zoomBy(ZOOM_STEP));
  $(".tpj-zoom-out").addEventListener("click", () => zoomBy(1 / ZOOM_STEP));
  $(".tpj-reset").addEventListener("click", () => {
    stopGlide();
    fit = null;
    Object.assign(view, { ...HOME, target: HOME.target.slice() });
    draw();
  });

  // For tests and curious readers: where each drawn point is, in CSS px from the canvas corner,
  // the current zoom, and the labels drawn (each with its box).
  root.tpjPositions = () => order.map((i) => [words[i], screen[3 * i], screen[3 * i + 1]]);
  root.tpjZoom = () => view.zoom;
  root.tpjLabels = () => labels.map((l) => ({ ...l }));
  const stopRedrawing = redrawOn(canvas, draw);  // a resize or a theme switch redraws
  draw();
  if (data.search) {  // the page opens on a look-up: the word, its neighbours, in view
    search.value = data.search;
    lookUp();
    stopGlide();
    if (fit && width) applyFit();
    draw();
  }
  return () => { stopGlide(); stopRedrawing(); };
}

export default { render };
