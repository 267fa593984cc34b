// The automaton explorer: a regex's automaton, the state reached as text grows token by token,
// and the mask of the tokens allowed next. The state (see automaton.py) holds the vocabulary
// (every token id's label and bytes) and, per automaton, either its byte-level DFA (small ones:
// the page computes every mask itself, so the reader can extend the path with any allowed token)
// or the recorded steps of one path (large ones: per step the state and a bitmask of the
// allowed ids). A step k is the situation after the first k tokens of the path.
import { bytesOf, cssVar, html, redrawOn, svg, tooltip } from "./common.js";

const MAP_COLUMNS = 64;  // the mask map: one square per token id, 64 per row
const CELL = 4;          // px per square
const RADIUS = 15;       // px, a state's circle
const COLUMN = 86;       // px between columns of the graph
const ROW = 62;          // px between rows
const MARGIN = 34;       // px left and right of the graph (room for the start arrow)
const DEAD = 0;

// ---- the vocabulary and the automata ---------------------------------------------------------

function vocabulary(data) {
  const lengths = bytesOf(data.token_lengths), bytes = bytesOf(data.token_bytes);
  const offsets = new Int32Array(lengths.length + 1);
  for (let i = 0; i < lengths.length; i++) offsets[i + 1] = offsets[i] + lengths[i];
  return { size: data.vocab_size, eos: data.eos, labels: data.labels, lengths, bytes, offsets };
}

// The k evenly spaced items of an ascending list (all of them if there are at most k), as
// tinylm.widgets.automaton.sample_ids picks them.
function sampleIds(allowed, k) {
  const n = allowed.length;
  if (n <= k) return allowed.slice();
  const out = [];
  for (let i = 0; i < k; i++) out.push(allowed[Math.floor((i * (n - 1)) / (k - 1))]);
  return out;
}

// A small automaton: its byte DFA, walked here. maskOf(state) is a Uint8Array over the ids.
function liveAutomaton(a, vocab) {
  const table = bytesOf(a.dfa), finals = new Set(a.finals), masks = new Map();
  function walk(state, id) {
    const end = vocab.offsets[id + 1];
    for (let j = vocab.offsets[id]; j < end && state !== DEAD; j++) {
      state = table[state * 256 + vocab.bytes[j]];
    }
    return state;
  }
  return {
    initial: a.initial,
    isFinal: (state) => finals.has(state),
    next(state, id) {
      if (id === vocab.eos) return finals.has(state) ? state : null;
      if (vocab.lengths[id] === 0 || state === DEAD) return null;
      const s = walk(state, id);
      return s === DEAD ? null : s;
    },
    maskOf(state) {
      if (!masks.has(state)) {
        const mask = new Uint8Array(vocab.size);
        if (state !== DEAD) {
          for (let id = 0; id < vocab.size; id++) {
            if (id === vocab.eos) mask[id] = finals.has(state) ? 1 : 0;
            else if (vocab.lengths[id] > 0) mask[id] = walk(state, id) !== DEAD ? 1 : 0;
          }
        }
        masks.set(state, mask);
      }
      return masks.get(state);
    },
  };
}

// The mask of a recorded step: bit i % 8 of byte i // 8 is token i.
function unpackMask(b64, size) {
  const packed = bytesOf(b64), mask = new Uint8Array(size);
  for (let i = 0; i < size; i++) mask[i] = (packed[i >> 3] >> (i & 7)) & 1;
  return mask;
}

// Everything shown for step k of the current path.
function stepInfo(view, k, vocab) {
  const a = view.spec;
  let state, mask;
  if (a.live) {
    state = view.states[k];
    mask = view.live.maskOf(state);
  } else {
    state = a.steps[k].state;
    if (!view.masks[k]) view.masks[k] = unpackMask(a.steps[k].mask, vocab.size);
    mask = view.masks[k];
  }
  const allowed = [];
  for (let id = 0; id < mask.length; id++) if (mask[id]) allowed.push(id);
  return { state, mask, allowed, final: mask[vocab.eos] === 1 };
}

// ---- drawing -----------------------------------------------------------------------------------

// A point on the quadratic curve of an edge, and its control point, in px.
function edgeGeometry(from, to, bend) {
  const dx = to.px - from.px, dy = to.py - from.py;
  const cx = (from.px + to.px) / 2 - bend * dy, cy = (from.py + to.py) / 2 + bend * dx;
  const towards = (p, q) => {
    const d = Math.hypot(q[0] - p.px, q[1] - p.py) || 1;
    return [p.px + (RADIUS * (q[0] - p.px)) / d, p.py + (RADIUS * (q[1] - p.py)) / d];
  };
  const start = towards(from, [cx, cy]), end = towards(to, [cx, cy]);
  const mid = [0.25 * start[0] + 0.5 * cx + 0.25 * end[0], 0.25 * start[1] + 0.5 * cy + 0.25 * end[1]];
  return { d: `M${start[0]},${start[1]} Q${cx},${cy} ${end[0]},${end[1]}`, mid };
}

function drawGraph(host, graph, uid) {
  host.replaceChildren();
  // Lay the states out in px, then find how far the loops and the bowed edges reach above
  // and below them, so that the picture has room for all of it.
  const minRow = Math.min(...graph.nodes.map((n) => n.y));
  const at = new Map();
  for (const n of graph.nodes) {
    at.set(n.id, { px: MARGIN + 20 + n.x * COLUMN, py: (n.y - minRow) * ROW });
  }
  let low = -RADIUS, high = RADIUS;
  for (const e of graph.edges) {
    const from = at.get(e.from), to = at.get(e.to);
    if (e.from === e.to) {
      const reach = from.py + (e.loop === "down" ? 1 : -1) * 56;
      low = Math.min(low, reach);
      high = Math.max(high, reach);
    } else {
      const mid = edgeGeometry(from, to, e.bend).mid[1];
      low = Math.min(low, mid - 12);
      high = Math.max(high, mid + 12);
    }
  }
  const shift = 10 - low;  // px above the highest point
  for (const p of at.values()) p.py += shift;
  const width = 2 * MARGIN + (graph.columns - 1) * COLUMN + 20;
  const height = Math.ceil(high - low + 20);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "tam-graph-svg",
                            role: "img", "aria-label": "the automaton's states and transitions" },
                   host);
  root.style.maxWidth = `${Math.round(1.35 * width)}px`;
  const defs = svg("defs", {}, root);
  const marker = svg("marker", { id: `tam-arrow-${uid}`, viewBox: "0 0 10 10", refX: 9, refY: 5,
                                 markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
                     defs);
  svg("path", { d: "M0,0 L10,5 L0,10 z", class: "tam-arrowhead" }, marker);
  const arrow = `url(#tam-arrow-${uid})`;
  const edges = svg("g", { class: "tam-edges" }, root);
  const labels = svg("g", { class: "tam-labels" }, root);
  for (const e of graph.edges) {
    const from = at.get(e.from), to = at.get(e.to);
    let d, mid;
    if (e.from === e.to) {  // a loop above the state (below if another state sits above it)
      const { px, py } = from, up = e.loop === "down" ? -1 : 1;
      d = `M${px - 7},${py - up * (RADIUS - 2)} C${px - 26},${py - up * 52} ` +
          `${px + 26},${py - up * 52} ${px + 7},${py - up * (RADIUS - 2)}`;
      mid = [px, py - up * 44 + (up < 0 ? 4 : 0)];
    } else {
      ({ d, mid } = edgeGeometry(from, to, e.bend));
    }
    const path = svg("path", { d, class: "tam-edge", "marker-end": arrow }, edges);
    path.dataset.from = e.from;
    path.dataset.to = e.to;
    const text = svg("text", { x: mid[0], y: mid[1] + 4, class: "tam-edge-label",
                               "text-anchor": "middle" }, labels);
    text.textContent = e.label;
  }
  const start = at.get(graph.initial);
  svg("path", { d: `M${start.px - RADIUS - 24},${start.py} L${start.px - RADIUS - 1},${start.py}`,
                class: "tam-edge", "marker-end": arrow }, edges);
  const nodes = new Map();
  const group = svg("g", { class: "tam-nodes" }, root);
  for (const n of graph.nodes) {
    const { px, py } = at.get(n.id);
    const g = svg("g", { class: "tam-node" + (n.final ? " tam-final" : "") }, group);
    g.dataset.state = n.id;
    svg("circle", { cx: px, cy: py, r: RADIUS, class: "tam-circle" }, g);
    if (n.final) svg("circle", { cx: px, cy: py, r: RADIUS - 4, class: "tam-ring" }, g);
    const label = svg("text", { x: px, y: py + 4, "text-anchor": "middle", class: "tam-node-label" }, g);
    label.textContent = n.id;
    nodes.set(n.id, g);
  }
  return nodes;
}

// The number of allowed tokens at every step of the path, as bars (log scale); a click jumps.
function drawStrip(host, counts, current, size, onPick) {
  host.replaceChildren();
  const n = counts.length, width = Math.max(120, Math.min(720, 7 * n)), height = 46;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "tam-strip-svg",
                            preserveAspectRatio: "none", role: "img",
                            "aria-label": "allowed tokens at each step" }, host);
  const w = width / n, top = Math.log(size + 1);
  counts.forEach((c, k) => {
    const h = Math.max(1.5, ((height - 4) * Math.log(c + 1)) / top);
    const bar = svg("rect", { x: k * w + 0.5, y: height - h, width: Math.max(1, w - 1), height: h,
                              class: "tam-bar" + (k === current ? " tam-bar-current" : "") }, root);
    bar.dataset.step = k;
    svg("title", {}, bar).textContent = `step ${k}: ${c.toLocaleString("en")} allowed`;
    bar.addEventListener("click", () => onPick(k));
  });
}

function drawMap(canvas, info, next, vocab) {
  const rows = Math.ceil(vocab.size / MAP_COLUMNS);
  const ratio = window.devicePixelRatio || 1;
  canvas.width = MAP_COLUMNS * CELL * ratio;
  canvas.height = rows * CELL * ratio;
  canvas.style.width = `${MAP_COLUMNS * CELL}px`;
  canvas.style.height = `${rows * CELL}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const on = cssVar(canvas, "--tinylm-accent", "#4c78a8");
  const off = cssVar(canvas, "--tinylm-track", "#f3f3f3");
  const special = cssVar(canvas, "--tinylm-dim", "#999");
  const pick = cssVar(canvas, "--tinylm-highlight", "#f58518");
  for (let id = 0; id < vocab.size; id++) {
    ctx.fillStyle = id === next ? pick : info.mask[id] ? on
      : vocab.lengths[id] === 0 && id !== vocab.eos ? special : off;
    ctx.fillRect((id % MAP_COLUMNS) * CELL, Math.floor(id / MAP_COLUMNS) * CELL, CELL - 0.6, CELL - 0.6);
  }
}

// ---- the widget --------------------------------------------------------------------------------

let widgets = 0;

function render({ model, el }) {
  const data = model.get("data");
  const vocab = vocabulary(data);
  const uid = ++widgets;
  const views = data.automata.map((spec) => ({
    spec, path: spec.path.slice(), step: 0, states: null, masks: [],
    live: spec.live ? liveAutomaton(spec, vocab) : null,
  }));
  const fmt = (x) => x.toLocaleString("en");
  const label = (id) => vocab.labels[id];

  const root = html("div", "tinylm-widget tinylm-automaton", undefined, el);
  if (data.title) html("div", "tam-title", data.title, root);
  const picker = html("div", "tam-picker", undefined, root);
  picker.setAttribute("role", "group");
  picker.setAttribute("aria-label", "automaton");
  const buttons = views.map((v, i) => {
    const b = html("button", "tam-pick", v.spec.name, picker);
    b.type = "button";
    b.addEventListener("click", () => select(i));
    return b;
  });
  const regexBox = html("div", "tam-regex", undefined, root);
  const note = html("div", "tam-note", "", root);
  const graphHost = html("div", "tam-graph", undefined, root);
  const summary = html("div", "tam-summary", "", root);
  const stripHost = html("div", "tam-strip", undefined, root);

  const controls = html("div", "tam-controls", undefined, root);
  const prev = html("button", "tam-prev", "\u25c0", controls);
  prev.type = "button";
  prev.title = "one token back";
  prev.setAttribute("aria-label", prev.title);
  const slider = html("input", "tam-step", undefined, controls);
  slider.type = "range";
  slider.min = 0;
  slider.setAttribute("aria-label", "tokens read");
  const next = html("button", "tam-next", "\u25b6", controls);
  next.type = "button";
  next.title = "one token on";
  next.setAttribute("aria-label", next.title);
  const stepText = html("span", "tam-step-value", "", controls);
  const reset = html("button", "tam-reset", "reset path", controls);
  reset.type = "button";

  const text = html("div", "tam-text", undefined, root);
  const stateLine = html("div", "tam-state", "", root);
  stateLine.setAttribute("aria-live", "polite");
  const body = html("div", "tam-body", undefined, root);
  const mapBox = html("div", "tam-map-box", undefined, body);
  const map = html("canvas", "tam-map", undefined, mapBox);
  map.setAttribute("role", "img");
  html("div", "tam-map-caption",
       "every token id, 0 at the top left to " + fmt(vocab.size - 1) + " at the bottom right: " +
       "blue allowed, orange the path's next token", mapBox);
  const tip = tooltip(mapBox);
  const side = html("div", "tam-side", undefined, body);
  const count = html("div", "tam-count", "", side);
  const meter = html("div", "tam-meter", undefined, side);
  const meterFill = html("div", "tam-meter-fill", undefined, meter);
  const hint = html("div", "tam-hint", "", side);
  const samples = html("div", "tam-samples", undefined, side);

  let current = 0, nodes = new Map(), info = null;

  function view() { return views[current]; }

  function computeStates(v) {  // live automata: the states along the path
    if (!v.spec.live) return;
    v.states = [v.live.initial];
    for (const id of v.path) v.states.push(v.live.next(v.states[v.states.length - 1], id));
  }

  function select(i) {
    current = i;
    const v = view(), a = v.spec;
    buttons.forEach((b, j) => b.setAttribute("aria-pressed", String(j === i)));
    regexBox.textContent = a.regex;
    note.textContent = a.note;
    note.hidden = !a.note;
    if (a.live && a.graph) {
      nodes = drawGraph(graphHost, a.graph, uid);
      graphHost.hidden = false;
      stripHost.hidden = true;
      summary.textContent = `${fmt(a.n_char_states)} states over characters; ` +
        `${fmt(a.n_states)} over bytes (with the dead state 0 and the states inside a character).`;
    } else {
      nodes = new Map();
      graphHost.replaceChildren();
      graphHost.hidden = true;
      stripHost.hidden = false;
      summary.textContent = `${fmt(a.n_char_states)} states over characters, ${fmt(a.n_states)} ` +
        "over bytes: too many to draw. The bars show how many tokens each step of the path " +
        "allows (log scale); click one to jump there.";
    }
    computeStates(v);
    show(Math.min(v.step, v.path.length));
  }

  function show(k) {
    const v = view(), a = v.spec, last = v.path.length;
    v.step = k;
    info = stepInfo(v, k, vocab);
    const upcoming = k < last ? v.path[k] : null;
    slider.max = last;
    slider.value = k;
    stepText.textContent = `step ${k} of ${last}`;
    prev.disabled = k === 0;
    next.disabled = k === last;
    reset.hidden = !a.live;
    reset.disabled = v.path.length === a.path.length && v.path.every((id, j) => id === a.path[j]);

    text.replaceChildren();
    v.path.slice(0, k).forEach((id, j) => {
      const chip = html("span", `tam-token tam-c${j % 2}`, label(id), text);
      chip.dataset.id = id;
      chip.title = `id ${id}`;
    });
    html("span", "tam-caret", "\u2502", text);
    if (upcoming !== null) {
      const chip = html("span", "tam-token tam-upcoming", label(upcoming), text);
      chip.dataset.id = upcoming;
      chip.title = `the path's next token, id ${upcoming}`;
    }

    const charState = info.state >= 1 && info.state <= a.n_char_states ? info.state - 1 : null;
    stateLine.dataset.state = info.state;
    stateLine.dataset.final = String(info.final);
    let where = `state ${fmt(info.state)} of the byte DFA`;
    if (a.live && a.graph) {
      where = charState !== null ? `state ${charState} of the graph (byte state ${info.state})`
        : `byte state ${info.state}: inside a character, between its UTF-8 bytes (no state of the ` +
          "graph)";
    }
    stateLine.textContent = where + (info.final
      ? ". The text so far is a whole match: </s> is allowed." : ".");
    for (const [id, g] of nodes) {
      g.classList.toggle("tam-current", id === charState);
      g.classList.remove("tam-target");
    }

    count.dataset.allowed = info.allowed.length;
    const share = (100 * info.allowed.length) / vocab.size;
    count.innerHTML = `<b>${fmt(info.allowed.length)}</b> of ${fmt(vocab.size)} tokens allowed ` +
      `(${share >= 1 || share === 0 ? share.toFixed(1) : share.toPrecision(2)}%)`;
    meterFill.style.width = `${(100 * info.allowed.length) / vocab.size}%`;
    hint.textContent = a.live ? "a sample of them (click one to append it to the path):"
      : "a sample of them (a recorded path: this automaton is too big to embed whole):";
    samples.replaceChildren();
    for (const id of sampleIds(info.allowed, data.samples)) {
      const isEos = id === vocab.eos;
      const chip = html(a.live && !isEos ? "button" : "span",
                        "tam-sample" + (id === upcoming ? " tam-next-token" : "") +
                        (isEos ? " tam-eos" : ""), undefined, samples);
      chip.dataset.id = id;
      html("span", "tam-sample-label", label(id), chip);
      html("span", "tam-sample-id", String(id), chip);
      if (a.live && !isEos) {
        chip.type = "button";
        chip.title = `append token ${id}`;
        chip.addEventListener("click", () => extend(id));
        chip.addEventListener("mouseenter", () => target(id, true));
        chip.addEventListener("mouseleave", () => target(id, false));
      }
    }
    map.setAttribute("aria-label", `mask: ${info.allowed.length} of ${vocab.size} token ids allowed`);
    drawMap(map, info, upcoming, vocab);
    if (!stripHost.hidden) drawStrip(stripHost, countsAlong(v), k, vocab.size, (j) => show(j));
  }

  function countsAlong(v) {
    const out = [];
    for (let j = 0; j <= v.path.length; j++) {
      if (v.spec.live) {
        const mask = v.live.maskOf(v.states[j]);
        let c = 0;
        for (let id = 0; id < mask.length; id++) c += mask[id];
        out.push(c);
      } else out.push(stepInfo(v, j, vocab).allowed.length);
    }
    return out;
  }

  function target(id, on) {  // light up the state a token leads to
    const v = view(), to = v.live.next(info.state, id);
    const charState = to !== null && to >= 1 && to <= v.spec.n_char_states ? to - 1 : null;
    if (nodes.has(charState)) nodes.get(charState).classList.toggle("tam-target", on);
  }

  function extend(id) {
    const v = view(), k = v.step;
    v.path = v.path.slice(0, k).concat([id]);
    computeStates(v);
    show(k + 1);
  }

  map.addEventListener("mousemove", (event) => {
    if (!info) return;
    const box = map.getBoundingClientRect();
    const col = Math.floor((event.clientX - box.left) / CELL);
    const row = Math.floor((event.clientY - box.top) / CELL);
    const id = row * MAP_COLUMNS + col;
    if (col < 0 || col >= MAP_COLUMNS || id < 0 || id >= vocab.size) { tip.hide(); return; }
    const parent = mapBox.getBoundingClientRect();
    tip.show(`${id} ${label(id)}: ${info.mask[id] ? "allowed" : "masked"}`,
             event.clientX - parent.left, event.clientY - parent.top);
  });
  map.addEventListener("mouseleave", () => tip.hide());
  slider.addEventListener("input", () => show(Number(slider.value)));
  prev.addEventListener("click", () => show(Math.max(0, view().step - 1)));
  next.addEventListener("click", () => show(Math.min(view().path.length, view().step + 1)));
  reset.addEventListener("click", () => {
    const v = view();
    v.path = v.spec.path.slice();
    computeStates(v);
    show(Math.min(v.step, v.path.length));
  });

  function upcomingOf() {
    const v = view();
    return v.step < v.path.length ? v.path[v.step] : null;
  }

  views.forEach((v) => { v.step = data.step; });
  select(Math.min(data.selected, views.length - 1));
  return redrawOn(root, () => { if (info) drawMap(map, info, upcomingOf(), vocab); });
}

export default { render };
