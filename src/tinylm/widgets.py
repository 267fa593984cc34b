"""Widgets for the book. Each one carries its data and its JavaScript, so it keeps working in
the static HTML book, where no Python kernel answers: everything interactive happens in the
browser. In JupyterLab the same widgets render through anywidget.
"""

from __future__ import annotations

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
