"""The BPE merge viewer: a text split into tokens as the merges are applied, one by one.

Byte-pair encoding (``tinylm.bpe``) starts from the UTF-8 bytes of a text and applies the
merges it learned, lowest rank first, until no adjacent pair of tokens is a merge. The viewer
shows that process for any text a reader types: a slider runs over the steps, from the bare
bytes (step 0) to the tokens the tokenizer outputs (the last step); the tokens are coloured
chips with their ids, and the merge of the current step is spelled out.

Everything happens in the browser (bpe_merges.js), which needs the tokenizer itself: its
merges, each as (left id, right id, id of the merged token), and the id of each of the 256
bytes. The ids are the tokenizer's own: for the course tokenizer, the ids the zoo's models
read. The JavaScript splits the text with the course pre-tokenizer's pattern
(``tinylm.bpe.PAT_STR``), encodes each piece with ``TextEncoder`` and merges as
``BPETokenizer.merge_steps`` does. ``expected_steps`` computes, with ``tinylm.bpe``, what the
page must show; the tests compare the two.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from itertools import pairwise

import anywidget
import traitlets

from tinylm.widgets._assets import css, esm

DEFAULT_TEXT = "Tokenizers learn the lowest, newest and widest words: café, 猫 🙂"
MAX_CHARS = 400  # the longest text the page takes (the steps are recomputed on every key)
# How the page writes characters that would be invisible in a chip.
SHOWN = {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5", "\r": "\u240d"}


class BPEMergesViewer(anywidget.AnyWidget):
    """A text split into tokens as a BPE tokenizer applies its merges, one at a time.

    Type any text; the slider runs from its UTF-8 bytes (step 0) through every merge the
    tokenizer applies to it, lowest rank first, to its tokens. The chips are the tokens (a
    space written ␣), with their ids; the line above them names the merge of the current step:
    its rank among the tokenizer's merges, the two tokens it joins and the token it makes.

    tokenizer:  the course tokenizer (default), any byte-level BPE ``tokenizers.Tokenizer``
                with the course pre-tokenizer, or a ``tinylm.bpe.BPETokenizer``
    merges:     instead of a tokenizer, merges of your own: (left, right) id pairs in the
                order learned, ids as in ``tinylm.bpe`` (0-255 the bytes, 256 + k the token
                that merge k makes), or a dict {(left, right): new id} in that order
    max_merges: embed only the first ``max_merges`` merges (a lighter page; the tokens are
                then those of a tokenizer with only these merges)
    step:       where the slider starts (default: the last step, the tokenizer's output)
    """

    _esm = esm("bpe_merges")
    _css = css("bpe_merges")
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, tokenizer=None, text: str = DEFAULT_TEXT, *, merges=None,
                 max_merges: int | None = None, step: int | None = None,
                 title: str | None = None):
        state = bpe_merges_state(tokenizer, text, merges=merges, max_merges=max_merges,
                                 step=step)
        super().__init__(data={**state, "title": title or ""})


# ---- the tokenizer the page runs --------------------------------------------------------------


def merge_table(tokenizer=None, merges=None, max_merges: int | None = None):
    """(``BPETokenizer``, ids): the tokenizer as ``tinylm.bpe`` runs it, and for each of its
    token ids the id the page shows (the given tokenizer's own ids).

    Only tokenizers that split text as the course pre-tokenizer does can be shown: the page
    splits with ``tinylm.bpe.PAT_STR``, that pre-tokenizer's pattern.
    """
    from tinylm import bpe
    from tinylm.tokenizer import course_pre_tokenizer, load_tokenizer

    if tokenizer is not None and merges is not None:
        raise TypeError("give a tokenizer or merges, not both")
    if merges is not None:
        ours, ids = _from_merges(merges)
    elif tokenizer is None or not isinstance(tokenizer, bpe.BPETokenizer):
        ours, ids = bpe.from_tokenizers(load_tokenizer() if tokenizer is None else tokenizer)
    else:
        ours, ids = tokenizer, list(range(tokenizer.vocab_size))
    if _state_of(ours.pre_tokenizer) != _state_of(course_pre_tokenizer()):
        raise ValueError("the viewer splits text as the course pre-tokenizer does "
                         "(tinylm.tokenizer.course_pre_tokenizer); this tokenizer splits "
                         "differently")
    if max_merges is not None:
        if isinstance(max_merges, bool) or not isinstance(max_merges, int) or max_merges < 0:
            raise ValueError(f"max_merges must be an int >= 0, got {max_merges!r}")
        kept = bpe.BPETokenizer(ours.merges[:max_merges], (), ours.pre_tokenizer)
        ids = ids[: kept.n_ordinary]
        ours = kept
    return ours, ids


def _state_of(pre_tokenizer) -> object:
    return json.loads(pre_tokenizer.__getstate__())


def _from_merges(merges):
    from tinylm import bpe

    if isinstance(merges, Mapping):
        pairs = list(merges)
        ours = bpe.BPETokenizer(pairs, ())
        made = [ours.merged_ids[p] for p in ours.merges]
        given = [int(i) for i in merges.values()]
        if made != given:
            k = next(k for k, (a, b) in enumerate(zip(made, given, strict=True)) if a != b)
            raise ValueError(f"merge {k} {pairs[k]} makes token {made[k]} (256 + its rank, or "
                             f"the id of the token it spells if one exists), got {given[k]}")
    elif isinstance(merges, Sequence) and not isinstance(merges, (str, bytes)):
        ours = bpe.BPETokenizer(merges, ())
    else:
        raise TypeError(f"merges must be a list of (left, right) pairs or a dict "
                        f"{{pair: new id}}, got {type(merges).__name__}")
    return ours, list(range(ours.vocab_size))


def bpe_merges_state(tokenizer=None, text: str = DEFAULT_TEXT, *, merges=None,
                     max_merges: int | None = None, step: int | None = None) -> dict:
    """The JSON-ready state `BPEMergesViewer` draws.

    ``byte_ids``: the id of each byte value 0-255; ``merges``: flat [left, right, made, ...],
    three ids per merge in rank order; ``n_merges``: how many merges the tokenizer has (more
    than are embedded if ``max_merges`` cut them); ``pattern``: the pre-tokenizer's regular
    expression; ``text``, ``step`` (-1: the last) and ``max_chars``: where the page starts.
    """
    from tinylm import bpe

    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ValueError(f"text must be at most {MAX_CHARS} characters, got {len(text)}")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError(f"step must be an int >= 0 (or None for the last), got {step!r}")
    total = _n_merges(tokenizer, merges)
    ours, ids = merge_table(tokenizer, merges, max_merges)
    flat = []
    for pair in ours.merges:
        flat += [ids[pair[0]], ids[pair[1]], ids[ours.merged_ids[pair]]]
    return {"byte_ids": ids[:256], "merges": flat, "n_merges": total, "pattern": bpe.PAT_STR,
            "text": text, "step": -1 if step is None else step, "max_chars": MAX_CHARS}


def _n_merges(tokenizer, merges) -> int:
    from tinylm import bpe

    if merges is not None:
        return len(merges)
    if isinstance(tokenizer, bpe.BPETokenizer):
        return len(tokenizer.merges)
    from tinylm.tokenizer import load_tokenizer

    model = json.loads((load_tokenizer() if tokenizer is None else tokenizer).to_str())["model"]
    return len(model["merges"])


# ---- what the page must show -------------------------------------------------------------------


def token_label(data: bytes) -> str:
    """A token's bytes as a chip shows them: UTF-8 characters as themselves (a space as ␣, a
    newline as ↵, a tab as ⇥, a carriage return as ␍), other control characters and the bytes
    of a character cut in two as ``\\xNN``. bpe_merges.js writes the same."""
    out, i = [], 0
    while i < len(data):
        lead = data[i]
        n = (1 if lead < 0x80 else 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF
             else 4 if 0xF0 <= lead <= 0xF4 else 0)
        try:
            char = data[i : i + n].decode("utf-8") if n and i + n <= len(data) else None
        except UnicodeDecodeError:
            char = None
        if char is None:
            out.append(f"\\x{lead:02x}")
            i += 1
            continue
        code = ord(char)
        if char in SHOWN:
            out.append(SHOWN[char])
        elif code < 0x20 or 0x7F <= code < 0xA0:
            out.append("".join(f"\\x{b:02x}" for b in data[i : i + n]))
        else:
            out.append(char)
        i += n
    return "".join(out)


def expected_steps(text: str, tokenizer=None, *, merges=None,
                   max_merges: int | None = None) -> list[dict]:
    """What the page shows for ``text``, step by step, computed with ``tinylm.bpe``.

    One dict per step: ``tokens``, a list of (label, id) chips, and ``merge``: None at step
    0, else {"rank", "left", "right", "made"} (ids), the merge of lowest rank found among
    the previous step's tokens. The tokens are ``BPETokenizer.merge_steps``; the ids the
    tokenizer's own.
    """
    from tinylm.bpe import pre_tokenize, symbols_to_bytes

    ours, ids = merge_table(tokenizer, merges, max_merges)
    token_id = {token: i for i, token in enumerate(ours.vocab[: ours.n_ordinary])}
    pieces = [symbols_to_bytes(p) for p in pre_tokenize(text, ours.pre_tokenizer)]
    steps, previous = [], None
    for tokens in ours.merge_steps(text):
        merge = None
        if previous is not None:  # the pair of lowest rank within a piece of the last step
            found = {pair for word in previous for pair in pairwise(word) if pair in ours.ranks}
            best = min(found, key=ours.ranks.get)
            merge = {"rank": ours.ranks[best], "left": ids[best[0]], "right": ids[best[1]],
                     "made": ids[ours.merged_ids[best]]}
        steps.append({"tokens": [(token_label(t), ids[token_id[t]]) for t in tokens],
                      "merge": merge})
        previous = _split(tokens, pieces, token_id)
    return steps


def _split(tokens: list[bytes], pieces: list[bytes], token_id: dict) -> list[list[int]]:
    """The ids of ``tokens`` grouped by the piece they belong to (merges stay in a piece)."""
    words, i = [], 0
    for piece in pieces:
        word, length = [], 0
        while length < len(piece):
            word.append(token_id[tokens[i]])
            length += len(tokens[i])
            i += 1
        words.append(word)
    return words
