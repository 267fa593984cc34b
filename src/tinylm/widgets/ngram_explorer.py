"""The next-token explorer: type a context, see what comes next under three estimators.

For a typed context the widget draws P(next token | context) three times: the maximum
likelihood estimate (raw counts, undefined for an unseen context), add-k smoothing (a k slider)
and Kneser-Ney (backing off to the longest suffix of the context it has seen). Each panel lists
its words by its own probability, largest first.

Python computes, once, what the page needs: for the most frequent contexts and all their
shorter suffixes, the words that lead either ranking (the most counted, the most probable under
Kneser-Ney) with their raw counts and Kneser-Ney probabilities. The browser does the rest
(ngram_explorer.js): looking contexts up as they are typed, add-k from the raw counts whenever
the slider moves, and sorting each panel.

The state is kept small, since it is written into the page: every word is spelled once, in
``words``, and an entry refers to words by their index in that list.
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
    Each panel shows its ``top`` most probable words. The page opens on the context
    ``initial`` (default: the most frequent one); pick one whose continuations a reader can
    judge at a glance.
    """

    _esm = esm("ngram_explorer")
    _css = css("ngram_explorer")
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, sentences: Sequence[Sequence[str]], order: int = 3, k: float = 1.0,
                 discount: float = 0.75, top: int = 8, max_contexts: int = 1000,
                 initial: str | None = None):
        super().__init__(data=_state(sentences, order, k, discount, top, max_contexts,
                                     initial))


def _state(sentences: Sequence[Sequence[str]], order: int, k: float, discount: float, top: int,
           max_contexts: int, initial: str | None) -> dict:
    """The widget's state: the models' numbers for the frequent contexts, as small JSON.

    ``contexts`` maps a context ("the united") to ``{"w": word indices, "c": raw counts,
    "kn": Kneser-Ney probabilities, "total": the context's count, "unk": P_KN(<unk> | ctx)}``;
    ``words`` spells the indices. An entry holds the ``top`` most counted words and the
    ``top`` most probable under Kneser-Ney, most counted first. The page opens on
    ``initial``, or on the most frequent context if it is None.
    """
    if order < 2:
        raise ValueError(f"the explorer needs order >= 2 (a context to type), got {order}")
    counts_lm = NGramLM(order, "mle").fit(sentences)
    kn_lm = NGramLM(order, "kneser_ney", discount=discount).fit(sentences)
    words: dict[str, int] = {}  # word -> its index in the state's word list
    table = {}
    for ctx in _frequent_contexts(sentences, order, max_contexts):
        entry = _context_entry(counts_lm, kn_lm, ctx, top)
        entry["w"] = [words.setdefault(w, len(words)) for w in entry.pop("words")]
        table[" ".join(ctx)] = entry
    return {
        "uid": f"{id(table):x}", "order": order, "k": k, "discount": discount, "top": top,
        "vocab_size": len(counts_lm.vocab), "unk": UNK,
        "initial": next(iter(table)) if initial is None else initial,
        "words": list(words), "contexts": table,
    }


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
    """The words that lead after ``ctx`` by raw count or by Kneser-Ney, with both numbers.

    MLE and add-k rank words by their count, Kneser-Ney by its own probability (which also
    weighs the shorter contexts), so the two top lists can differ: the entry keeps both, most
    counted first (ties: the more probable under Kneser-Ney first).
    """
    counts = counts_lm.context_counts(ctx)
    kn = kn_lm.distribution(ctx)
    hidden = {counts_lm.index[t] for t in (BOS, UNK)}
    by_kn = [int(i) for i in np.argsort(-kn, kind="stable") if i not in hidden][:top]
    by_count = [int(i) for i in np.lexsort((-kn, -counts))
                if i not in hidden and counts[i] > 0][:top]
    keep = sorted(set(by_kn) | set(by_count), key=lambda i: (-counts[i], -kn[i], i))
    return {
        "words": [counts_lm.vocab[i] for i in keep],
        "c": [int(counts[i]) for i in keep],
        "kn": [_round(kn[i]) for i in keep],
        "total": int(counts.sum()),
        "unk": _round(kn[kn_lm.index[UNK]]),
    }


def _round(p: float) -> float:
    """Three significant digits: plenty for bars and for the numbers beside them, and it keeps
    the page small."""
    return float(f"{p:.3g}")
