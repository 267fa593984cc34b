"""The acceptance-rate dashboard's state: the numbers the page shows must be the runs' own.

Real runs of the zoo's base model with two drafters (the zoo's draft model and the n-gram
drafter), greedy and sampled, at a few gammas and 24 new tokens. For every run the state's
counts, tokens and per-position rates are checked against the run's trace (``out.steps``) and
its sequence, read here without the module's helpers; the predicted curves against the
formulas (1 - a^(g+1)) / (1 - a) and that / (g c + 1), written out here. A hand-made trace
covers the cases real runs rarely hit: nothing drafted, a text ending on an accepted EOS draft,
a character cut between two tokens.
"""

from __future__ import annotations

import functools
import json
import time

import pytest
import torch

from tinylm import zoo
from tinylm.generation import generate
from tinylm.speculative import (
    NGramDrafter,
    SpeculativeOutput,
    SpeculativeStep,
    speculative_generate,
)
from tinylm.tokenizer import BOS_ID, EOS_ID
from tinylm.widgets import SpeculativeDashboard, speculative_dashboard_state
from tinylm.widgets.speculative_dashboard import readable

NEW_TOKENS = 24
STORY = ("Lily had a red ball. Lily liked to play with the red ball in the park. One day, Lily "
         "took the red ball to the park and")
THEORY = {"zoo draft": {"alpha": 0.62, "c": 0.21}, "n-gram": {"alpha": 0.35, "c": 0.01}}


@functools.cache
def real_runs():
    """(tokenizer, runs): greedy runs of both drafters at gamma 1, 2 and 4 on one prompt, and
    sampled runs of the zoo draft at gamma 2 and 4 on the same prompt, each timed with the
    target alone on the same prompt and settings."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: a second thread only adds waiting
    try:
        target, tok = zoo.load("base")
        draft, _ = zoo.load("draft")
        ids = torch.tensor([tok.encode(STORY).ids])
        for drafter in (draft, NGramDrafter(max_ngram=3)):  # compile and warm up, untimed
            speculative_generate(target, drafter, ids, max_new_tokens=4, gamma=2)
        settings = {"greedy": {}, "sampled": {"do_sample": True, "seed": 0}}

        def timed(fn):
            started = time.perf_counter()
            result = fn()
            return result, time.perf_counter() - started

        runs = []
        for prompt, drafters, gammas in (("greedy", ("zoo draft", "n-gram"), (1, 2, 4)),
                                         ("sampled", ("zoo draft",), (2, 4))):
            kw = settings[prompt]
            _, baseline = timed(lambda kw=kw: generate(target, ids, max_new_tokens=NEW_TOKENS,
                                                       **kw))
            for label in drafters:
                for gamma in gammas:
                    drafter = draft if label == "zoo draft" else NGramDrafter(max_ngram=3)
                    out, seconds = timed(lambda d=drafter, g=gamma, kw=kw: speculative_generate(
                        target, d, ids, max_new_tokens=NEW_TOKENS, gamma=g, **kw))
                    runs.append({"drafter": label, "prompt": prompt, "gamma": gamma,
                                 "output": out, "seconds": seconds,
                                 "baseline_seconds": baseline})
        return tok, runs
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def real():
    tok, runs = real_runs()
    return tok, runs, speculative_dashboard_state(tok, runs, THEORY)


# ---- real runs ---------------------------------------------------------------------------------


def test_the_runs_cover_what_the_page_shows(real):
    _, runs, state = real
    outcomes = {s.outcome for r in runs for s in r["output"].steps}
    assert {"correction", "bonus"} <= outcomes  # both colours of the target's token occur
    assert any(len(s.proposed) == 0 for r in runs for s in r["output"].steps)  # n-gram: nothing
    assert any(s.accepted > 0 for r in runs if r["drafter"] == "n-gram"
               for s in r["output"].steps)
    assert state["drafters"] == ["zoo draft", "n-gram"]
    assert state["prompts"] == ["greedy", "sampled"]
    assert state["gammas"] == [1, 2, 4]


def test_counts_are_the_runs(real):
    _, runs, state = real
    assert len(state["runs"]) == len(runs)
    for run, shown in zip(runs, state["runs"], strict=True):
        out = run["output"]
        steps = out.steps
        assert (shown["drafter"], shown["prompt"], shown["gamma"]) == \
            (run["drafter"], run["prompt"], run["gamma"])
        generated = out.sequences.shape[1] - out.prompt_length
        assert generated == NEW_TOKENS  # no EOS within 24 tokens of this story
        assert shown["generated"] == generated
        assert shown["calls"] == len(steps)
        assert shown["per_call"]["proposed"] == [len(s.proposed) for s in steps]
        assert shown["per_call"]["accepted"] == [s.accepted for s in steps]
        assert shown["per_call"]["outcome"] == [s.outcome for s in steps]
        proposed = sum(len(s.proposed) for s in steps)
        accepted = sum(s.accepted for s in steps)
        assert (shown["proposed"], shown["accepted"]) == (proposed, accepted)
        assert max(shown["per_call"]["accepted"]) <= run["gamma"]
        if proposed:
            assert shown["acceptance_rate"] == pytest.approx(accepted / proposed, abs=5e-5)
        else:
            assert shown["acceptance_rate"] is None
        assert shown["tokens_per_call"] == pytest.approx(generated / len(steps), abs=5e-5)
        assert shown["speedup"] == pytest.approx(run["baseline_seconds"] / run["seconds"],
                                                 abs=5e-5)
        assert shown["seconds"] == pytest.approx(run["seconds"], abs=5e-5)


def test_every_token_is_coloured_as_its_call_made_it(real):
    tok, runs, state = real
    for run, shown in zip(runs, state["runs"], strict=True):
        out, tokens = run["output"], shown["tokens"]
        n = len(tokens["id"])
        assert len(tokens["kind"]) == len(tokens["text"]) == len(tokens["call"]) == n
        assert len(tokens["p"]) == len(tokens["q"]) == n
        # Without the rejected drafts, the tokens are the generated text, id by id and as text.
        kept = [i for i in range(n) if tokens["kind"][i] != "r"]
        generated = out.sequences[0, out.prompt_length:].tolist()
        assert [tokens["id"][i] for i in kept] == generated
        assert "".join(tokens["text"][i] for i in kept) == tok.decode(generated)
        assert shown["prompt_text"] == tok.decode(out.sequences[0, :out.prompt_length].tolist())
        # Call by call: the kept drafts first, in order, then the rejected one, then the
        # target's token, coloured "bonus" only when there were drafts and all were kept.
        for call, step in enumerate(out.steps):
            mine = [i for i in range(n) if tokens["call"][i] == call]
            assert mine == list(range(mine[0], mine[0] + len(mine)))  # one stretch per call
            kinds = "".join(tokens["kind"][i] for i in mine)
            k = len(step.proposed)
            rejected = step.accepted < k
            assert kinds.count("a") == step.accepted
            assert kinds.count("r") == (1 if rejected else 0)
            assert kinds.count("b") == (1 if k and not rejected else 0)
            assert kinds.count("t") == (1 if rejected or not k else 0)
            drafted = [i for i in mine if tokens["kind"][i] in "ar"]
            assert [tokens["id"][i] for i in drafted] == step.proposed[:len(drafted)]
            for j, i in enumerate(drafted):
                assert tokens["p"][i] == pytest.approx(step.p[j], rel=1e-2, abs=1e-12)
                assert tokens["q"][i] == pytest.approx(step.q[j], rel=1e-2, abs=1e-12)
                assert tokens["p"][i] == float(f"{tokens['p'][i]:.3g}")  # rounded
            for i in mine:
                if tokens["kind"][i] in "tb":
                    assert tokens["id"][i] == step.token
                    assert tokens["p"][i] is None and tokens["q"][i] is None
            if rejected and run["prompt"] == "greedy":  # greedy: a rejected draft is replaced
                r = next(i for i in mine if tokens["kind"][i] == "r")  # by another token
                assert tokens["id"][r + 1] != tokens["id"][r]
        if run["drafter"] == "n-gram":  # a retrieval drafter has no q: one-hot, q = 1
            assert all(q == 1.0 for q in tokens["q"] if q is not None)


def test_acceptance_by_position(real):
    _, runs, state = real
    for run, shown in zip(runs, state["runs"], strict=True):
        gamma, steps = run["gamma"], run["output"].steps
        pos = shown["positions"]
        for i in range(gamma):  # position i + 1
            kept = sum(s.accepted > i for s in steps)
            rejected_here = sum(s.outcome == "correction" and s.accepted == i for s in steps)
            assert pos["kept"][i] == kept
            assert pos["checked"][i] == kept + rejected_here
        assert sum(pos["kept"]) == shown["accepted"]
        # every drafted token up to the first rejection was checked, and nothing after it
        assert sum(pos["checked"]) == sum(min(len(s.proposed), s.accepted + 1) for s in steps)


def test_theory_is_the_formula(real):
    _, _, state = real
    assert set(state["theory"]) == set(THEORY)
    for label, given in THEORY.items():
        shown = state["theory"][label]
        a, c = given["alpha"], given["c"]
        assert shown["gammas"] == [1, 2, 3, 4]
        assert (shown["alpha"], shown["c"], shown["verify_cost"]) == (a, c, 1.0)
        for g, tokens, speedup in zip(shown["gammas"], shown["tokens_per_call"],
                                      shown["speedup"], strict=True):
            per_call = (1 - a ** (g + 1)) / (1 - a)
            assert tokens == pytest.approx(per_call, abs=5e-5)
            assert speedup == pytest.approx(per_call / (g * c + 1), abs=5e-5)


def test_verify_cost_divides_the_round(real):
    tok, runs, _ = real
    state = speculative_dashboard_state(tok, runs[:1], {"zoo draft": {
        "alpha": 0.5, "c": 0.25, "verify_cost": 2.0}})
    shown = state["theory"]["zoo draft"]
    assert shown["gammas"] == [1]
    assert shown["speedup"][0] == pytest.approx((1 + 0.5) / (0.25 + 2.0), abs=5e-5)


def test_the_state_is_small_json(real):
    _, runs, state = real
    text = json.dumps(state)
    assert json.loads(text) == state
    tokens = sum(len(r["tokens"]["id"]) for r in state["runs"])
    assert len(text) < 80 * tokens + 300 * len(runs)  # about 50 bytes a token, 200 a run


def test_the_widget_opens_on_the_first_run_or_the_one_asked_for(real):
    tok, runs, _ = real
    widget = SpeculativeDashboard(tok, runs, THEORY, title="t")
    assert widget.data["selected"] == {"drafter": "zoo draft", "prompt": "greedy", "gamma": 1}
    assert widget.data["title"] == "t"
    widget = SpeculativeDashboard(tok, runs, drafter="n-gram", gamma=4)
    assert widget.data["selected"] == {"drafter": "n-gram", "prompt": "greedy", "gamma": 4}
    assert widget.data["theory"] == {}
    with pytest.raises(ValueError, match="drafter 'medusa' has no run"):
        SpeculativeDashboard(tok, runs, drafter="medusa")
    with pytest.raises(ValueError, match=r"gamma=3; its gammas are \[1, 2, 4\]"):
        SpeculativeDashboard(tok, runs, gamma=3)
    with pytest.raises(ValueError, match="no run of drafter 'n-gram' on prompt 'sampled'"):
        SpeculativeDashboard(tok, runs, drafter="n-gram", prompt="sampled")


# ---- errors --------------------------------------------------------------------------------------


def test_bad_runs_are_refused_with_what_is_wrong(real):
    tok, runs, _ = real
    run = runs[0]
    with pytest.raises(ValueError, match="non-empty list"):
        speculative_dashboard_state(tok, [])
    with pytest.raises(ValueError, match="non-empty list"):
        speculative_dashboard_state(tok, run)  # one run, not a list of them
    for key in ("drafter", "prompt", "gamma", "output", "seconds", "baseline_seconds"):
        broken = {k: v for k, v in run.items() if k != key}
        with pytest.raises(ValueError, match=f"run 1 lacks '{key}'"):
            speculative_dashboard_state(tok, [runs[1], broken])
    for gamma in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="gamma must be an int >= 1"):
            speculative_dashboard_state(tok, [{**run, "gamma": gamma}])
    with pytest.raises(TypeError, match="output must be the SpeculativeOutput.*got dict"):
        speculative_dashboard_state(tok, [{**run, "output": run["output"].to_dict()}])
    with pytest.raises(ValueError, match="made with gamma=1"):
        speculative_dashboard_state(tok, [{**run, "gamma": 2}])
    with pytest.raises(ValueError, match="seconds must be a number of seconds > 0"):
        speculative_dashboard_state(tok, [{**run, "seconds": 0}])
    with pytest.raises(ValueError, match="drafter must be a non-empty label"):
        speculative_dashboard_state(tok, [{**run, "drafter": ""}])
    with pytest.raises(ValueError, match="two runs of drafter 'zoo draft'"):
        speculative_dashboard_state(tok, [run, dict(run)])
    with pytest.raises(TypeError, match="must be a dict"):
        speculative_dashboard_state(tok, [run["output"]])


def test_bad_theory_is_refused(real):
    tok, runs, _ = real
    with pytest.raises(ValueError, match="theory for drafter 'eagle', which has no run"):
        speculative_dashboard_state(tok, runs, {"eagle": {"alpha": 0.5, "c": 0.1}})
    with pytest.raises(ValueError, match="must be a dict with alpha and c"):
        speculative_dashboard_state(tok, runs, {"n-gram": {"alpha": 0.5}})
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        speculative_dashboard_state(tok, runs, {"n-gram": {"alpha": 1.5, "c": 0.1}})
    with pytest.raises(ValueError, match="need c >= 0"):
        speculative_dashboard_state(tok, runs, {"n-gram": {"alpha": 0.5, "c": -1}})


# ---- a hand-made trace ---------------------------------------------------------------------------


def test_a_hand_made_trace(real):
    tok = real[0]
    once, upon, a = (tok.encode(w, add_special_tokens=False).ids[0]
                     for w in ("Once", " upon", " a"))
    cut = tok.encode("\u65e5", add_special_tokens=False).ids  # 日: its 3 bytes, not one token
    assert len(cut) >= 2
    # call 0: drafts [upon, a], upon kept, a rejected, the target says cut[0]
    # call 1: nothing drafted, the target says cut[1] (and the rest of the character)
    # call 2: drafts [a, EOS] both kept: the text ends there, the target adds nothing
    rest = cut[1:]
    steps = [SpeculativeStep(0, [upon, a], 1, "correction", cut[0], [0.9, 0.01], [0.8, 0.7]),
             SpeculativeStep(2, [], 0, "bonus", rest[0], [], [])]
    generated = [upon, cut[0], rest[0]]
    for token in rest[1:]:
        steps.append(SpeculativeStep(len(generated), [], 0, "bonus", token, [], []))
        generated.append(token)
    steps.append(SpeculativeStep(len(generated), [a, EOS_ID], 2, "eos", None, [0.5, 0.4],
                                 [0.25, 0.000123456]))
    generated += [a, EOS_ID]
    sequence = torch.tensor([[BOS_ID, once] + generated])
    out = SpeculativeOutput(sequence, steps, prompt_length=2, gamma=2)
    run = {"drafter": "d", "prompt": "p", "gamma": 2, "output": out, "seconds": 2.0,
           "baseline_seconds": 1.0}
    shown = speculative_dashboard_state(tok, [run])["runs"][0]
    tokens = shown["tokens"]
    assert tokens["kind"] == "art" + "t" * len(rest) + "aa"
    assert tokens["id"] == [upon, a, cut[0], *rest, a, EOS_ID]
    assert tokens["call"] == [0, 0, 0] + [1 + i for i in range(len(rest))] + [len(steps) - 1] * 2
    assert tokens["text"][:2] == [" upon", " a"]
    assert tokens["text"][-2:] == [" a", "</s>"]
    # the character's bytes, one token at a time, as \xNN; the whole of them is the character
    pieces = tokens["text"][2:2 + len(cut)]
    assert "".join(pieces) == "\\xe6\\x97\\xa5"
    assert shown["prompt_text"] == "Once"
    assert tokens["q"][-1] == 0.000123  # 3 significant digits, not 0.0001
    assert shown["positions"] == {"checked": [2, 2], "kept": [2, 1]}
    assert shown["speedup"] == 0.5
    assert shown["generated"] == len(generated)
    assert shown["per_call"]["outcome"][-1] == "eos"


def test_readable_bytes():
    assert readable(" caf\u00e9".encode()) == " caf\u00e9"
    assert readable("\u65e5".encode()[:2]) == "\\xe6\\x97"
    assert readable(b"a\nb\tc\x01") == "a\u21b5b\u21e5c\\x01"
