// The next-token explorer: type a context and compare P(next token | context) under maximum
// likelihood, add-k smoothing and Kneser-Ney. The page holds the raw counts and the Kneser-Ney
// probabilities of the most frequent contexts (see ngram_explorer.py); add-k is recomputed here
// whenever the k slider moves.
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

  // One chart: a row per word, its bar as long as its probability relative to the largest.
  function bars(title, rows, note) {
    const max = Math.max(...rows.map((r) => r[1]), 1e-12);
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

  function update() {
    const k = Math.pow(10, parseFloat(slider.value));
    kValue.textContent = k >= 0.1 ? k.toFixed(2) : k.toFixed(3);
    const words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean)
      .slice(-(data.order - 1));
    const full = words.join(" ");
    const exact = data.contexts[full];
    const [knKey, kn] = lookup(words);
    const V = data.vocab_size;
    let mleRows = [], mleNote = "", addkRows, addkNote;
    if (exact && exact.total > 0) {
      mleRows = exact.words.map((w, i) => [w, exact.counts[i] / exact.total]);
      addkRows = exact.words.map((w, i) => [w, (exact.counts[i] + k) / (exact.total + k * V)]);
      addkNote = `every unseen word: ${fmtProb(k / (exact.total + k * V))}`;
    } else {
      mleNote = "context never seen: the MLE is undefined (0/0)";
      addkRows = (kn ? kn.words : []).map((w) => [w, 1 / V]);
      addkNote = `unseen context: add-k is uniform, 1/|V| = ${fmtProb(1 / V)}`;
    }
    const knRows = kn ? kn.words.map((w, i) => [w, kn.kn[i]]) : [];
    const knNote = (knKey === full ? "" : `backed off to "${esc(knKey)}"; `)
      + `${esc(data.unk)}: ${fmtProb(kn.kn_unk)}`;
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
