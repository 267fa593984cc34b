"""Benchmark: generate(), tinylm vs transformers, greedy and 4-beam search, on the zoo's base model;
tinylm with its FastDecoder (the default) and with the readable model's own forward.

Run from the repository root:

    .venv/bin/python bench/generation_bench.py          # full run, writes bench/results/
    .venv/bin/python bench/generation_bench.py --quick  # 16 new tokens, 1 repeat, writes nothing

Threads: ``--threads``, by default one per CPU that other processes leave free
(``benchlib.auto_threads``). What is measured and how is the docstring of ``run`` below (it is
printed above the table, and the book's benchmark appendix shows it); ``benchlib`` does the
rest.
"""

from __future__ import annotations

import time

import torch
from benchlib import Rows, benchmark, main, positive_int
from tqdm import tqdm

from tinylm import zoo
from tinylm.generation import GenerationConfig, generate
from tinylm.tokenizer import PAD_ID

PROMPTS = (
    "There once was a little frog named Jack. He lived",
    '{"kind": "product", "id": 51182, "name": "Classic Kettle", "price":',
    "A book has 181 pages. Nora reads 5 pages every day for 3 days. How many pages are left",
)
STRATEGIES = {"greedy": {"num_beams": 1}, "beam 4": {"num_beams": 4, "early_stopping": True,
                                                      "length_penalty": 1.0}}
LIBRARIES = ("tinylm", "tinylm, readable", "transformers")
GOAL = 1.5  # generate() at least 1.5x as fast as transformers' generate()
GOAL_READABLE = 1.0  # with the readable model's forward, at least as fast


# ---------------------------------------------------------------------------------------------
# The two ways to generate: same settings, same weights
# ---------------------------------------------------------------------------------------------


def left_pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, longest) ids, left-padded with PAD_ID, and the attention mask (1 = real token)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids, mask


def ours(model, ids, mask, n_new, settings, fast=True):
    config = GenerationConfig(max_new_tokens=n_new, eos_token_id=None, pad_token_id=PAD_ID,
                              **settings)
    out = generate(model, ids, config, attention_mask=mask, fast=fast)
    return out.sequences, getattr(out, "sequences_scores", None)


def theirs(hf, ids, mask, n_new, settings):
    out = hf.generate(ids, attention_mask=mask, max_new_tokens=n_new, do_sample=False,
                      eos_token_id=None, pad_token_id=PAD_ID, return_dict_in_generate=True,
                      output_scores=settings["num_beams"] > 1, **settings)
    return out.sequences, getattr(out, "sequences_scores", None)


# ---------------------------------------------------------------------------------------------
# The models, and the check that both give the same output
# ---------------------------------------------------------------------------------------------


def load_models():
    model, tok = zoo.load("base")
    model.eval()
    hf = model.to_hf()
    hf.generation_config.eos_token_id = None
    hf.generation_config.pad_token_id = PAD_ID
    return model, hf, tok


def same_output(a, b) -> tuple[bool, float | None]:
    """Equal sequences, and the largest difference of the sequence scores (beam search)."""
    (seq_a, score_a), (seq_b, score_b) = a, b
    same = seq_a.shape == seq_b.shape and bool(torch.equal(seq_a, seq_b))
    diff = None if score_a is None else float((score_a - score_b).abs().max())
    return same and (diff is None or diff <= 1e-4), diff


# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------


def add_options(parser):
    parser.add_argument("--new-tokens", type=positive_int, default=64,
                        help="tokens generated per run (default 64)")


@benchmark(
    "generation", title="generate(): tinylm vs transformers, greedy and beam search", chapter=4,
    packages=("torch", "transformers"), threads=True, options=add_options, repeats=3,
    columns=[("strategy", "strategy", "text"), ("case", "case", "text"), ("batch", "batch", "int"),
             ("prompt_tokens", "prompt tokens", "int"),
             ("ms_per_token_tinylm", "tinylm ms/token", "ms"),
             ("ms_per_token_readable", "readable ms/token", "ms"),
             ("ms_per_token_transformers", "transformers ms/token", "ms"),
             ("ratio", "ratio", "ratio"), ("ratio_readable", "ratio, readable", "ratio"),
             ("same_output", "same output", "yesno")],
)
def run(args):
    """The zoo's trained `base` model, fp32, under `torch.inference_mode`; transformers runs
    `Llama.to_hf()` of the same weights. Each case continues a prompt of the course corpus by
    the same number of new tokens, with the end-of-sequence token switched off so that both
    libraries do the same work: greedy decoding (`num_beams=1`) and beam search (4 beams,
    `early_stopping=True`, `length_penalty=1.0`). Prompts 1-3 are a story, a JSON record and an
    arithmetic question; the batch holds all three, left-padded, with an attention mask.

    One whole call is timed by `time.perf_counter`: ours,
    `tinylm.generation.generate(model, ids, GenerationConfig(...), attention_mask=mask)`, which
    runs the model's steps through `tinylm.fast_decoder.FastDecoder` (on the CPU, one Numba call
    per step), and the same with `fast=False` (*readable*: the model's own forward), against
    `hf.generate(ids, attention_mask=mask, ...)` with the same settings. ms/token = call time /
    new tokens; ratio = transformers' ms/token / ours (above 1: ours is faster). Best of the
    repeats, the libraries alternating, after an untimed warm-up. Same output: identical
    sequences from all three, and for beam search sequence scores within 1e-4 (checked: the
    run fails otherwise).
    """
    model, hf, tok = load_models()
    encoded = [tok.encode(p).ids for p in PROMPTS]
    n_new = 16 if args.quick else args.new_tokens
    repeats = args.repeats
    # cases: each prompt alone (batch 1), then all prompts in one left-padded batch
    inputs = {f"prompt {i + 1}": left_pad([e]) for i, e in enumerate(encoded)}
    inputs["batch of 3"] = left_pad(encoded)
    cases = [(strategy, name) for strategy in STRATEGIES for name in inputs]
    fns = {"tinylm": lambda ids, mask, s: ours(model, ids, mask, n_new, s),
           "tinylm, readable": lambda ids, mask, s: ours(model, ids, mask, n_new, s, fast=False),
           "transformers": lambda ids, mask, s: theirs(hf, ids, mask, n_new, s)}
    print(f"model: zoo base, {model.num_parameters() / 1e6:.2f} M parameters; {n_new} new "
          f"tokens; torch threads {torch.get_num_threads()}; best of {repeats}")

    times, outputs = {}, {}
    with torch.inference_mode():
        for settings in STRATEGIES.values():  # warm-up, not timed
            for fn in fns.values():
                fn(*inputs["batch of 3"], settings)
        bar = tqdm([(rep, case) for rep in range(repeats) for case in cases],
                   desc="benchmark", unit="case")
        for rep, (strategy, name) in bar:
            order = LIBRARIES[rep % 3:] + LIBRARIES[:rep % 3]  # turns by one at every repeat
            for library in order:
                bar.set_postfix_str(f"{strategy}, {name}, {library}")
                t0 = time.perf_counter()
                outputs[strategy, name, library] = fns[library](*inputs[name],
                                                                STRATEGIES[strategy])
                times.setdefault((strategy, name, library), []).append(time.perf_counter() - t0)
        bar.close()

    rows, mismatches = [], []
    for strategy, name in cases:
        same, diff = same_output(outputs[strategy, name, "tinylm"],
                                 outputs[strategy, name, "transformers"])
        same_readable, diff_readable = same_output(outputs[strategy, name, "tinylm, readable"],
                                                   outputs[strategy, name, "transformers"])
        if not (same and same_readable):
            mismatches.append(f"{strategy}, {name}")
        ms = {lib: 1000 * min(times[strategy, name, lib]) / n_new for lib in LIBRARIES}
        ratio = ms["transformers"] / ms["tinylm"]
        ratio_readable = ms["transformers"] / ms["tinylm, readable"]
        rows.append({"strategy": strategy, "case": name, "batch": inputs[name][0].shape[0],
                     "prompt_tokens": inputs[name][0].shape[1], "new_tokens": n_new,
                     "ms_per_token_tinylm": ms["tinylm"],
                     "ms_per_token_readable": ms["tinylm, readable"],
                     "ms_per_token_transformers": ms["transformers"],
                     "all_s": {lib: times[strategy, name, lib] for lib in LIBRARIES},
                     "ratio": ratio, "goal_met": ratio >= GOAL,
                     "ratio_readable": ratio_readable,
                     "readable_goal_met": ratio_readable >= GOAL_READABLE,
                     "same_output": same and same_readable,
                     "max_score_diff": None if diff is None else max(diff, diff_readable)})
    first = outputs["beam 4", "prompt 1", "tinylm"][0][0]
    facts = {"new_tokens": n_new, "repeats": repeats, "goal_ratio": GOAL,
             "goal_ratio_readable": GOAL_READABLE,
             "parameters": model.num_parameters(), "prompts": list(PROMPTS),
             "example_beam_output": tok.decode(first.tolist()),
             "all_outputs_identical": not mismatches, "mismatches": mismatches}
    return summarize(rows, facts)


def summarize(rows, facts):
    """The notes, from the measured rows and the facts of the run."""
    met = sum(row["goal_met"] for row in rows)
    met_readable = sum(row["readable_goal_met"] for row in rows)
    notes = [f"Model: the zoo's trained `base` ({facts['parameters'] / 1e6:.2f} M parameters); "
             f"each case generates {facts['new_tokens']} new tokens. Best of "
             f"{facts['repeats']} run{'s' if facts['repeats'] > 1 else ''} per case.",
             f"Goal (ratio >= {facts['goal_ratio']:.1f}) met in {met} of {len(rows)} cases; "
             f"with the readable model (ratio >= {facts['goal_ratio_readable']:.1f}) in "
             f"{met_readable} of {len(rows)}.",
             "tinylm (both ways) and transformers returned the same output in every case."
             if facts["all_outputs_identical"] else
             "Outputs **differ**: " + "; ".join(facts["mismatches"]) + ".",
             f"Beam search output for prompt 1: `{facts['example_beam_output']!r}`"]
    failed = None
    if facts["mismatches"]:
        failed = "outputs differ between tinylm and transformers: " + "; ".join(facts["mismatches"])
    return Rows(rows, notes=notes, facts=facts, failed=failed)


if __name__ == "__main__":
    main(run)
