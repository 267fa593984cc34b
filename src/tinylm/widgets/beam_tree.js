// The beam-tree viewer: every candidate a beam search scored, one column per step, ranked by
// cumulative score; kept, pruned and finished ones, each joined to the beam it extends, and
// the returned hypotheses in orange. The state (see beam_tree.py) lists the nodes already laid
// out by step and rank; everything here is drawing and hover/click details.
import { fmtScore, html, svg } from "./common.js";

const NODE_W = 112, NODE_H = 34, COL = 148, ROW = 44, PAD = 12, TOP = 30;

// Token text with its whitespace made visible: " the" is drawn as "␣the".
function visible(t) {
  return t.replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5");
}
function label(node) { return node.text ? visible(node.text) : `\u27e8${node.token_id}\u27e9`; }
function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }
function short(s, n) { return s.length > n ? s.slice(0, n - 1) + "\u2026" : s; }

function render({ model, el }) {
  const data = model.get("data");
  const nodes = data.nodes, byId = new Map(nodes.map((n) => [n.id, n]));
  const steps = data.n_steps;
  const rows = Math.max(1, ...nodes.map((n) => n.rank));
  const root = html("div", "tinylm-widget tinylm-beam-tree", undefined, el);
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
      ? `${fmtScore(n.score)} \u2192 ${fmtScore(n.final)}` : fmtScore(n.score);
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
    field(grid, "token log-prob", "logprob", fmtScore(n.logprob));
    field(grid, "cumulative score", "score", fmtScore(n.score));
    field(grid, `final score (length penalty ${data.length_penalty})`, "final",
          n.final === null ? "\u2014" : fmtScore(n.final));
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
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      ev.target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    }
  });

  // ---- the final hypotheses, best first as the trace lists them ---------------------------
  if (data.hypotheses.length) {
    html("div", "tbt-hyps-head", "finished hypotheses (final score = length-penalised)", root);
    const list = html("ol", "tbt-hyps", undefined, root);
    for (const h of data.hypotheses) {
      const li = html("li", h.returned ? "tbt-hyp tbt-hyp-returned" : "tbt-hyp", undefined, list);
      li.dataset.node = h.node;
      html("span", "tbt-hyp-score", fmtScore(h.final), li);
      html("span", "tbt-hyp-text", h.text, li);
      if (h.returned) html("span", "tbt-hyp-badge", "returned", li);
      li.addEventListener("mouseenter", () => show(byId.get(h.node)));
      li.addEventListener("mouseleave", () => show(pinned));
    }
  }
  show(null);
}

export default { render };
