"""The next-token explorer: type a context, see what comes next under three estimators.

For a typed context the widget draws P(next token | context) three times: the maximum
likelihood estimate (raw counts, undefined for an unseen context), add-k smoothing (a k slider)
and Kneser-Ney (backing off to the longest suffix of the context it has seen).

Python computes, once, what the page needs: for the most frequent contexts and all their
shorter suffixes, the top next words with their raw counts and Kneser-Ney probabilities. The
browser does the rest (ngram_explorer.js): looking contexts up as they are typed, and add-k
from the raw counts whenever the slider moves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import anywidget
import numpy as np
import traitlets

from tinylm.ngram import BOS, UNK, NGramLM
from tinylm.widgets._assets import css, esm


class NextTokenExplorer(anywidget.AnyWidget):
    """Type a context, see P(next token | context) under MLE, add-k and Kneser-Ney.

    The distributions of the ``max_contexts`` most frequent contexts (and all their shorter
    suffixes, which Kneser-Ney backs off to) are computed here in Python and embedded; the
    add-k bars are recomputed in the browser as the k slider moves, from the raw counts.
    """

    _esm = esm("ngram_explorer")
    _css = css("ngram_explorer")
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


# ---- the state: which contexts, and what the page keeps of each ------------------------------

def _frequent_contexts(sentences, order: int, max_contexts: int) -> list[tuple[str, ...]]:
    """The most frequent full contexts, then every suffix of them (shortest last)."""
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
