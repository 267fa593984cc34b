"""The beam-tree viewer's state: one node per candidate of the trace, joined to real parents.

The traces here are built by hand with the fields of `tinylm.generation`'s BeamSearchTrace
(plain dataclasses, and their `to_dict()`-style dicts), so the numbers are known exactly; the
last test draws a real trace from `tinylm.generation.generate`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

import pytest

from tinylm.widgets import BeamTreeViewer, beam_tree_state

VOCAB = {0: "</s>", 1: " the", 2: " cat", 3: " dog", 4: " sat", 5: " ran", 6: ".", 9: "Once"}
EOS = 0


@dataclass
class Candidate:
    step: int
    parent: int
    token_id: int
    token_logprob: float
    score: float
    status: str
    beam: int | None = None
    final_score: float | None = None


@dataclass
class Hypothesis:  # the fields of tinylm.generation.FinishedHypothesis
    tokens: list[int]
    score: float
    final_score: float
    step: int
    candidate: int
    returned: bool = False


@dataclass
class BareHypothesis:  # no location, no cumulative score: found from its tokens alone
    tokens: list[int]
    score: float
    returned: bool


@dataclass
class Trace:
    prompt_length: int
    num_beams: int
    length_penalty: float
    steps: list[list[Candidate]]
    finished: list[Hypothesis] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def fake_trace(hyps: str = "located") -> Trace:
    """Two beams, three steps, four candidates a step (2 x num_beams, as transformers ranks
    them). "Once the dog</s>" wins after the length penalty (score / generated length).

    hyps: "located" gives FinishedHypothesis-like hypotheses; "generated", "with_prompt" and
    "without_eos" bare ones whose tokens are the generated ones, the prompt and the generated
    ones, or the generated ones without the final </s>."""
    C = Candidate
    steps = [
        [C(0, 0, 1, -0.5, -0.5, "kept", 0),       # " the"
         C(0, 0, 2, -1.2, -1.2, "kept", 1),       # " cat"
         C(0, 0, 3, -1.6, -1.6, "pruned"),
         C(0, 0, 6, -2.3, -2.3, "pruned")],
        [C(1, 0, 2, -0.4, -0.9, "kept", 0),       # " the cat"
         C(1, 1, EOS, -0.05, -1.25, "finished", final_score=-0.625),  # " cat</s>"
         C(1, 0, 3, -0.8, -1.3, "kept", 1),       # " the dog"
         C(1, 1, 4, -0.9, -2.1, "pruned")],
        [C(2, 0, 4, -0.3, -1.2, "kept", 0),       # " the cat sat"
         C(2, 1, EOS, -0.2, -1.5, "finished", final_score=-0.5),      # " the dog</s>"
         C(2, 0, EOS, -0.7, -1.6, "finished", final_score=-0.5333),   # " the cat</s>"
         C(2, 1, 5, -0.9, -2.2, "kept", 1)],      # " the dog ran"
    ]
    ends = {"dog": [1, 3, EOS], "cat2": [1, 2, EOS], "cat1": [2, EOS]}
    if hyps == "located":
        finished = [Hypothesis(ends["dog"], -1.5, -0.5, 2, 1, True),
                    Hypothesis(ends["cat2"], -1.6, -0.5333, 2, 2),
                    Hypothesis(ends["cat1"], -1.25, -0.625, 1, 1)]
    else:
        if hyps == "with_prompt":
            ends = {k: [9] + v for k, v in ends.items()}
        elif hyps == "without_eos":
            ends = {k: v[:-1] for k, v in ends.items()}
        finished = [BareHypothesis(ends["dog"], -0.5, True),
                    BareHypothesis(ends["cat2"], -0.5333, False),
                    BareHypothesis(ends["cat1"], -0.625, False)]
    return Trace(prompt_length=1, num_beams=2, length_penalty=1.0, steps=steps,
                 finished=finished)


def decode(i: int) -> str:
    return VOCAB[i]


def node_at(state, step, token_id, parent_text=None):
    out = [n for n in state["nodes"] if n["step"] == step and n["token_id"] == token_id]
    if parent_text is not None:
        out = [n for n in out if state["nodes"][n["parent"]]["text"] == parent_text]
    assert len(out) == 1, out
    return out[0]


def test_one_node_per_candidate_with_its_numbers():
    trace = fake_trace()
    state = beam_tree_state(trace, decode, "Once")
    cands = [c for step in trace.steps for c in step]
    assert len(state["nodes"]) == len(cands) == 12
    assert [n["id"] for n in state["nodes"]] == list(range(12))
    for n, c in zip(state["nodes"], cands, strict=True):
        assert (n["step"], n["token_id"], n["status"], n["beam"]) == \
            (c.step, c.token_id, c.status, c.beam)
        assert n["logprob"] == c.token_logprob and n["score"] == c.score
        assert n["final"] == c.final_score
        assert n["text"] == VOCAB[c.token_id]
    assert state["n_steps"] == 3 and state["step_sizes"] == [4, 4, 4]
    assert (state["prompt"], state["prompt_length"], state["num_beams"],
            state["length_penalty"]) == ("Once", 1, 2, 1.0)
    json.dumps(state, allow_nan=False)  # what the page embeds


def test_statuses_are_preserved():
    state = beam_tree_state(fake_trace(), decode, "Once")
    counts = {s: sum(n["status"] == s for n in state["nodes"]) for s in
              ("kept", "pruned", "finished")}
    assert counts == {"kept": 6, "pruned": 3, "finished": 3}


def test_edges_point_to_the_kept_beam_they_extend():
    trace = fake_trace()
    state = beam_tree_state(trace, decode, "Once")
    nodes = state["nodes"]
    for n, c in zip(nodes, [c for step in trace.steps for c in step], strict=True):
        if n["step"] == 0:
            assert n["parent"] == -1  # the prompt
            continue
        parent = nodes[n["parent"]]
        assert parent["step"] == n["step"] - 1
        assert parent["status"] == "kept" and parent["beam"] == c.parent
    # e.g. " sat" at step 2 extends " the cat" (beam 0 of step 1)
    sat = node_at(state, 2, 4)
    assert nodes[sat["parent"]]["text"] == " cat"
    assert nodes[nodes[sat["parent"]]["parent"]]["text"] == " the"


def test_ranks_follow_the_cumulative_score_within_each_step():
    state = beam_tree_state(fake_trace(), decode, "Once")
    for s in range(3):
        step = sorted((n for n in state["nodes"] if n["step"] == s), key=lambda n: n["rank"])
        assert [n["rank"] for n in step] == [1, 2, 3, 4]
        assert [n["score"] for n in step] == sorted((n["score"] for n in step), reverse=True)
    assert node_at(state, 1, EOS)["rank"] == 2


@pytest.mark.parametrize("hyps", ["located", "generated", "with_prompt", "without_eos"])
def test_returned_hypothesis_is_flagged(hyps):
    state = beam_tree_state(fake_trace(hyps), decode, "Once")
    nodes = state["nodes"]
    winner = node_at(state, 2, EOS, parent_text=" dog")
    assert [n["id"] for n in nodes if n["returned"]] == [winner["id"]]
    path = {n["id"] for n in nodes if n["path"]}
    assert path == {winner["id"], winner["parent"], nodes[winner["parent"]]["parent"]}
    assert [nodes[i]["text"] for i in sorted(path)] == [" the", " dog", "</s>"]
    hyps = state["hypotheses"]
    assert [(h["text"], h["score"], h["final"], h["returned"]) for h in hyps] == [
        (" the dog</s>", -1.5, -0.5, True), (" the cat</s>", -1.6, -0.5333, False),
        (" cat</s>", -1.25, -0.625, False)]
    assert [nodes[h["node"]]["status"] for h in hyps] == ["finished"] * 3
    assert hyps[2]["node"] == node_at(state, 1, EOS)["id"]
    assert [nodes[h["node"]]["hyp"] for h in hyps] == [0, 1, 2]
    assert sum(n["hyp"] is not None for n in nodes) == 3


def test_a_dict_trace_gives_the_same_state():
    trace = fake_trace()
    assert beam_tree_state(trace.to_dict(), decode, "Once") == \
        beam_tree_state(trace, decode, "Once")


def test_a_tokenizer_decodes_pieces_and_whole_hypotheses():
    class Tokenizer:  # the tokenizers.Tokenizer signature: decode(ids, skip_special_tokens)
        def decode(self, ids, skip_special_tokens=True):
            return "".join(VOCAB[i] for i in ids if not (skip_special_tokens and i == EOS))

    state = beam_tree_state(fake_trace(), Tokenizer(), "Once")
    assert node_at(state, 1, EOS)["text"] == "</s>"  # special tokens are shown
    assert state["hypotheses"][0]["text"] == " the dog</s>"


def test_minus_infinity_is_kept_as_none():
    trace = fake_trace()
    trace.steps[0][3].token_logprob = trace.steps[0][3].score = -math.inf
    state = beam_tree_state(trace, decode, "Once")
    n = state["nodes"][3]
    assert n["logprob"] is None and n["score"] is None and n["rank"] == 4
    json.dumps(state, allow_nan=False)


def test_the_widget_carries_the_state():
    w = BeamTreeViewer(fake_trace(), decode, prompt="Once", title="two beams")
    assert w.data == {**beam_tree_state(fake_trace(), decode, "Once"), "title": "two beams"}
    assert "tinylm-widget" in w._esm


def broken(change):
    trace = fake_trace()
    change(trace)
    return trace


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: setattr(t.steps[1][3], "status", "dropped"), "status must be one of"),
    (lambda t: setattr(t.steps[2][0], "parent", 5), r"parent 5 is not a kept beam of step 1"),
    (lambda t: setattr(t.steps[1][1], "final_score", None), "finished but has no final_score"),
    (lambda t: setattr(t.steps[0][0], "beam", None), "kept, so its beam must be in"),
    (lambda t: setattr(t.steps[0][1], "beam", 0), "beam 0 is already taken at step 0"),
    (lambda t: setattr(t.steps[1][0], "step", 2), "step 1, candidate 0 says it belongs to step 2"),
    (lambda t: setattr(t.steps[1][0], "score", math.nan), "score must be finite"),
    (lambda t: setattr(t.steps[1][0], "token_id", "cat"), "token_id must be an integer"),
    (lambda t: setattr(t, "steps", []), "steps must be a non-empty list"),
    (lambda t: t.steps.append([]), "step 3 of the trace has no candidates"),
    (lambda t: setattr(t, "num_beams", 0), "num_beams must be >= 1"),
    (lambda t: setattr(t.finished[0], "tokens", [3, 3, 3]),
     r"finished hypothesis 0: its tokens \[3, 3, 3\] do not lead to candidate 1 of step 2 "
     r"\(tokens \[1, 3, 0\]\)"),
    (lambda t: setattr(t.finished[1], "step", 3), "finished hypothesis 1 ends at step 3, but"),
    (lambda t: setattr(t.finished[1], "candidate", 4), "ends at candidate 4 of step 2, which"),
    (lambda t: t.finished.append(t.finished[0]), "hypotheses 0 and 3 end at the same"),
    (lambda t: setattr(t, "finished", [BareHypothesis([3, 3, 3], -1.0, True)]),
     r"finished hypothesis 0 \(tokens \[3, 3, 3\]\) does not end at any candidate"),
])
def test_bad_traces_are_rejected_clearly(change, message):
    with pytest.raises(ValueError, match=message):
        beam_tree_state(broken(change), decode, "Once")


def test_missing_fields_are_named():
    d = fake_trace().to_dict()
    del d["steps"][0][2]["token_logprob"]
    with pytest.raises(ValueError, match="step 0, candidate 2 has no 'token_logprob'"):
        beam_tree_state(d, decode, "Once")
    with pytest.raises(ValueError, match="the trace has no 'num_beams'"):
        beam_tree_state({"steps": []}, decode, "Once")


def test_bad_decoders_are_rejected():
    with pytest.raises(TypeError, match="decode must be a tokenizer"):
        beam_tree_state(fake_trace(), {1: " the"}, "Once")
    with pytest.raises(TypeError, match=r"decode\(1\) returned int, not str"):
        beam_tree_state(fake_trace(), lambda i: i, "Once")


def test_a_real_trace_from_generate():
    generation = pytest.importorskip("tinylm.generation")
    torch = pytest.importorskip("torch")
    from tinylm.llama import Llama, LlamaConfig

    config = LlamaConfig(vocab_size=40, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                         ffn_hidden=64, max_seq_len=32)
    model = Llama(config, seed=0).eval()
    prompt = torch.tensor([[1, 5, 9]])
    out = generation.generate(model, prompt, generation.GenerationConfig(
        max_new_tokens=8, num_beams=3, num_return_sequences=2, eos_token_id=21,
        return_trace=True))
    trace = out.trace
    state = beam_tree_state(trace, lambda i: f" t{i}", "t1 t5 t9")
    nodes = state["nodes"]
    cands = [c for step in trace.steps for c in step]
    assert len(nodes) == len(cands)
    assert [n["status"] for n in nodes] == [c.status for c in cands]
    assert {n["status"] for n in nodes} == {"kept", "pruned", "finished"}
    for n, c in zip(nodes, cands, strict=True):
        if n["step"] > 0:
            parent = nodes[n["parent"]]
            assert (parent["step"], parent["status"], parent["beam"]) == \
                (n["step"] - 1, "kept", c.parent)

    def tokens(i):
        return tokens(nodes[i]["parent"]) + [nodes[i]["token_id"]] if i >= 0 else []

    returned = [h for h in state["hypotheses"] if h["returned"]]
    assert [tokens(h["node"]) for h in returned] == out.sequences[:, 3:].tolist()
    assert [h["final"] for h in returned] == pytest.approx(out.sequences_scores.tolist(),
                                                           abs=1e-4)
    # finished candidates that better hypotheses pushed out are drawn, but end no hypothesis
    assert any(n["status"] == "finished" and n["hyp"] is None for n in nodes)
    assert beam_tree_state(trace.to_dict(), lambda i: f" t{i}", "t1 t5 t9") == state
    json.dumps(state, allow_nan=False)
