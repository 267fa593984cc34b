// The acceptance-rate dashboard: speculative runs grouped by drafter, one per gamma (and
// prompt). For the chosen run: the text token by token (drafts kept, the draft rejected and the
// target's token in its place, bonus tokens), the drafts kept per target call, the acceptance
// rate per position of the draft; for all runs: tokens per call and speed-up against gamma,
// measured and predicted. The state (see speculative_dashboard.py) holds every number; this
// file only picks and draws.
import { esc, fmtProb, html, pct, redrawOn, svg, tooltip } from "./common.js";

const CHART_H = 150;                       // px, each chart's height
const PAD = { l: 40, r: 10, t: 10, b: 30 }; // px round each chart's plot area
const SERIES = 5;                          // drafter colours .tsd-s0 .. .tsd-s4, then again
const KIND_NAMES = { a: "accepted draft", r: "rejected draft", t: "target's token",
                     b: "bonus token" };

function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }
function num(x, digits = 2) { return Number(x).toFixed(digits); }
function seconds(s) { return s < 1 ? `${(1000 * s).toFixed(0)} ms` : `${s.toFixed(2)} s`; }

// ---- charts ------------------------------------------------------------------------------------

// Tick values for an axis from lo to hi: integers when the range is small, else ~5 round steps.
function ticks(lo, hi, integer) {
  const span = hi - lo;
  let step = span / 5;
  const mag = 10 ** Math.floor(Math.log10(step || 1));
  step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step) || step;
  if (integer) step = Math.max(1, Math.round(step));
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(6));
  return out;
}

// An SVG chart in `host`, as wide as it is: axes, ticks and labels. x is either a band axis
// over `bands` (1..n: bars) or a linear one over [x0, x1]; y is linear over [y0, y1].
function chart(host, { bands, x0, x1, y0, y1, xLabel, yLabel, xInteger, yInteger, yTicks,
                        label }) {
  host.replaceChildren();
  const width = Math.max(200, host.clientWidth || 320);
  const root = svg("svg", { class: "tsd-svg", width, height: CHART_H,
                            viewBox: `0 0 ${width} ${CHART_H}`, role: "img",
                            "aria-label": label }, host);
  const left = PAD.l, right = width - PAD.r, top = PAD.t, bottom = CHART_H - PAD.b;
  const y = (v) => bottom - ((v - y0) / (y1 - y0 || 1)) * (bottom - top);
  let x, bandWidth = 0;
  if (bands) {
    bandWidth = (right - left) / bands;
    x = (i) => left + (i - 0.5) * bandWidth;  // the centre of band i (1-based)
  } else {
    x = (v) => left + ((v - x0) / (x1 - x0 || 1)) * (right - left);
  }
  for (const v of yTicks || ticks(y0, y1, yInteger)) {
    svg("line", { class: "tsd-grid", x1: left, x2: right, y1: y(v), y2: y(v) }, root);
    svg("text", { class: "tsd-tick", x: left - 4, y: y(v) + 3.5, "text-anchor": "end" },
        root).textContent = String(v);
  }
  const xs = bands ? ticks(1, bands, true).filter((v) => v >= 1)
    : ticks(x0, x1, xInteger);
  for (const v of xs) {
    svg("text", { class: "tsd-tick", x: x(v), y: bottom + 13, "text-anchor": "middle" },
        root).textContent = String(v);
  }
  svg("line", { class: "tsd-axis", x1: left, x2: right, y1: bottom, y2: bottom }, root);
  svg("text", { class: "tsd-axis-label", x: (left + right) / 2, y: CHART_H - 3,
                "text-anchor": "middle" }, root).textContent = xLabel;
  svg("text", { class: "tsd-axis-label", x: 0, y: 0, "text-anchor": "middle",
                transform: `translate(9 ${(top + bottom) / 2}) rotate(-90)` },
      root).textContent = yLabel;
  return { root, x, y, bandWidth, left, right, top, bottom };
}

// ---- the widget --------------------------------------------------------------------------------

function render({ model, el }) {
  const data = model.get("data");
  const runs = data.runs;
  const sel = { ...data.selected };
  const series = (drafter) => `tsd-s${data.drafters.indexOf(drafter) % SERIES}`;
  const runOf = (drafter, prompt, gamma) =>
    runs.find((r) => r.drafter === drafter && r.prompt === prompt && r.gamma === gamma);
  const gammasOf = (drafter, prompt) => runs
    .filter((r) => r.drafter === drafter && r.prompt === prompt).map((r) => r.gamma)
    .sort((a, b) => a - b);

  const root = html("div", "tinylm-widget tinylm-speculative", undefined, el);
  if (data.title) html("div", "tsd-title", data.title, root);

  // ---- controls: drafter, prompt, gamma ----
  const controls = html("div", "tsd-controls", undefined, root);
  function buttonGroup(name, labels, cls, onPick) {
    const group = html("div", "tsd-group", undefined, controls);
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", name);
    html("span", "tsd-group-label", name, group);
    return labels.map((text) => {
      const b = html("button", cls, undefined, group);
      b.type = "button";
      if (cls === "tsd-drafter") html("span", `tsd-swatch ${series(text)}`, undefined, b);
      html("span", "", text, b);
      b.dataset.label = text;
      b.addEventListener("click", () => onPick(text));
      return b;
    });
  }
  const drafterButtons = buttonGroup("drafter", data.drafters, "tsd-drafter",
                                     (d) => { sel.drafter = d; update(); });
  const promptButtons = data.prompts.length > 1
    ? buttonGroup("prompt", data.prompts, "tsd-prompt", (p) => { sel.prompt = p; update(); })
    : [];
  const gammaRow = html("label", "tsd-gamma-row", undefined, controls);
  html("span", "tsd-group-label", "\u03b3 (drafts per call)", gammaRow);
  const slider = html("input", "tsd-gamma", undefined, gammaRow);
  slider.type = "range";
  slider.min = 0;
  slider.step = 1;
  const gammaValue = html("span", "tsd-gamma-value", "", gammaRow);
  slider.addEventListener("input", () => {
    sel.gamma = gammasOf(sel.drafter, sel.prompt)[Number(slider.value)];
    update();
  });

  const summary = html("div", "tsd-summary", "", root);
  summary.setAttribute("aria-live", "polite");
  const predicted = html("div", "tsd-predicted", "", root);

  // ---- the text ----
  const legend = html("div", "tsd-legend", undefined, root);
  for (const [kind, text] of [["a", "draft the target kept"],
                              ["r", "draft it rejected"],
                              ["t", "the target's own token"],
                              ["b", "bonus token (all drafts kept)"]]) {
    const item = html("span", "tsd-legend-item", undefined, legend);
    html("span", `tsd-token tsd-${kind}`, "abc", item);
    html("span", "", text, item);
  }
  const textBox = html("div", "tsd-text-box", undefined, root);
  const text = html("div", "tsd-text", undefined, textBox);
  const tip = tooltip(root, "tsd-tip");

  // ---- the charts ----
  const charts = html("div", "tsd-charts", undefined, root);
  function panel(title) {
    const box = html("div", "tsd-chart", undefined, charts);
    html("div", "tsd-chart-title", title, box);
    const host = html("div", "tsd-chart-host", undefined, box);
    const caption = html("div", "tsd-chart-note", "", box);
    return { host, caption };
  }
  const callsPanel = panel("drafts kept per target call");
  const positionPanel = panel("acceptance rate by position in the draft");
  const tokensPanel = panel("tokens per target call, against \u03b3");
  const speedPanel = panel("speed-up over the target alone, against \u03b3");
  const seriesLegend = html("div", "tsd-series-legend", undefined, root);

  let run = null, tokenEls = [], barEls = [];

  // Hovering a token or a bar lights up everything of its target call.
  function lightCall(call) {
    const mine = (e) => call !== null && Number(e.dataset.call) === call;
    for (const t of tokenEls) t.classList.toggle("tsd-lit", mine(t));
    for (const b of barEls) b.classList.toggle("tsd-bar-lit", mine(b));
  }
  // The label sits just above `target`; it may wrap on a narrow screen, so it is placed by
  // its own size, inside the widget.
  function showTip(target, label) {
    const box = root.getBoundingClientRect(), r = target.getBoundingClientRect();
    tip.show(label, r.left - box.left + r.width / 2, r.top - box.top);
    const left = Math.min(r.left - box.left, root.clientWidth - tip.el.offsetWidth - 2);
    tip.el.style.left = `${Math.max(2, left)}px`;
    tip.el.style.top = `${Math.max(0, r.top - box.top - tip.el.offsetHeight - 3)}px`;
  }
  function hideTip() { tip.hide(); lightCall(null); }

  function callText(i) {
    const k = run.per_call.proposed[i], a = run.per_call.accepted[i];
    const outcome = run.per_call.outcome[i];
    const tail = outcome === "eos" ? ", the text ends"
      : outcome === "bonus" ? (k ? ", plus a bonus token" : ": the target's token")
        : ", then the target's token";
    return `call ${i + 1}: ${k ? `${a} of ${plural(k, "draft")} kept` : "nothing drafted"}${tail}`;
  }

  // What the tooltip says about token i: its kind, p and q of a draft, and its call.
  function tokenText(i) {
    const tk = run.tokens, kind = tk.kind[i], call = tk.call[i];
    const drafted = run.per_call.proposed[call];
    const parts = [KIND_NAMES[kind]];
    if (kind === "a" || kind === "r") parts.push(`p ${fmtProb(tk.p[i])}, q ${fmtProb(tk.q[i])}`);
    if (kind === "r") {
      const dropped = drafted - run.per_call.accepted[call] - 1;
      if (dropped > 0) parts.push(`${plural(dropped, "later draft")} dropped`);
    }
    if (kind === "t") {
      parts[0] += drafted ? " in place of the rejected draft" : " (nothing drafted)";
    }
    if (kind === "b") parts[0] += ` (all ${plural(drafted, "draft")} kept)`;
    parts.push(`call ${call + 1}`);
    return parts.join(" \u00b7 ");
  }

  function drawText() {
    text.replaceChildren();
    html("span", "tsd-prompt-text", run.prompt_text, text);
    const tk = run.tokens;
    tokenEls = tk.text.map((t, i) => {
      const span = html("span", `tsd-token tsd-${tk.kind[i]}`, t, text);
      span.dataset.call = tk.call[i];
      span.dataset.kind = tk.kind[i];
      span.dataset.id = tk.id[i];
      span.addEventListener("mouseenter", () => {
        lightCall(tk.call[i]);
        showTip(span, tokenText(i));
      });
      span.addEventListener("mouseleave", hideTip);
      return span;
    });
  }

  function drawCalls() {
    const pc = run.per_call, n = pc.accepted.length;
    const c = chart(callsPanel.host, { bands: n, y0: 0, y1: run.gamma, xLabel: "target call",
                                       yLabel: "drafts kept", yInteger: true,
                                       label: `drafts kept at each of ${n} target calls` });
    const w = Math.max(1, Math.min(24, c.bandWidth * 0.75));
    barEls = pc.accepted.map((a, i) => {
      const g = svg("g", { class: "tsd-call-bar" }, c.root);
      g.dataset.call = i;
      g.dataset.accepted = a;
      g.dataset.proposed = pc.proposed[i];
      // the whole band catches the pointer; the outline is what was drafted, the fill what was kept
      svg("rect", { class: "tsd-hit", x: c.x(i + 1) - c.bandWidth / 2, y: c.top,
                    width: c.bandWidth, height: c.bottom - c.top }, g);
      svg("rect", { class: "tsd-bar-proposed", x: c.x(i + 1) - w / 2, y: c.y(pc.proposed[i]),
                    width: w, height: c.bottom - c.y(pc.proposed[i]) }, g);
      const all = pc.outcome[i] === "bonus" && a > 0;  // every draft kept
      svg("rect", { class: all ? "tsd-bar-kept tsd-bar-all" : "tsd-bar-kept",
                    x: c.x(i + 1) - w / 2, y: c.y(a), width: w, height: c.bottom - c.y(a) }, g);
      g.addEventListener("mouseenter", () => { lightCall(i); showTip(g, callText(i)); });
      g.addEventListener("mouseleave", hideTip);
      return g;
    });
    const mean = run.accepted / n;
    callsPanel.caption.textContent =
      `outline: drafted; filled: kept (blue: all kept). Mean ${num(mean)} kept per call.`;
  }

  function drawPositions() {
    const pos = run.positions, g = run.gamma;
    // y runs a little past 1 so that the count above a full bar stays inside the chart
    const c = chart(positionPanel.host, { bands: g, y0: 0, y1: 1.14,
                                          xLabel: "position in the draft",
                                          yLabel: "kept / checked", yTicks: [0, 0.5, 1],
                                          label: "acceptance rate at each position of the draft" });
    const w = Math.max(2, Math.min(40, c.bandWidth * 0.6));
    for (let i = 0; i < g; i++) {
      const checked = pos.checked[i], kept = pos.kept[i];
      const bar = svg("g", { class: "tsd-pos-bar" }, c.root);
      bar.dataset.position = i + 1;
      bar.dataset.checked = checked;
      bar.dataset.kept = kept;
      const rate = checked ? kept / checked : 0;
      svg("rect", { class: "tsd-hit", x: c.x(i + 1) - c.bandWidth / 2, y: c.top,
                    width: c.bandWidth, height: c.bottom - c.top }, bar);
      svg("rect", { class: "tsd-bar-kept", x: c.x(i + 1) - w / 2, y: c.y(rate), width: w,
                    height: c.bottom - c.y(rate) }, bar);
      if (g <= 12) {
        svg("text", { class: "tsd-bar-label", x: c.x(i + 1), y: c.y(rate) - 3,
                      "text-anchor": "middle" }, bar).textContent =
          checked ? `${kept}/${checked}` : "\u2013";
      }
      const label = checked
        ? `position ${i + 1}: ${kept} of ${checked} checked drafts kept (${pct(rate)})`
        : `position ${i + 1}: never checked (an earlier draft was rejected every time)`;
      bar.addEventListener("mouseenter", () => showTip(bar, label));
      bar.addEventListener("mouseleave", hideTip);
    }
    const theory = data.theory[run.drafter];
    if (theory) {
      svg("line", { class: "tsd-alpha", x1: c.left, x2: c.right, y1: c.y(theory.alpha),
                    y2: c.y(theory.alpha) }, c.root);
    }
    positionPanel.caption.textContent = (run.proposed
      ? `${run.accepted} of ${plural(run.proposed, "draft")} kept overall ` +
        `(${pct(run.acceptance_rate)}).`
      : "Nothing was drafted.") + (theory ? ` Dashed: \u03b1 = ${num(theory.alpha)}.` : "");
  }

  // Measured points and predicted lines against gamma, one colour per drafter; the chosen
  // drafter in front, the chosen gamma marked.
  function drawAgainstGamma(p, key, predictedKey, yLabel, floor) {
    const prompt = sel.prompt;
    const gmax = Math.max(...data.gammas);
    const values = [floor];
    for (const r of runs) if (r.prompt === prompt) values.push(r[key]);
    for (const t of Object.values(data.theory)) values.push(...t[predictedKey]);
    const c = chart(p.host, { x0: 1, x1: Math.max(2, gmax), y0: 0, y1: Math.max(...values) * 1.1,
                              xLabel: "\u03b3", yLabel, xInteger: true,
                              label: `${yLabel} against gamma, measured and predicted` });
    if (key === "speedup") {  // the target alone
      svg("line", { class: "tsd-one", x1: c.left, x2: c.right, y1: c.y(1), y2: c.y(1) }, c.root);
    }
    svg("line", { class: "tsd-now", x1: c.x(sel.gamma), x2: c.x(sel.gamma), y1: c.top,
                  y2: c.bottom }, c.root);
    const order = data.drafters.filter((d) => d !== sel.drafter).concat([sel.drafter]);
    for (const d of order) {
      const chosen = d === sel.drafter ? "tsd-chosen" : "tsd-other";
      const g = svg("g", { class: `${series(d)} ${chosen}` }, c.root);
      const t = data.theory[d];
      if (t) {
        const pts = t.gammas.map((gm, i) => `${c.x(gm)},${c.y(t[predictedKey][i])}`).join(" ");
        svg("polyline", { class: "tsd-predicted-line", points: pts }, g);
      }
      const mine = runs.filter((r) => r.drafter === d && r.prompt === prompt)
        .sort((a, b) => a.gamma - b.gamma);
      if (mine.length > 1) {
        svg("polyline", { class: "tsd-measured-line",
                          points: mine.map((r) => `${c.x(r.gamma)},${c.y(r[key])}`).join(" ") }, g);
      }
      for (const r of mine) {
        const dot = svg("circle", { class: "tsd-point", cx: c.x(r.gamma), cy: c.y(r[key]),
                                    r: r.gamma === sel.gamma && d === sel.drafter ? 5 : 3.5 }, g);
        dot.dataset.drafter = d;
        dot.dataset.gamma = r.gamma;
        dot.dataset.value = r[key];
        let label = `${d}, \u03b3 = ${r.gamma}: ${num(r[key])} measured`;
        if (t && r.gamma <= t.gammas.length) {
          label += `, ${num(t[predictedKey][r.gamma - 1])} predicted`;
        }
        dot.addEventListener("mouseenter", () => showTip(dot, label));
        dot.addEventListener("mouseleave", hideTip);
        dot.addEventListener("click", () => { sel.drafter = d; sel.gamma = r.gamma; update(); });
      }
    }
  }

  function drawSeriesLegend() {
    seriesLegend.replaceChildren();
    const item = html("span", "tsd-series-item", undefined, seriesLegend);
    const key = svg("svg", { width: 44, height: 12, "aria-hidden": "true" }, item);
    svg("circle", { class: "tsd-key-point", cx: 6, cy: 6, r: 3.5 }, key);
    svg("line", { class: "tsd-key-line", x1: 18, x2: 42, y1: 6, y2: 6 }, key);
    html("span", "", "measured (points), predicted (dashed):", item);
    for (const d of data.drafters) {
      const entry = html("span", "tsd-series-item", undefined, seriesLegend);
      html("span", `tsd-swatch ${series(d)}`, undefined, entry);
      const t = data.theory[d];
      html("span", "", t ? `${d} (\u03b1 ${num(t.alpha)}, c ${num(t.c)})` : `${d} (no prediction)`,
           entry);
    }
  }

  function drawCharts() {
    if (!run) return;
    drawCalls();
    drawPositions();
    drawAgainstGamma(tokensPanel, "tokens_per_call", "tokens_per_call", "tokens per call", 1);
    drawAgainstGamma(speedPanel, "speedup", "speedup", "speed-up", 1);
  }

  function update() {
    // Keep the chosen gamma if this drafter and prompt have it, else the nearest one run.
    let gammas = gammasOf(sel.drafter, sel.prompt);
    if (!gammas.length) {  // this drafter has no run on this prompt: take one it has
      sel.prompt = runs.find((r) => r.drafter === sel.drafter).prompt;
      gammas = gammasOf(sel.drafter, sel.prompt);
    }
    if (!gammas.includes(sel.gamma)) {
      const distance = (g) => Math.abs(g - sel.gamma);
      sel.gamma = gammas.reduce((best, g) => (distance(g) < distance(best) ? g : best));
    }
    run = runOf(sel.drafter, sel.prompt, sel.gamma);
    root.dataset.drafter = sel.drafter;
    root.dataset.prompt = sel.prompt;
    root.dataset.gamma = sel.gamma;
    for (const [buttons, label] of [[drafterButtons, sel.drafter], [promptButtons, sel.prompt]]) {
      for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.label === label));
    }
    slider.max = gammas.length - 1;
    slider.value = gammas.indexOf(sel.gamma);
    slider.disabled = gammas.length < 2;
    slider.setAttribute("aria-valuetext", `gamma ${sel.gamma}`);
    gammaValue.textContent = `\u03b3 = ${sel.gamma}`;

    const kept = run.proposed
      ? `${run.accepted} of ${plural(run.proposed, "draft")} kept (${pct(run.acceptance_rate)})`
      : "nothing drafted";
    const slower = run.speedup < 1 ? " (slower)" : "";
    summary.innerHTML =
      `<b>${plural(run.generated, "token")}</b> in <b>${plural(run.calls, "target call")}</b>: ` +
      `${num(run.tokens_per_call)} per call \u00b7 ${esc(kept)} \u00b7 ` +
      `${seconds(run.seconds)} against ${seconds(run.baseline_seconds)} for the target alone: ` +
      `a speed-up of <b>${num(run.speedup)}\u00d7</b>${slower}`;
    const t = data.theory[sel.drafter];
    predicted.hidden = !t;
    if (t) {
      const i = sel.gamma - 1;
      predicted.textContent = `predicted for \u03b1 = ${num(t.alpha)}, c = ${num(t.c)}` +
        (t.verify_cost !== 1 ? `, verification ${num(t.verify_cost)}\u00d7 a one-token call` : "") +
        `: ${num(t.tokens_per_call[i])} tokens per call, ${num(t.speedup[i])}\u00d7`;
    }
    tip.hide();
    drawText();
    drawCharts();
  }

  drawSeriesLegend();
  update();
  return redrawOn(charts, drawCharts);
}

export default { render };
