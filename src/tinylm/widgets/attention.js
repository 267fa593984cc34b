// The attention viewer: a thumbnail per head of the chosen layer, the chosen head enlarged,
// and the weight of any (query, key) cell under the pointer. Weights come as bytes
// (255 = 1.0, see attention.py); a cell is the accent colour with the weight as its opacity.
import { alphaScale, bytesOf, cssVar, esc, html, redrawOn } from "./common.js";

function render({ model, el }) {
  const data = model.get("data");
  const W = bytesOf(data.weights), T = data.tokens.length, H = data.n_heads, L = data.n_layers;
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
  const main = root.querySelector(".tav-main");
  let head = 0;
  // A cell of the enlarged head is at most `largest` px (18, less for long texts) and shrinks to
  // fit the width available, down to 6 px: on a phone the whole grid shows without scrolling.
  const pad = 70, largest = Math.max(6, Math.min(18, Math.floor(420 / T)));
  let cell = largest;

  function fit() {  // choose the cell size for the width of the box; resize the canvas to it
    const room = main.clientWidth;  // 0 until the widget is laid out
    cell = room > 0 ? Math.max(6, Math.min(largest, Math.floor((room - pad) / T))) : largest;
    if (canvas.width !== pad + T * cell) canvas.width = canvas.height = pad + T * cell;
  }

  // The colours, from the theme (common.css), read at every draw.
  const weightColor = () => alphaScale(cssVar(root, "--tinylm-accent"));

  function paintThumb(c, l, h) {
    const s = c.width / T, color = weightColor(), ctx = c.getContext("2d");
    ctx.clearRect(0, 0, c.width, c.height);
    for (let q = 0; q < T; q++) for (let k = 0; k < T; k++) {
      ctx.fillStyle = color(at(l, h, q, k)); ctx.fillRect(k * s, q * s, s, s);
    }
  }

  function thumb(l, h) {
    const c = html("canvas", "tav-thumb" + (h === head ? " tav-selected" : ""));
    c.width = c.height = T * Math.max(1, Math.floor(64 / T));
    c.title = `head ${h}`; c.dataset.head = h;
    paintThumb(c, l, h);
    c.addEventListener("click", () => { head = h; update(); });
    return c;
  }

  function draw(l) {
    const ctx = canvas.getContext("2d"), color = weightColor();
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.font = "11px sans-serif"; ctx.fillStyle = cssVar(root, "--tinylm-fg");
    for (let i = 0; i < T; i++) {
      const label = data.tokens[i].slice(0, 10);
      ctx.textAlign = "right"; ctx.fillText(label, pad - 4, pad + i * cell + cell * 0.75);
      ctx.save(); ctx.translate(pad + i * cell + cell * 0.75, pad - 4); ctx.rotate(-Math.PI / 3);
      ctx.textAlign = "left"; ctx.fillText(label, 0, 0); ctx.restore();
    }
    for (let q = 0; q < T; q++) for (let k = 0; k < T; k++) {
      ctx.fillStyle = color(at(l, head, q, k));
      ctx.fillRect(pad + k * cell, pad + q * cell, cell - 1, cell - 1);
    }
  }

  function update() {
    const l = parseInt(layer.value);
    root.querySelector(".tav-layer-value").textContent = `${l} of ${L - 1}`;
    heads.replaceChildren(...Array.from({ length: H }, (_, h) => thumb(l, h)));
    draw(l);
    info.textContent = `layer ${l}, head ${head}: each row is a query token, each column a key ` +
      `token it may attend to (causal: only earlier tokens); the stronger the colour, the more ` +
      "attention.";
  }

  function repaint() {  // the same view at the current width, in the current theme's colours
    const l = parseInt(layer.value);
    fit();
    for (const c of heads.children) paintThumb(c, l, Number(c.dataset.head));
    draw(l);
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
  fit();
  update();
  return redrawOn(main, repaint);  // laid out, resized, or a theme switch: fit and redraw
}

export default { render };
