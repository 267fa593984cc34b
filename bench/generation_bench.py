"""Benchmark: generate(), tinylm vs transformers, greedy and 4-beam search, on the zoo's base model.

Run from the repository root:

    .venv/bin/python bench/generation_bench.py          # full run, writes bench/results/
    .venv/bin/python bench/generation_bench.py --quick  # 16 new tokens, 1 repeat, writes nothing

The model is the zoo's trained ``base`` checkpoint (``tinylm.zoo.load("base")``) and its
tokenizer; transformers runs ``Llama.to_hf()`` of the same weights, so both compute the same
function. Each case continues real prompts of the course corpus (a story, a JSON record, an
arithmetic question) by ``max_new_tokens`` tokens, fp32, under ``torch.inference_mode``:

- ours:         ``tinylm.generation.generate(model, ids, GenerationConfig(...))``
- transformers: ``hf.generate(ids, attention_mask=..., ...)`` with the same settings

with greedy decoding (``num_beams=1``) and beam search (``num_beams=4``, ``early_stopping=True``,
``length_penalty=1.0``). The end-of-sequence token is switched off (``eos_token_id=None``) so
that every run makes exactly ``max_new_tokens`` steps and the two libraries do the same work.
A batched case runs the three prompts at once, left-padded with an attention mask.

    ms/token = run seconds / max_new_tokens * 1000   (one decoding step, all sequences)
    ratio    = transformers ms/token / ours ms/token  (> 1: ours is faster)

Both must return the same sequences, and beam search the same ``sequences_scores`` (within
1e-4): the run fails otherwise. Warm-up runs are not timed; each time is the best of several
repeats, the two libraries alternating within each repeat. Threads: ``--threads``, by default
one per CPU that other processes leave free (``benchlib.auto_threads``).
"""

from __future__ import annotations

import argparse
import time

import torch
from benchlib import auto_threads, command_line, load_average, machine_info, write_results
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
LIBRARIES = ("tinylm", "transformers")
GOAL = 1.0  # ours at least as fast as transformers


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


def ours(model, ids, mask, n_new, settings):
    config = GenerationConfig(max_new_tokens=n_new, eos_token_id=None, pad_token_id=PAD_ID,
                              **settings)
    out = generate(model, ids, config, attention_mask=mask)
    return out.sequences, getattr(out, "sequences_scores", None)


def theirs(hf, ids, mask, n_new, settings):
    out = hf.generate(ids, attention_mask=mask, max_new_tokens=n_new, do_sample=False,
                      eos_token_id=None, pad_token_id=PAD_ID, return_dict_in_generate=True,
                      output_scores=settings["num_beams"] > 1, **settings)
    return out.sequences, getattr(out, "sequences_scores", None)


# ---------------------------------------------------------------------------------------------
# The run
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


def run(args):
    t_start = time.perf_counter()
    load_at_start = load_average()
    torch.set_num_threads(args.threads)
    model, hf, tok = load_models()
    encoded = [tok.encode(p).ids for p in PROMPTS]
    n_new = 16 if args.quick else args.new_tokens
    repeats = 1 if args.quick else args.repeats
    # cases: each prompt alone (batch 1), then all prompts in one left-padded batch
    inputs = {f"prompt {i + 1}": left_pad([e]) for i, e in enumerate(encoded)}
    inputs["batch of 3"] = left_pad(encoded)
    cases = [(strategy, name) for strategy in STRATEGIES for name in inputs]
    fns = {"tinylm": lambda ids, mask, s: ours(model, ids, mask, n_new, s),
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
            order = LIBRARIES if rep % 2 == 0 else LIBRARIES[::-1]
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
        if not same:
            mismatches.append(f"{strategy}, {name}")
        ms = {lib: 1000 * min(times[strategy, name, lib]) / n_new for lib in LIBRARIES}
        ratio = ms["transformers"] / ms["tinylm"]
        rows.append({"strategy": strategy, "case": name, "batch": inputs[name][0].shape[0],
                     "prompt_tokens": inputs[name][0].shape[1], "new_tokens": n_new,
                     "ms_per_token_tinylm": ms["tinylm"],
                     "ms_per_token_transformers": ms["transformers"],
                     "all_s": {lib: times[strategy, name, lib] for lib in LIBRARIES},
                     "ratio": ratio, "goal_met": ratio >= GOAL, "same_output": same,
                     "max_score_diff": diff})
    first = outputs["beam 4", "prompt 1", "tinylm"][0][0]
    result = {
        "command": command_line(), "quick": args.quick, "new_tokens": n_new,
        "repeats": repeats, "goal_ratio": GOAL, "threads_auto": args.threads_auto,
        "parameters": model.num_parameters(), "prompts": list(PROMPTS),
        "example_beam_output": tok.decode(first.tolist()),
        "machine": machine_info("torch", "transformers", torch_threads=torch.get_num_threads()),
        "rows": rows, "all_outputs_identical": not mismatches, "mismatches": mismatches,
        "wall_s": time.perf_counter() - t_start, "load_average_1min_at_start": load_at_start,
        "load_average_1min_at_end": load_average(),
    }
    text = markdown(result)
    print()
    print(text)
    if not args.quick:
        write_results("generation", result, text)
    if mismatches:
        raise SystemExit("outputs differ between tinylm and transformers: " + "; ".join(mismatches))
    return result


def markdown(r):
    m = r["machine"]
    out = [
        "# generate() benchmark: tinylm vs transformers, greedy and beam search",
        "",
        f"Command: `{r['command']}`" + (" (quick smoke test)" if r["quick"] else ""),
        "",
        f"Model: the zoo's trained `base` ({r['parameters'] / 1e6:.2f} M parameters), fp32; "
        "transformers runs `Llama.to_hf()` of the same weights. Each case generates "
        f"{r['new_tokens']} new tokens with the end-of-sequence token switched off; beam search "
        "uses 4 beams, `early_stopping=True`, `length_penalty=1.0`. Prompts 1-3 are a story, a "
        "JSON record and an arithmetic question; the batch holds all three, left-padded.",
        "",
        f"Machine: {m['cpu']}, {m['cpu_count']} CPUs, {m['platform']}; Python {m['python']}, "
        f"torch {m['torch']} ({m['torch_threads']} threads"
        + (", chosen from the free CPUs" if r["threads_auto"] else "")
        + f"), transformers {m['transformers']}. 1-minute load average "
        f"{r['load_average_1min_at_start']} at the start, {r['load_average_1min_at_end']} at "
        f"the end. Best of {r['repeats']} runs per case, the libraries alternating.",
        "",
        "| strategy | case | batch | prompt tokens | tinylm ms/token | transformers ms/token "
        "| ratio | same output |",
        "|---|---|--:|--:|--:|--:|--:|:-:|",
    ]
    for row in r["rows"]:
        same = "yes" if row["same_output"] else "**no**"
        out.append(f"| {row['strategy']} | {row['case']} | {row['batch']} | "
                   f"{row['prompt_tokens']} | {row['ms_per_token_tinylm']:.2f} | "
                   f"{row['ms_per_token_transformers']:.2f} | {row['ratio']:.2f}x | {same} |")
    met = sum(row["goal_met"] for row in r["rows"])
    out += ["",
            f"Ratio = transformers ms/token / tinylm ms/token (above 1: ours is faster). Goal "
            f"(ratio >= {r['goal_ratio']:.1f}) met in {met} of {len(r['rows'])} cases. Same "
            "output: identical sequences, and for beam search sequence scores within 1e-4.",
            "",
            f"Beam search output for prompt 1: `{r['example_beam_output']!r}`", ""]
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="16 new tokens, 1 repeat; writes no results")
    parser.add_argument("--new-tokens", type=int, default=64,
                        help="tokens generated per run (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per case (default 3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: the CPUs that other processes leave free)")
    args = parser.parse_args(argv)
    args.threads_auto = args.threads is None
    if args.threads is None:
        args.threads = auto_threads()
    if min(args.new_tokens, args.repeats, args.threads) < 1:
        parser.error("--new-tokens, --repeats and --threads must be >= 1")
    run(args)


if __name__ == "__main__":
    main()
