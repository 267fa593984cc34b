"""The beam-tree viewer: every candidate a beam search scored, kept, pruned or finished.

A beam search keeps the ``num_beams`` best partial sequences at every step; the rest of the
candidates it scored are pruned, and those that end with the end-of-sequence token are
finished. `BeamTreeViewer` draws the whole search as a tree, one column per step, from the
trace `tinylm.generation` records (``return_trace=True``, a ``BeamSearchTrace``); the returned
hypotheses stand out in orange, and hovering over a candidate shows its numbers.

`beam_tree_state` turns the trace into what the page draws (beam_tree.js): one node per
candidate with its rank at its step and the node it extends, and one entry per finished
hypothesis. The private helpers after it read and check the trace's fields.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import anywidget
import traitlets

from tinylm.widgets._assets import css, esm

BEAM_STATUSES = ("kept", "pruned", "finished")


class BeamTreeViewer(anywidget.AnyWidget):
    """The tree a beam search grew: one column per step, one box per candidate.

    Every candidate the search scored at a step is drawn, ranked by its cumulative score:
    kept ones (extended at the next step), pruned ones (greyed) and finished ones (green, with
    the length-penalised final score after the arrow), each joined to the kept beam it extends.
    The returned hypotheses are drawn in orange. Hovering over (or focusing) a candidate shows
    its token id and text, token log-prob, cumulative and final score and rank; a click pins
    it. Everything is drawn in the browser from the state `beam_tree_state` computes.

    trace: the ``trace`` of a beam search (``BeamSearchTrace``, or its ``to_dict()``); decode:
    a tokenizer (anything with ``decode(list_of_ids)``) or a function from a token id to its
    text; prompt: the prompt's text, shown as the root.
    """

    _esm = esm("beam_tree")
    _css = css("beam_tree")
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, trace, decode, prompt: str = "", title: str | None = None):
        super().__init__(data={**beam_tree_state(trace, decode, prompt), "title": title or ""})


def beam_tree_state(trace, decode, prompt: str = "") -> dict:
    """The JSON-ready state `BeamTreeViewer` draws, from a beam-search trace.

    ``trace`` has (as attributes, or as keys of its ``to_dict()``) ``prompt_length``,
    ``num_beams``, ``length_penalty``, ``steps`` (a list per step of candidates with ``step``,
    ``parent``, ``token_id``, ``token_logprob``, ``score``, ``status``, ``beam`` and
    ``final_score``) and ``finished`` (hypotheses with ``tokens``, ``final_score`` (else
    ``score`` is taken as the final score), ``returned`` and, optionally, the ``step`` and
    ``candidate`` of their last token; without these they are found from their tokens).

    Returns a dict with one entry of ``nodes`` per candidate, in the trace's order::

        {"id", "step", "rank" (1 = best cumulative score at its step), "parent" (the id of the
         kept node it extends, -1 for the prompt), "token_id", "text", "logprob", "score",
         "status", "beam", "final", "hyp" (the index of the hypothesis ending here, or None),
         "returned" (a returned hypothesis ends here), "path" (on the way to one)}

    and one entry of ``hypotheses`` per finished hypothesis: ``{"node", "text", "score"
    (cumulative), "final", "returned"}``. Log-probs of minus infinity become None (as in
    ``to_dict()``); floats are rounded to 4 decimals. Bad traces raise ValueError.
    """
    token_text = _token_decoder(decode)
    num_beams = _as_int(_field(trace, "num_beams", "the trace"), "the trace's num_beams")
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1, got {num_beams}")
    prompt_length = _as_int(_field(trace, "prompt_length", "the trace"),
                            "the trace's prompt_length")
    length_penalty = float(_field(trace, "length_penalty", "the trace"))
    steps = _field(trace, "steps", "the trace")
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence) or not steps:
        raise ValueError("the trace's steps must be a non-empty list (one list of candidates "
                         "per generated token)")

    nodes: list[dict] = []
    paths: list[tuple[int, ...]] = []  # the generated tokens from the prompt to each node
    kept_before: dict[int, int] = {}  # beam index at the previous step -> node id
    step_starts = []  # the id of each step's first node
    for s, candidates in enumerate(steps):
        if isinstance(candidates, (str, bytes)) or not isinstance(candidates, Sequence) \
                or not candidates:
            raise ValueError(f"step {s} of the trace has no candidates (each step must be a "
                             "non-empty list)")
        kept_now: dict[int, int] = {}
        first = len(nodes)
        step_starts.append(first)
        for j, cand in enumerate(candidates):
            where = f"step {s}, candidate {j}"
            step = _as_int(_field(cand, "step", where), f"{where}: step")
            if step != s:
                raise ValueError(f"{where} says it belongs to step {step}")
            status = _field(cand, "status", where)
            status = getattr(status, "value", status)
            if status not in BEAM_STATUSES:
                raise ValueError(f"{where}: status must be one of {', '.join(BEAM_STATUSES)}, "
                                 f"got {status!r}")
            token_id = _as_int(_field(cand, "token_id", where), f"{where}: token_id")
            logprob = _logprob(_field(cand, "token_logprob", where), f"{where}: token_logprob")
            score = _logprob(_field(cand, "score", where), f"{where}: score")
            beam = _optional(cand, "beam")
            beam = None if beam is None else _as_int(beam, f"{where}: beam")
            final = _optional(cand, "final_score")
            final = None if final is None else _logprob(final, f"{where}: final_score")
            if status == "kept":
                if beam is None or not 0 <= beam < num_beams:
                    raise ValueError(f"{where} is kept, so its beam must be in "
                                     f"[0, {num_beams}), got {beam}")
                if beam in kept_now:
                    raise ValueError(f"{where}: beam {beam} is already taken at step {s}")
                kept_now[beam] = len(nodes)
            if status == "finished" and final is None:
                raise ValueError(f"{where} is finished but has no final_score")
            if s == 0:
                parent, path = -1, ()
            else:
                p = _as_int(_field(cand, "parent", where), f"{where}: parent")
                if p not in kept_before:
                    raise ValueError(f"{where}: parent {p} is not a kept beam of step {s - 1} "
                                     f"(kept beams: {sorted(kept_before)})")
                parent, path = kept_before[p], paths[kept_before[p]]
            paths.append(path + (token_id,))
            nodes.append({
                "id": len(nodes), "step": s, "rank": 0, "parent": parent,
                "token_id": token_id, "text": token_text(token_id), "logprob": logprob,
                "score": score, "status": status, "beam": beam, "final": final,
                "hyp": None, "returned": False, "path": False,
            })
        order = sorted(range(first, len(nodes)), key=lambda i: (
            nodes[i]["score"] is None, -(nodes[i]["score"] or 0.0), i))
        for rank, i in enumerate(order, start=1):
            nodes[i]["rank"] = rank
        kept_before = kept_now

    hypotheses = [_hypothesis(h, k, nodes, paths, step_starts, prompt_length, decode,
                              token_text)
                  for k, h in enumerate(_field(trace, "finished", "the trace") or [])]
    for k, h in enumerate(hypotheses):
        if nodes[h["node"]]["hyp"] is not None:
            raise ValueError(f"finished hypotheses {nodes[h['node']]['hyp']} and {k} end at the "
                             "same candidate")
        nodes[h["node"]]["hyp"] = k
        if h["returned"]:
            nodes[h["node"]]["returned"] = True
            i = h["node"]
            while i >= 0:
                nodes[i]["path"] = True
                i = nodes[i]["parent"]
    return {
        "prompt": str(prompt), "prompt_length": prompt_length, "num_beams": num_beams,
        "length_penalty": length_penalty, "n_steps": len(steps),
        "step_sizes": [end - start for start, end in
                       zip(step_starts, step_starts[1:] + [len(nodes)], strict=True)],
        "nodes": nodes, "hypotheses": hypotheses,
    }


# ---- reading a trace: fields of objects or dicts, checked ------------------------------------

_MISSING = object()


def _field(obj, name: str, what: str):
    """``obj.name``, or ``obj[name]`` for a dict (the ``to_dict()`` form of a trace)."""
    if isinstance(obj, dict):
        value = obj.get(name, _MISSING)
    else:
        value = getattr(obj, name, _MISSING)
    if value is _MISSING:
        raise ValueError(f"{what} has no {name!r} ({type(obj).__name__})")
    return value


def _optional(obj, name: str):
    """``obj.name`` or ``obj[name]``, None when there is no such field."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _as_int(value, what: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an integer, got {value!r}") from None


def _logprob(value, what: str) -> float | None:
    """A log-prob or score rounded to 4 decimals; None for minus infinity (which ``to_dict()``
    writes as None)."""
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if x == -math.inf:
        return None
    if not math.isfinite(x):
        raise ValueError(f"{what} must be finite or -inf, got {x}")
    return round(x, 4)


def _token_decoder(decode):
    """A function token id -> text, from a tokenizer with ``decode(ids)`` or a function."""
    if hasattr(decode, "decode"):
        def text(i: int) -> str:
            try:  # tokenizers.Tokenizer drops special tokens such as </s> unless told not to
                return decode.decode([i], skip_special_tokens=False)
            except TypeError:
                return decode.decode([i])
    elif callable(decode):
        text = decode
    else:
        raise TypeError("decode must be a tokenizer (with a decode method) or a function from "
                        f"a token id to its text, got {type(decode).__name__}")

    def checked(i: int) -> str:
        out = text(i)
        if not isinstance(out, str):
            raise TypeError(f"decode({i}) returned {type(out).__name__}, not str")
        return out

    return checked


def _hypothesis(h, k: int, nodes: list[dict], paths: list[tuple[int, ...]],
                step_starts: list[int], prompt_length: int, decode, token_text) -> dict:
    """A finished hypothesis and the node it ends at.

    ``step`` and ``candidate`` (if the hypothesis has them) say where its last token is in
    ``trace.steps``; its tokens must then lead there. Without them the node is found from the
    tokens alone, which may or may not start with the prompt and may or may not end with the
    end-of-sequence token of a finished candidate: finished candidates first, then the one with
    the closest final score.
    """
    what = f"finished hypothesis {k}"
    tokens = _field(h, "tokens", what)
    tokens = tokens.tolist() if hasattr(tokens, "tolist") else tokens
    tokens = tuple(_as_int(t, f"{what}: token") for t in tokens)
    final = _optional(h, "final_score")
    final = _logprob(_field(h, "score", what) if final is None else final,
                     f"{what}: final_score")
    returned = bool(_field(h, "returned", what))
    options = [tokens]
    if len(tokens) > prompt_length > 0:
        options.append(tokens[prompt_length:])

    def leads_to(i: int) -> bool:
        path = paths[i]
        return path in options or (nodes[i]["status"] == "finished" and path[:-1] in options)

    step, cand = _optional(h, "step"), _optional(h, "candidate")
    if step is not None and cand is not None:
        step, cand = _as_int(step, f"{what}: step"), _as_int(cand, f"{what}: candidate")
        if not 0 <= step < len(step_starts):
            raise ValueError(f"{what} ends at step {step}, but the trace has "
                             f"{len(step_starts)} steps")
        size = (step_starts[step + 1] if step + 1 < len(step_starts) else len(nodes)) \
            - step_starts[step]
        if not 0 <= cand < size:
            raise ValueError(f"{what} ends at candidate {cand} of step {step}, which has "
                             f"{size} candidates")
        node = step_starts[step] + cand
        if not leads_to(node):
            raise ValueError(f"{what}: its tokens {list(tokens)} do not lead to candidate "
                             f"{cand} of step {step} (tokens {list(paths[node])})")
    else:
        matches = []
        for i, n in enumerate(nodes):
            if leads_to(i):
                finished = n["status"] == "finished"
                node_final = n["final"] if finished else n["score"]
                gap = abs((node_final or -1e9) - (final or -1e9))
                matches.append((not finished, gap, i))
        if not matches:
            raise ValueError(f"{what} (tokens {list(tokens)}) does not end at any candidate "
                             "of the trace")
        node = min(matches)[2]
    generated = paths[node]
    if hasattr(decode, "decode"):  # the whole sequence at once: byte-level pieces join up
        try:
            text = decode.decode(list(generated), skip_special_tokens=False)
        except TypeError:
            text = decode.decode(list(generated))
    else:
        text = "".join(token_text(t) for t in generated)
    return {"node": node, "text": text, "score": nodes[node]["score"], "final": final,
            "returned": returned}
