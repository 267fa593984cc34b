"""The acceptance-rate dashboard: what speculative decoding drafted, kept and threw away, and how
that compares with the theory.

Each run is one call of ``tinylm.speculative.speculative_generate`` with its trace
(``SpeculativeOutput.steps``, one ``SpeculativeStep`` per target call) and two wall times: the
run's and that of the target alone on the same prompt and number of new tokens. The page groups
the runs by drafter; buttons pick a drafter (and a prompt, when there are several) and a slider
picks gamma among those run. For the chosen run it shows:

- the text, token by token: drafted tokens the target kept, the drafted token it rejected
  (struck through) followed by the target's own token in its place, and the bonus token a call
  adds when every draft was kept; hovering a token gives p, q and its call;
- the drafted tokens each target call kept (bars, 0..gamma), and the acceptance rate at each
  position of the draft (kept / checked there);
- tokens per target call and speed-up against gamma, measured (points) and predicted
  (``expected_tokens_per_call`` and ``expected_speedup`` of the drafter's alpha and cost ratio
  c, lines), for every drafter.

`speculative_dashboard_state` builds what the page draws; everything interactive happens in
speculative_dashboard.js, so the dashboard also works on the book's static pages.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence

import anywidget
import traitlets

from tinylm.widgets._assets import css, esm

RUN_KEYS = ("drafter", "prompt", "gamma", "output", "seconds", "baseline_seconds")
THEORY_KEYS = ("alpha", "c")
PROMPT_CHARS = 300  # the page shows at most the prompt's last 300 characters
# How each token of the text came to be, one letter per token in the state's "kind" string.
TOKEN_KINDS = {
    "a": "accepted",   # a drafted token the target kept
    "r": "rejected",   # the drafted token the target rejected (not part of the text)
    "t": "target",     # the target's own token: after a rejection, or when nothing was drafted
    "b": "bonus",      # the target's token after a call whose every draft was kept
}
SHOWN = {"\n": "\u21b5", "\t": "\u21e5", "\r": "\u240d"}  # as the BPE viewer writes them


class SpeculativeDashboard(anywidget.AnyWidget):
    """Speculative runs side by side: drafted tokens kept and rejected, per call and per draft
    position, and tokens per call and speed-up against gamma, measured and predicted.

    tokenizer: writes each token (a ``tokenizers.Tokenizer`` such as the zoo's, a
               ``tinylm.bpe.BPETokenizer``, or anything with ``decode(list_of_ids)``; None: the
               course tokenizer).
    runs:      one dict per run: ``drafter`` (label), ``prompt`` (label), ``gamma``,
               ``output`` (a ``SpeculativeOutput``), ``seconds`` (the run's wall time) and
               ``baseline_seconds`` (the target alone, same prompt and new tokens).
    theory:    optional, per drafter label: ``{"alpha": ..., "c": ...}`` (and optionally
               ``verify_cost``, as ``expected_speedup`` takes it); the predicted curves.
    drafter, prompt, gamma: what the page opens on (default: the first run's).
    """

    _esm = esm("speculative_dashboard")
    _css = css("speculative_dashboard")
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, tokenizer, runs: Sequence[Mapping], theory: Mapping | None = None, *,
                 title: str | None = None, drafter: str | None = None,
                 prompt: str | None = None, gamma: int | None = None):
        state = speculative_dashboard_state(tokenizer, runs, theory)
        first = state["runs"][0]
        drafter = first["drafter"] if drafter is None else drafter
        prompt = first["prompt"] if prompt is None else prompt
        if drafter not in state["drafters"]:
            raise ValueError(f"drafter {drafter!r} has no run; the drafters are "
                             f"{state['drafters']}")
        if prompt not in state["prompts"]:
            raise ValueError(f"prompt {prompt!r} has no run; the prompts are {state['prompts']}")
        gammas = sorted(r["gamma"] for r in state["runs"]
                        if r["drafter"] == drafter and r["prompt"] == prompt)
        if not gammas:
            raise ValueError(f"no run of drafter {drafter!r} on prompt {prompt!r}")
        gamma = gammas[0] if gamma is None else gamma
        if gamma not in gammas:
            raise ValueError(f"no run of drafter {drafter!r} on prompt {prompt!r} with "
                             f"gamma={gamma!r}; its gammas are {gammas}")
        super().__init__(data={**state, "title": title or "",
                               "selected": {"drafter": drafter, "prompt": prompt,
                                            "gamma": gamma}})


# ---- token texts -------------------------------------------------------------------------------


def readable(data: bytes) -> str:
    """A token's bytes as text: whole UTF-8 characters as themselves, a newline as ↵ (a tab
    ⇥, a carriage return ␍), other control characters and the bytes of a character cut in two
    between tokens as ``\\xNN``."""
    text = data.decode("utf-8", errors="backslashreplace")
    return "".join(SHOWN.get(ch) or (f"\\x{ord(ch):02x}" if unicodedata.category(ch) == "Cc"
                                     else ch) for ch in text)


def _token_bytes(tokenizer):
    """A function from a token id to its bytes, or to None for a special token (BOS, EOS)."""
    from tinylm.bpe import BPETokenizer, symbols_to_bytes

    if isinstance(tokenizer, BPETokenizer):
        return lambda i: tokenizer.vocab[i] if i < tokenizer.n_ordinary else None
    if hasattr(tokenizer, "id_to_token") and hasattr(tokenizer, "get_added_tokens_decoder"):
        added = tokenizer.get_added_tokens_decoder()  # id -> AddedToken

        def token_bytes(i: int):
            if i in added:
                return None if added[i].special else added[i].content.encode("utf-8")
            symbols = tokenizer.id_to_token(i)
            if symbols is None:
                raise ValueError(f"token id {i} is not in the tokenizer's vocabulary")
            return symbols_to_bytes(symbols)  # GPT-2's byte symbols: "Ġcat" -> b" cat"
        return token_bytes
    if callable(getattr(tokenizer, "decode", None)):
        return lambda i: tokenizer.decode([i]).encode("utf-8")
    raise TypeError("tokenizer must be a tokenizers.Tokenizer, a tinylm.bpe.BPETokenizer or "
                    f"have decode(list_of_ids), got {type(tokenizer).__name__}")


def _special_name(tokenizer, i: int) -> str:
    if hasattr(tokenizer, "id_to_token"):
        return tokenizer.id_to_token(i) or f"<{i}>"
    names = {v: k for k, v in getattr(tokenizer, "special_ids", {}).items()}
    return names.get(i, f"<{i}>")


class _Texts:
    """Token ids to the text the page shows, each id decoded once."""

    def __init__(self, tokenizer):
        self.tokenizer, self.bytes_of, self.cache = tokenizer, _token_bytes(tokenizer), {}

    def token(self, i: int) -> str:
        if i not in self.cache:
            data = self.bytes_of(i)
            self.cache[i] = _special_name(self.tokenizer, i) if data is None else readable(data)
        return self.cache[i]

    def text(self, ids: Sequence[int]) -> str:
        """Several tokens as one text (a character cut between two of them comes out whole);
        special tokens left out."""
        data = b"".join(b for b in map(self.bytes_of, ids) if b is not None)
        return readable(data)


# ---- checking the runs ---------------------------------------------------------------------------


def _check_run(run, n: int) -> None:
    from tinylm.speculative import SpeculativeOutput

    where = f"run {n}"
    if not isinstance(run, Mapping):
        raise TypeError(f"{where} must be a dict with keys {', '.join(RUN_KEYS)}, got "
                        f"{type(run).__name__}")
    missing = [k for k in RUN_KEYS if k not in run]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(map(repr, missing))}: every run needs "
                         f"{', '.join(RUN_KEYS)}")
    for key in ("drafter", "prompt"):
        if not isinstance(run[key], str) or not run[key]:
            raise ValueError(f"{where}: {key} must be a non-empty label (str), got {run[key]!r}")
    where = f"run {n} ({run['drafter']}, {run['prompt']}, gamma={run['gamma']!r})"
    gamma = run["gamma"]
    if isinstance(gamma, bool) or not isinstance(gamma, int) or gamma < 1:
        raise ValueError(f"{where}: gamma must be an int >= 1, got {gamma!r}")
    output = run["output"]
    if not isinstance(output, SpeculativeOutput):
        raise TypeError(f"{where}: output must be the SpeculativeOutput that "
                        f"speculative_generate returned, got {type(output).__name__}")
    if output.gamma != gamma:
        raise ValueError(f"{where}: the output was made with gamma={output.gamma}")
    if not output.steps:
        raise ValueError(f"{where}: the output has no target call")
    for key in ("seconds", "baseline_seconds"):
        value = run[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                or not math.isfinite(value):
            raise ValueError(f"{where}: {key} must be a number of seconds > 0, got {value!r}")


def _check_theory(theory, drafters: list[str]) -> dict:
    if theory is None:
        return {}
    if not isinstance(theory, Mapping):
        raise TypeError(f"theory must be a dict {{drafter: {{'alpha', 'c'}}}}, got "
                        f"{type(theory).__name__}")
    for label, entry in theory.items():
        if label not in drafters:
            raise ValueError(f"theory for drafter {label!r}, which has no run; the drafters "
                             f"are {drafters}")
        if not isinstance(entry, Mapping) or not set(THEORY_KEYS) <= set(entry):
            raise ValueError(f"theory[{label!r}] must be a dict with alpha and c, got {entry!r}")
    return dict(theory)


# ---- the page's state ------------------------------------------------------------------------


def _round(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def _prob(x: float) -> float:
    """A probability to 3 significant digits: 0.0004213 stays 0.000421, not 0."""
    return float(f"{x:.3g}")


def run_tokens(output, texts: _Texts) -> dict:
    """The text of a run token by token, in order, rejected drafts included: ``id``, ``text``,
    ``kind`` (one letter per token, `TOKEN_KINDS`), ``call`` (0-based target call) and ``p``,
    ``q`` (target and drafter probability of a drafted token; None for the target's tokens)."""
    ids, kinds, calls, ps, qs = [], [], [], [], []

    def add(token, kind, call, p=None, q=None):
        ids.append(int(token))
        kinds.append(kind)
        calls.append(call)
        ps.append(None if p is None else _prob(p))
        qs.append(None if q is None else _prob(q))

    for call, step in enumerate(output.steps):
        for i in range(step.accepted):
            add(step.proposed[i], "a", call, step.p[i], step.q[i])
        if step.outcome == "correction":
            i = step.accepted
            add(step.proposed[i], "r", call, step.p[i], step.q[i])
        if step.token is not None:
            bonus = step.outcome == "bonus" and len(step.proposed) > 0
            add(step.token, "b" if bonus else "t", call)
    return {"id": ids, "text": [texts.token(i) for i in ids], "kind": "".join(kinds),
            "call": calls, "p": ps, "q": qs}


def position_counts(output) -> dict:
    """Per position 1..gamma of the draft: ``checked``, how many calls verified a draft there
    (those before it were all kept), and ``kept``, how many of those the target kept. A draft
    after a rejected one, or after an accepted EOS, is never checked."""
    gamma = output.gamma
    checked, kept = [0] * gamma, [0] * gamma
    for step in output.steps:
        for i in range(step.accepted):
            checked[i] += 1
            kept[i] += 1
        if step.outcome == "correction":
            checked[step.accepted] += 1
    return {"checked": checked, "kept": kept}


def run_state(run: Mapping, texts: _Texts) -> dict:
    """One run as the page reads it: its labels, counts, times, per-call and per-position
    numbers and tokens."""
    out = run["output"]
    proposed, accepted = sum(out.proposed), sum(out.accepted)
    prompt_ids = out.sequences[0, :out.prompt_length].tolist()
    prompt_text = texts.text(prompt_ids)
    if len(prompt_text) > PROMPT_CHARS:
        prompt_text = "\u2026" + prompt_text[-PROMPT_CHARS:]
    return {
        "drafter": run["drafter"], "prompt": run["prompt"], "gamma": int(run["gamma"]),
        "prompt_text": prompt_text,
        "generated": out.generated, "calls": out.target_calls,
        "proposed": proposed, "accepted": accepted,
        "acceptance_rate": _round(accepted / proposed) if proposed else None,
        "tokens_per_call": _round(out.tokens_per_call),
        "seconds": _round(run["seconds"]), "baseline_seconds": _round(run["baseline_seconds"]),
        "speedup": _round(run["baseline_seconds"] / run["seconds"]),
        "per_call": {"proposed": out.proposed, "accepted": out.accepted,
                     "outcome": [s.outcome for s in out.steps]},
        "positions": position_counts(out),
        "tokens": run_tokens(out, texts),
    }


def theory_state(entry: Mapping, max_gamma: int) -> dict:
    """The predicted curves of one drafter at gamma = 1..max_gamma, from its alpha, c (and
    verify_cost, default 1): ``tokens_per_call`` and ``speedup``."""
    from tinylm.speculative import expected_speedup, expected_tokens_per_call

    alpha, c = float(entry["alpha"]), float(entry["c"])
    verify_cost = float(entry.get("verify_cost", 1.0))
    gammas = list(range(1, max_gamma + 1))
    return {"alpha": _round(alpha), "c": _round(c), "verify_cost": _round(verify_cost),
            "gammas": gammas,
            "tokens_per_call": [_round(expected_tokens_per_call(alpha, g)) for g in gammas],
            "speedup": [_round(expected_speedup(alpha, g, c, verify_cost)) for g in gammas]}


def speculative_dashboard_state(tokenizer, runs: Sequence[Mapping],
                                theory: Mapping | None = None) -> dict:
    """The JSON-ready state `SpeculativeDashboard` draws.

    ``drafters`` and ``prompts``: the labels, in the order the runs first use them; ``gammas``:
    every gamma run, ascending; ``runs``: one `run_state` per run, in the order given (labels,
    ``generated``, ``calls``, ``proposed``, ``accepted``, ``acceptance_rate``,
    ``tokens_per_call``, ``seconds``, ``baseline_seconds``, ``speedup`` = baseline / seconds,
    ``per_call``, ``positions`` (`position_counts`) and ``tokens`` (`run_tokens`));
    ``theory``: per drafter given, `theory_state` up to the largest gamma run. Floats are
    rounded to 4 decimals, probabilities to 3 significant digits.

    Raises TypeError or ValueError for no runs, a run without one of `RUN_KEYS`, gamma < 1,
    an output that is not a ``SpeculativeOutput`` (or was made with another gamma), two runs
    with the same drafter, prompt and gamma, and theory for a drafter without runs.
    """
    from tinylm.tokenizer import load_tokenizer

    if isinstance(runs, (Mapping, str, bytes)) or not isinstance(runs, Sequence) or not runs:
        raise ValueError("runs must be a non-empty list of dicts, one per speculative run, "
                         f"with keys {', '.join(RUN_KEYS)}")
    seen = set()
    for n, run in enumerate(runs):
        _check_run(run, n)
        key = (run["drafter"], run["prompt"], run["gamma"])
        if key in seen:
            raise ValueError(f"run {n}: two runs of drafter {key[0]!r} on prompt {key[1]!r} "
                             f"with gamma={key[2]}; the page shows one per drafter, prompt and "
                             "gamma")
        seen.add(key)
    drafters = list(dict.fromkeys(r["drafter"] for r in runs))
    prompts = list(dict.fromkeys(r["prompt"] for r in runs))
    theory = _check_theory(theory, drafters)
    texts = _Texts(load_tokenizer() if tokenizer is None else tokenizer)
    max_gamma = max(r["gamma"] for r in runs)
    return {"drafters": drafters, "prompts": prompts,
            "gammas": sorted({int(r["gamma"]) for r in runs}),
            "runs": [run_state(r, texts) for r in runs],
            "theory": {label: theory_state(entry, max_gamma)
                       for label, entry in theory.items()}}
