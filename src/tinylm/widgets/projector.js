// The embedding projector: word vectors in 3-D (their first three principal components, from
// projector.py), a search box that lists a word's nearest neighbours and an analogy box
// (a : b :: c : ?). Neighbours and analogies compare the full d-dimensional vectors, here in the
// browser, not the 3-D shadows in the plot.
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
        <canvas class="tpj-canvas" role="img" tabindex="0"
          aria-label="3-D PCA projection of ${n} word vectors; drag to rotate, wheel to zoom">
        </canvas>
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
  const canvas = $(".tpj-canvas"), message = $(".tpj-message");
  const hover = tooltip($(".tpj-view"), "tpj-hover");
  const search = $(".tpj-search"), ins = [$(".tpj-a"), $(".tpj-b"), $(".tpj-c")];
  fillDatalist($("datalist"), words.slice(0, 1000));
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
  const screen = new Float64Array(3 * n);  // x, y (CSS px) and depth of every point
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

  function axes(ctx, color) {  // a small PC1/PC2/PC3 gizmo in the bottom-left corner
    const [cy, sy, cp, sp] = [Math.cos(view.yaw), Math.sin(view.yaw),
                              Math.cos(view.pitch), Math.sin(view.pitch)];
    const ox = 34, oy = height - 30;
    ctx.font = "10px system-ui, sans-serif";
    for (let a = 0; a < 3; a++) {
      const v = [0, 0, 0]; v[a] = 1;
      const x1 = cy * v[0] + sy * v[2], z1 = -sy * v[0] + cy * v[2];
      const y2 = cp * v[1] - sp * z1;
      ctx.strokeStyle = ctx.fillStyle = color;
      ctx.beginPath(); ctx.moveTo(ox, oy); ctx.lineTo(ox + 18 * x1, oy - 18 * y2); ctx.stroke();
      const len = Math.hypot(x1, y2);  // an axis pointing at the viewer gets no label
      if (len > 0.3) ctx.fillText(`PC${a + 1}`, ox + x1 * (18 + 12 / len) - 8,
                                  oy - y2 * (18 + 8 / len) + 3);
    }
  }

  function draw() {
    const colors = palette(root);
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
      ctx.fillStyle = colors.point((0.18 + 0.5 * t).toFixed(3));
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
      ctx.fillStyle = i === hoverIndex && !marks.has(i) ? colors.mark : colors[role];
      ctx.beginPath();
      ctx.arc(x, y, role === "word" || role === "answer" ? 5 : 4, 0, 2 * Math.PI);
      ctx.fill();
      if (i === hoverIndex && !marks.has(i)) continue;  // the hover label names it
      ctx.font = (role === "word" || role === "answer" ? "600 " : "") + "12px system-ui";
      ctx.strokeStyle = colors.halo;
      ctx.lineWidth = 3;
      ctx.strokeText(words[i], x + 7, y - 5);
      ctx.fillText(words[i], x + 7, y - 5);
    }
    axes(ctx, colors.axis);
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
        data-role="${role}" style="--tpj-s:${pct(Math.max(0, s))}"
        title="look up ${esc(words[i])}"><span class="tpj-w">${esc(words[i])}</span> `
      + `<span class="tpj-s">${s.toFixed(3)}</span></li>`).join("");
  }
  function clearRoles(...roles) {
    for (const [i, r] of [...marks]) if (roles.includes(r)) marks.delete(i);
    for (const i of data.highlight) if (!marks.has(i)) marks.set(i, "mark");
  }

  const state = { search: "", analogy: "" };
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
    if (i < 0) hover.hide();
    else hover.show(words[i], x, y);
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
    hover.hide();
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
  const stopRedrawing = redrawOn(canvas, draw);  // a resize or a theme switch redraws
  draw();
  return () => { stopGlide(); stopRedrawing(); };
}

export default { render };
