// The attention-tree viewer: a traced Medusa generation, one step at a time. The candidate tree
// (one row per node in the tree's order, one column per head), the tree attention mask with
// its rows level with the tree's, the path the base model kept and the guesses it refused; the
// text so far, the accept length of every step and how often each head's guess was kept. The
// state (see medusa_tree.py) holds every number; this file only picks and draws.
import { fmtProb, html, redrawOn, svg, tooltip } from "./common.js";

const HEADER = 22;        // px above the first row: the columns' names
const ROW_ONE = 24;       // px per row when a node's token and probability share a line
const ROW_TWO = 34;       // px per row when they need two lines (narrow screens)
const ONE_LINE_W = 92;    // px: a node box at least this wide holds both on one line
const GAP = 16;           // px between a column's boxes and the next column (the edges)
const CHAR_W = 6.7;       // px per character of the 11 px monospace token text
const LABEL_W = 66;       // px for the mask's row labels (node number and token)
const CHART_H = 120;      // px, the accept-length chart's height
const STATUS_CLASS = { k: "tmt-kept", r: "tmt-refused", c: "tmt-cut", "-": "" };

function plural(n, word, many = `${word}s`) { return `${n} ${n === 1 ? word : many}`; }
function short(s, n) { return s.length > n ? s.slice(0, Math.max(1, n - 1)) + "\u2026" : s; }
// A token as a label: spaces drawn as "␣", so that " the" and "the" differ.
function visible(t) { return t.replace(/ /g, "\u2423"); }
// Rank r (0-based) among a head's guesses: "best", "2nd-best", ...
function rankName(r) {
  return r === 0 ? "best" : `${r + 1}${["", "", "nd", "rd"][r + 1] || "th"}-best`;
}
// A token or a run of tokens inside quotes, in running text.
function quoted(t) { return `\u201c${t}\u201d`; }

function render({ model, el }) {
  const data = model.get("data");
  const tree = data.tree, steps = data.steps, depth = data.depth;
  const N1 = tree.depth.length;  // nodes, the root included
  const text = (id) => data.texts[String(id)];
  const headName = (d) => (d === 0 ? "base model" : `head ${d}`);
  const children = tree.parent.map(() => []);
  tree.parent.forEach((p, i) => { if (p >= 0) children[p].push(i); });
  let s = data.step, pinned = null;
  let step = steps[s];

  const root = html("div", "tinylm-widget tinylm-medusa-tree", undefined, el);
  if (data.title) html("div", "tmt-title", data.title, root);
  const tip = tooltip(root, "tmt-tip");

  // ---- controls and summary ----
  const controls = html("div", "tmt-controls", undefined, root);
  const prev = html("button", "tmt-prev", "\u25c0 prev", controls);
  const slider = html("input", "tmt-slider", undefined, controls);
  const next = html("button", "tmt-next", "next \u25b6", controls);
  const stepLabel = html("span", "tmt-step-label", "", controls);
  prev.type = next.type = "button";
  slider.type = "range";
  slider.min = 0;
  slider.max = steps.length - 1;
  slider.step = 1;
  slider.disabled = steps.length < 2;
  slider.setAttribute("aria-label", "step");
  prev.addEventListener("click", () => go(s - 1));
  next.addEventListener("click", () => go(s + 1));
  slider.addEventListener("input", () => go(Number(slider.value)));

  const mean = data.tokens_per_step;
  html("div", "tmt-summary", `${plural(data.generated, "token")} in ` +
       `${plural(steps.length, "step")} (one forward pass each): ` +
       `${mean.toFixed(2)} tokens per step on average, the base model's own and ` +
       `${(mean - 1).toFixed(2)} of the heads' guesses. The tree: ` +
       `${plural(N1 - 1, "guess", "guesses")} below the root, ${depth} deep.`, root);
  const verdict = html("div", "tmt-verdict", "", root);
  verdict.setAttribute("aria-live", "polite");

  const legend = html("div", "tmt-legend", undefined, root);
  for (const [cls, label] of [["tmt-kept", "kept"], ["tmt-refused", "refused"],
                              ["tmt-cut", "agreed, but generation stopped"],
                              ["tmt-ghost", "the base model's own next token"]]) {
    const item = html("span", `tmt-legend-item tmt-legend-${cls.slice(4)}`, undefined, legend);
    const key = svg("svg", { width: 22, height: 14, "aria-hidden": "true" }, item);
    svg("rect", { class: `tmt-key ${cls}`, x: 1, y: 1, width: 20, height: 12, rx: 3 }, key);
    html("span", "", label, item);
  }

  // ---- the tree and the mask, in one box that scrolls when the tree is tall ----
  const box = html("div", "tmt-box", undefined, root);
  const treeHost = html("div", "tmt-tree-host", undefined, box);
  const maskHost = html("div", "tmt-mask-host", undefined, box);
  const info = html("div", "tmt-info", "", root);
  info.setAttribute("aria-live", "polite");

  // ---- the text so far ----
  html("div", "tmt-section", "the text so far, step by step", root);
  const textBox = html("div", "tmt-text-box", undefined, root);
  const textEl = html("div", "tmt-text", undefined, textBox);

  // ---- the charts ----
  const charts = html("div", "tmt-charts", undefined, root);
  const acceptPanel = html("div", "tmt-chart", undefined, charts);
  html("div", "tmt-chart-title", "guesses kept at each step (accept length)", acceptPanel);
  const acceptHost = html("div", "tmt-chart-host", undefined, acceptPanel);
  html("div", "tmt-chart-note",
       `mean ${(mean - 1).toFixed(2)} kept per step, so ${mean.toFixed(2)} tokens per step ` +
       "with the base model's own; click a bar to see its step", acceptPanel);
  const headPanel = html("div", "tmt-chart", undefined, charts);
  html("div", "tmt-chart-title", "steps that kept each head's guess on their path", headPanel);
  const headList = html("div", "tmt-heads", undefined, headPanel);
  html("div", "tmt-chart-note", "head d guesses the token d + 1 places ahead; its guess counts " +
       "only when every guess before it was kept", headPanel);

  let nodeEls = [], edgeEls = [], rowEls = [], colLabels = [], stepBars = [];

  // ---- the tree: node i in row i, at the column of its depth --------------------------------
  // One line per node (token and probability) when the boxes are wide enough, else two.
  function drawTree(width) {
    treeHost.replaceChildren();
    const colW = Math.min(150, width / (depth + 1));
    const boxW = colW - GAP, oneLine = boxW >= ONE_LINE_W;
    const rowH = oneLine ? ROW_ONE : ROW_TWO;
    const height = HEADER + N1 * rowH + 4;
    const plot = svg("svg", { class: "tmt-svg tmt-tree", width, height,
                              viewBox: `0 0 ${width} ${height}`, role: "group",
                              "aria-label": `the candidate tree of step ${s + 1}: ` +
                                            `${N1} nodes, one row each` }, treeHost);
    for (let d = 0; d <= depth; d++) {
      svg("text", { class: "tmt-col-name", x: d * colW + 2, y: 14 }, plot).textContent =
        colW < 70 && d > 0 ? `h${d}` : headName(d);
    }
    const x = (i) => tree.depth[i] * colW, y = (i) => HEADER + i * rowH + 2;
    const bh = rowH - 4;
    const edges = svg("g", { class: "tmt-edges" }, plot);
    edgeEls = tree.parent.map((p, i) => {
      if (p < 0) return null;
      const x0 = x(p) + boxW, y0 = y(p) + bh / 2, x1 = x(i), y1 = y(i) + bh / 2;
      const mx = (x0 + x1) / 2;
      const cls = step.status[i] === "k" ? "tmt-edge tmt-kept" : "tmt-edge";
      return svg("path", { class: cls, d: `M${x0},${y0} C${mx},${y0} ${mx},${y1} ${x1},${y1}` },
                 edges);
    });
    // the base model's own next token after the last kept node, in the free cell to its right
    const end = step.path[step.path.length - 1];
    if (tree.depth[end] < depth) {
      const g = svg("g", { class: "tmt-ghost", transform: `translate(${x(end) + colW},${y(end)})` },
                    plot);
      svg("rect", { width: boxW, height: bh, rx: 4 }, g);
      const label = visible(text(step.predicted[end]));
      svg("text", { x: 4, y: oneLine ? bh / 2 + 4 : 12 }, g).textContent =
        short(oneLine ? `\u2192 ${label}` : label, Math.floor((boxW - 8) / CHAR_W));
      if (!oneLine) {  // on two lines, the second says whose token it is
        svg("text", { class: "tmt-sub", x: 4, y: bh - 4 }, g).textContent =
          boxW >= 62 ? "base model" : "base";
      }
    }
    nodeEls = step.tokens.map((token, i) => {
      const cls = `tmt-node ${STATUS_CLASS[step.status[i]]}` + (i === step.next ? " tmt-row-next" : "");
      const g = svg("g", { class: cls, transform: `translate(${x(i)},${y(i)})`, tabindex: 0,
                           "data-node": i, "data-token": token, "data-status": step.status[i],
                           "aria-label": nodeText(i) }, plot);
      svg("rect", { width: boxW, height: bh, rx: 4 }, g);
      const prob = fmtProb(step.probs[i]);
      const probW = oneLine ? prob.length * 6 + 6 : 0;
      const chars = Math.floor((boxW - 8 - probW) / CHAR_W);
      const mark = step.status[i] === "r" ? "\u2717" : "";
      svg("text", { class: "tmt-token", x: 4, y: oneLine ? bh / 2 + 4 : 12 }, g).textContent =
        short(mark + visible(text(token)), chars);
      svg("text", { class: "tmt-sub", x: oneLine ? boxW - 4 : 4,
                    y: oneLine ? bh / 2 + 3.5 : bh - 4,
                    "text-anchor": oneLine ? "end" : "start" }, g).textContent = prob;
      return g;
    });
  }

  // ---- the mask: row i is what node i attends to -----------------------------------------------
  function drawMask(cell, rowH) {
    maskHost.replaceChildren();
    const width = LABEL_W + N1 * cell + 4, height = HEADER + N1 * rowH + 4;
    const plot = svg("svg", { class: "tmt-svg tmt-mask", width, height,
                              viewBox: `0 0 ${width} ${height}`, role: "group",
                              "aria-label": `the tree attention mask, ${N1} by ${N1}: row i ` +
                                            "marks the nodes node i attends to" }, maskHost);
    const every = cell >= 15 ? 1 : cell >= 8 ? 5 : 10;
    colLabels = tree.depth.map((_, j) => {
      const t = svg("text", { class: "tmt-col-label", x: LABEL_W + j * cell + cell / 2, y: 14,
                              "text-anchor": "middle" }, plot);
      if (j % every === 0) t.textContent = String(j);
      return t;
    });
    const chars = Math.floor((LABEL_W - 22) / CHAR_W);
    rowEls = tree.attends.map((seen, i) => {
      const top = HEADER + i * rowH;
      const g = svg("g", { class: `tmt-row ${STATUS_CLASS[step.status[i]]}`, "data-node": i },
                    plot);
      svg("rect", { class: "tmt-band", x: 0, y: top, width, height: rowH }, g);
      svg("text", { class: "tmt-row-num", x: 16, y: top + rowH / 2 + 4, "text-anchor": "end" },
          g).textContent = String(i);
      svg("text", { class: "tmt-row-token", x: 20, y: top + rowH / 2 + 4 }, g).textContent =
        short(visible(text(step.tokens[i])), chars);
      const on = new Set(seen);
      const inset = Math.min(2, cell / 6), ch = Math.min(rowH - 2 * inset, cell + 2);
      for (let j = 0; j < N1; j++) {
        svg("rect", { class: on.has(j) ? "tmt-cell tmt-on" : "tmt-cell", "data-col": j,
                      x: LABEL_W + j * cell + inset / 2, y: top + (rowH - ch) / 2,
                      width: cell - inset, height: ch, rx: Math.min(2, cell / 5) }, g);
      }
      return g;
    });
  }

  // Side by side (the mask's rows level with the tree's) when both fit, else the mask below.
  function drawBox() {
    const width = Math.max(240, box.clientWidth - 2);
    const treeMin = (depth + 1) * (ONE_LINE_W + GAP);
    const sideCell = Math.min(ROW_ONE, (width - treeMin - LABEL_W - 16) / N1);
    const side = sideCell >= 10;
    box.classList.toggle("tmt-side", side);
    if (side) {  // the tree is at least treeMin wide: one line per node
      drawTree(width - (LABEL_W + N1 * sideCell + 16));
      drawMask(Math.floor(sideCell), ROW_ONE);
    } else {
      drawTree(width);
      // below the tree, its rows need not match the tree's: as tall as a cell, text allowing
      const cell = Math.max(7, Math.min(ROW_ONE, Math.floor((width - LABEL_W - 8) / N1)));
      drawMask(cell, Math.max(15, Math.min(ROW_ONE, cell + 4)));
    }
    light(pinned);
  }

  // ---- what a node is, in words ----
  function nodeText(i) {
    if (i === 0) {
      return `node 0, the root: the base model's next token ${quoted(text(step.tokens[0]))} ` +
             `(p ${fmtProb(step.probs[0])}), always kept`;
    }
    const p = tree.parent[i], d = tree.depth[i];
    const parts = [`node ${i}, choice [${tree.choice[i].join(", ")}]: head ${d}'s ` +
                   `${rankName(tree.rank[i])} guess, ${quoted(text(step.tokens[i]))} ` +
                   `(p ${fmtProb(step.probs[i])})`];
    const said = step.predicted[p];
    const agrees = said === step.tokens[i];
    const status = step.status[i];
    if (status === "k") parts.push("kept: the base model predicted it too");
    else if (status === "r") parts.push(`refused: the base model predicted ${quoted(text(said))}`);
    else if (status === "c") parts.push("the base model agreed, but generation stopped here");
    else if (agrees) parts.push("the base model agreed, but a node above it was refused");
    else parts.push(`the base model predicted ${quoted(text(said))}`);
    return parts.join("; ");
  }

  // The path from the root to node i, as the nodes of the tree.
  function ancestors(i) {
    const out = [];
    for (let n = i; n >= 0; n = tree.parent[n]) out.unshift(n);
    return out;
  }

  // Light node i: its row of the mask, the cells and column labels of what it attends to, and
  // its ancestors in the tree. null: nothing.
  function light(i) {
    const on = i === null ? new Set() : new Set(tree.attends[i]);
    const chain = i === null ? new Set() : new Set(ancestors(i));
    nodeEls.forEach((g, n) => {
      g.classList.toggle("tmt-lit", n === i);
      g.classList.toggle("tmt-ancestor", chain.has(n) && n !== i);
      g.classList.toggle("tmt-pinned", n === pinned);
    });
    edgeEls.forEach((e, n) => { if (e) e.classList.toggle("tmt-lit", chain.has(n) && n !== 0); });
    rowEls.forEach((r, n) => r.classList.toggle("tmt-lit", n === i));
    colLabels.forEach((t, n) => t.classList.toggle("tmt-lit", on.has(n)));
    if (i === null) {
      info.textContent = "Hover over (or tap) a node or a row of the mask: the row lights up " +
        "with the nodes it attends to, which are the node's ancestors and itself.";
      return;
    }
    const seen = tree.attends[i];
    info.textContent = `${nodeText(i)}. Row ${i} of the mask: attends to ` +
      `${plural(seen.length, "node")}, ${seen.join(", ")}: ` +
      quoted(seen.map((n) => text(step.tokens[n])).join(""));
  }

  function nodeOf(ev) {
    const g = ev.target.closest && ev.target.closest("[data-node]");
    return g ? Number(g.dataset.node) : null;
  }
  for (const host of [treeHost, maskHost]) {
    host.addEventListener("mouseover", (ev) => { const n = nodeOf(ev); if (n !== null) light(n); });
    host.addEventListener("mouseleave", () => light(pinned));
    host.addEventListener("focusin", (ev) => { const n = nodeOf(ev); if (n !== null) light(n); });
    host.addEventListener("click", (ev) => {  // a click (a tap on a phone) pins the node
      const n = nodeOf(ev);
      pinned = n !== null && n !== pinned ? n : null;
      light(n !== null ? n : pinned);
      if (pinned !== null && !box.classList.contains("tmt-side")) {
        reveal(treeHost, nodeEls[pinned]);  // one above the other, each scrolls on its own
        reveal(maskHost, rowEls[pinned]);
      }
    });
  }
  // Scroll `host` (not the page) so that `target` is in sight.
  function reveal(host, target) {
    const h = host.getBoundingClientRect(), r = target.getBoundingClientRect();
    if (r.top < h.top) host.scrollTop -= h.top - r.top + 4;
    else if (r.bottom > h.bottom) host.scrollTop += r.bottom - h.bottom + 4;
  }
  treeHost.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      ev.target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    }
  });

  // ---- the step in words ----
  function drawVerdict() {
    const kept = step.path.map((n) => text(step.tokens[n]));
    const end = step.path[step.path.length - 1], head = tree.depth[end] + 1;
    const refused = children[end].filter((n) => step.status[n] === "r");
    const cut = children[end].filter((n) => step.status[n] === "c");
    const tokensOf = (nodes) => {  // "a", "a and b", "a, b and c", or "10 guesses (a, b, c, …)"
      const t = nodes.map((n) => quoted(text(step.tokens[n])));
      if (t.length > 3) return `${t.length} guesses (${t.slice(0, 3).join(", ")}, \u2026)`;
      return t.length > 1 ? `${t.slice(0, -1).join(", ")} and ${t[t.length - 1]}` : t[0];
    };
    const said = quoted(text(step.predicted[end]));
    const parts = [`Step ${s + 1}: kept ${quoted(kept.join(""))}, the base model's token` +
      (step.accept_length ? ` and ${plural(step.accept_length, "guess", "guesses")}.`
        : " alone.")];
    if (refused.length) {
      parts.push(`After ${quoted(kept[kept.length - 1])} the base model predicts ${said}, so ` +
                 `head ${head}'s ${tokensOf(refused)} ${refused.length === 1 ? "is" : "are"} ` +
                 "refused.");
    } else if (!cut.length) {
      parts.push("Every guess on its path was kept.");
    }
    if (cut.length) {
      parts.push(`Head ${head}'s ${tokensOf(cut)} agreed with the base model, but generation ` +
                 "stopped before it (the token limit or the end of the text).");
    } else if (s === steps.length - 1) {
      parts.push("Generation stopped here (the token limit or the end of the text).");
    } else {
      parts.push(`The base model's ${said} starts the next step.`);
    }
    verdict.textContent = parts.join(" ");
  }

  // ---- the text so far: the prompt, then each step's kept tokens ----
  function drawText() {
    textEl.replaceChildren();
    html("span", "tmt-prompt", data.prompt_text, textEl);
    for (let k = 0; k <= s; k++) {
      const st = steps[k];
      const group = html("span", `tmt-step-text tmt-tint${k % 2}` + (k === s ? " tmt-now" : ""),
                         st.path.map((n) => text(st.tokens[n])).join(""), textEl);
      group.dataset.step = k;
      group.title = `step ${k + 1}: ${plural(st.path.length, "token")}`;
      group.addEventListener("click", () => go(k));
    }
    textBox.scrollTop = textBox.scrollHeight;
  }

  // ---- accept length per step: bars, the current one lit ----
  function drawAccept() {
    acceptHost.replaceChildren();
    const width = Math.max(200, acceptHost.clientWidth || 320);
    const pad = { l: 30, r: 8, t: 8, b: 26 };
    const plot = svg("svg", { class: "tmt-svg tmt-accept", width, height: CHART_H,
                              viewBox: `0 0 ${width} ${CHART_H}`, role: "img",
                              "aria-label": "guesses kept at each step" }, acceptHost);
    const bottom = CHART_H - pad.b, band = (width - pad.l - pad.r) / steps.length;
    const y = (v) => bottom - (v / depth) * (bottom - pad.t);
    for (let v = 0; v <= depth; v++) {
      svg("line", { class: "tmt-grid", x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v) }, plot);
      svg("text", { class: "tmt-tick", x: pad.l - 5, y: y(v) + 3.5, "text-anchor": "end" },
          plot).textContent = String(v);
    }
    const w = Math.max(1.5, Math.min(22, band * 0.72));
    const every = Math.ceil(steps.length / Math.max(1, Math.floor((width - pad.l) / 26)));
    stepBars = steps.map((st, k) => {
      const cx = pad.l + (k + 0.5) * band;
      const g = svg("g", { class: "tmt-step-bar" + (k === s ? " tmt-now" : ""),
                           "data-step": k, "data-accept": st.accept_length }, plot);
      svg("rect", { class: "tmt-hit", x: cx - band / 2, y: pad.t, width: band,
                    height: bottom - pad.t }, g);
      svg("rect", { class: "tmt-bar", x: cx - w / 2, y: y(st.accept_length), width: w,
                    height: bottom - y(st.accept_length) }, g);
      if ((k + 1) % every === 0 || (k === 0 && every !== 2)) {
        svg("text", { class: "tmt-tick", x: cx, y: bottom + 12, "text-anchor": "middle" },
            plot).textContent = String(k + 1);
      }
      g.addEventListener("click", () => go(k));
      g.addEventListener("mouseenter", () => {
        const r = g.getBoundingClientRect(), rb = root.getBoundingClientRect();
        tip.show(`step ${k + 1}: ${plural(st.accept_length, "guess", "guesses")} kept, ` +
                 plural(st.path.length, "token"),
                 r.left - rb.left + r.width / 2, r.top - rb.top + 20);
      });
      g.addEventListener("mouseleave", () => tip.hide());
      return g;
    });
    svg("line", { class: "tmt-axis", x1: pad.l, x2: width - pad.r, y1: bottom, y2: bottom }, plot);
    svg("text", { class: "tmt-axis-label", x: (pad.l + width - pad.r) / 2, y: CHART_H - 2,
                  "text-anchor": "middle" }, plot).textContent = "step";
  }

  // ---- per head: steps that kept its guess, as counts ----
  function drawHeads() {
    const { kept, steps: n } = data.heads;
    const rows = [[0, n]].concat(kept.map((k, d) => [d + 1, k]));
    for (const [d, k] of rows) {
      const row = html("div", "tmt-head" + (d === 0 ? " tmt-head-base" : ""), undefined, headList);
      row.dataset.depth = d;
      row.dataset.kept = k;
      row.dataset.steps = n;
      html("span", "tmt-head-name", headName(d), row);
      const track = html("span", "tmt-track", undefined, row);
      html("span", "tmt-fill", undefined, track).style.width = `${(100 * k) / n}%`;
      html("span", "tmt-head-count", `${k} / ${n}`, row);
    }
  }

  function go(k) {
    s = Math.max(0, Math.min(steps.length - 1, k));
    step = steps[s];
    pinned = null;
    root.dataset.step = s;
    slider.value = s;
    slider.setAttribute("aria-valuetext", `step ${s + 1} of ${steps.length}`);
    stepLabel.textContent = `step ${s + 1} / ${steps.length}`;
    prev.disabled = s === 0;
    next.disabled = s === steps.length - 1;
    drawVerdict();
    drawBox();
    drawText();
    stepBars.forEach((g, n) => g.classList.toggle("tmt-now", n === s));
  }

  drawHeads();
  go(s);
  drawAccept();
  let lastWidth = root.clientWidth;
  return redrawOn(root, () => {
    // a resize redraws what depends on the width; a theme switch needs nothing (CSS colours)
    if (root.clientWidth === lastWidth) return;
    lastWidth = root.clientWidth;
    drawBox();
    drawAccept();
    textBox.scrollTop = textBox.scrollHeight;  // the current step is the text's end
  });
}

export default { render };
