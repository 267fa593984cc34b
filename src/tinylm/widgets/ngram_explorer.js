// The next-token explorer: type a context and compare P(next token | context) under maximum
// likelihood, add-k smoothing and Kneser-Ney. The page holds the raw counts and the Kneser-Ney
// probabilities of the most frequent contexts (see ngram_explorer.py; words are indices into
// data.words); add-k is recomputed here whenever the k slider moves, and each panel is sorted
// by its own probabilities.
import { esc, fillDatalist, fmtProb, pct } from "./common.js";

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
  fillDatalist(root.querySelector("datalist"), Object.keys(data.contexts).slice(0, 200));
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

  // One chart: a row per word, its bar as long as its probability relative to `max`, the
  // largest probability in any of the three charts, so that bars compare across them.
  function bars(title, rows, note, max) {
    const body = rows.map(([w, p]) => `
      <div class="tne-row" data-word="${esc(w)}">
        <span class="tne-word">${esc(w)}</span>
        <span class="tne-bar-wrap">
          <span class="tinylm-bar" style="width:${pct(p / max)}"></span>
        </span>
        <span class="tne-p">${fmtProb(p)}</span>
      </div>`).join("");
    return `<div class="tne-chart"><div class="tne-title">${title}</div>
      <div class="tne-note">${note || ""}</div>${body}</div>`;
  }

  // A panel's rows, largest probability first (ties keep the state's order: most counted
  // first), cut to the top few: each estimator is ranked by its own numbers.
  function ranked(rows) {
    return rows.map((r, i) => [r[0], r[1], i])
      .sort((a, b) => b[1] - a[1] || a[2] - b[2])
      .slice(0, data.top);
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
    const word = (i) => data.words[i];
    let mleRows = [], mleNote = "", addkRows, addkNote;
    if (exact && exact.total > 0) {
      mleRows = exact.w.map((w, i) => [word(w), exact.c[i] / exact.total])
        .filter((r) => r[1] > 0);
      // the seen words; every unseen word gets the same share, given in the note
      addkRows = exact.w.map((w, i) => [word(w), (exact.c[i] + k) / (exact.total + k * V)])
        .filter((r, i) => exact.c[i] > 0);
      addkNote = `every unseen word: ${fmtProb(k / (exact.total + k * V))}`;
    } else {
      mleNote = "context never seen: the MLE is undefined (0/0)";
      addkRows = kn.w.map((w) => [word(w), 1 / V]);
      addkNote = `unseen context: add-k is uniform, 1/|V| = ${fmtProb(1 / V)}`;
    }
    const knRows = kn.w.map((w, i) => [word(w), kn.kn[i]]);
    const knNote = (knKey === full ? "" : `backed off to "${esc(knKey)}"; `)
      + `${esc(data.unk)}: ${fmtProb(kn.unk)}`;
    const size = `|V| = ${V.toLocaleString("en-US")}`;
    status.textContent = exact
      ? `"${full || "(empty context)"}" seen ${exact.total.toLocaleString("en-US")} times; ${size}`
      : `"${full}" never seen in training; ${size}`;
    const panels = [ranked(mleRows), ranked(addkRows), ranked(knRows)];
    const max = Math.max(...panels.flat().map((r) => r[1]), 1e-12);
    charts.innerHTML = bars("MLE", panels[0], mleNote, max)
      + bars(`add-k (k = ${kValue.textContent})`, panels[1], addkNote, max)
      + bars(`Kneser-Ney (d = ${data.discount})`, panels[2], knNote, max);
  }
  input.addEventListener("input", update);
  slider.addEventListener("input", update);
  update();
}

export default { render };
