"""Widgets for the book. Each one carries its data and its JavaScript, so it keeps working in
the static HTML book, where no Python kernel answers: everything interactive happens in the
browser. In JupyterLab the same widgets render through anywidget.

One module per widget, with its JavaScript and CSS in files beside it (README.md in this
folder says how to add one):

    ngram_explorer   NextTokenExplorer: P(next token | context) under MLE, add-k, Kneser-Ney
    projector        EmbeddingProjector: word vectors in 3-D, neighbours and analogies
    kv_calculator    KVCacheCalculator: the KV cache of LLaMA 2, multi-head vs grouped-query
    attention        AttentionViewer: where each head of each layer looks
    beam_tree        BeamTreeViewer: every candidate of a beam search, kept, pruned or finished
    bpe_merges       BPEMergesViewer: a text split into tokens as BPE applies its merges
    automaton        AutomatonExplorer: a regex's automaton and the tokens each state allows
    speculative_dashboard  SpeculativeDashboard: drafts kept and rejected, speed-up against gamma
    medusa_tree      MedusaTreeViewer: Medusa's tree of guesses, its attention mask, the kept paths

common.js and common.css hold what the widgets share; _assets.py puts them together.
"""

from tinylm.widgets.attention import AttentionViewer
from tinylm.widgets.automaton import AutomatonExplorer, automaton_state
from tinylm.widgets.beam_tree import BEAM_STATUSES, BeamTreeViewer, beam_tree_state
from tinylm.widgets.bpe_merges import BPEMergesViewer, bpe_merges_state
from tinylm.widgets.kv_calculator import KVCacheCalculator
from tinylm.widgets.medusa_tree import MedusaTreeViewer, medusa_tree_state
from tinylm.widgets.ngram_explorer import NextTokenExplorer
from tinylm.widgets.projector import EmbeddingProjector, pca_3d, quantize_rows
from tinylm.widgets.speculative_dashboard import (
    SpeculativeDashboard,
    speculative_dashboard_state,
)

__all__ = [
    "NextTokenExplorer",
    "EmbeddingProjector", "pca_3d", "quantize_rows",
    "KVCacheCalculator",
    "AttentionViewer",
    "BeamTreeViewer", "beam_tree_state", "BEAM_STATUSES",
    "BPEMergesViewer", "bpe_merges_state",
    "AutomatonExplorer", "automaton_state",
    "SpeculativeDashboard", "speculative_dashboard_state",
    "MedusaTreeViewer", "medusa_tree_state",
]
