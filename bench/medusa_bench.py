"""Benchmark: Medusa decoding on the zoo's base model with its trained heads, against plain greedy
decoding and against speculative decoding (chapter 6) on the same prompts.

Run from the repository root:

    .venv/bin/python bench/medusa_bench.py          # full run, writes bench/results/
    .venv/bin/python bench/medusa_bench.py --quick  # 32 new tokens, 1 repeat, writes nothing

Threads: one torch thread unless ``--threads`` says otherwise. What is measured and how is the
docstring of ``run`` below (it is printed above the table, and the book's benchmark appendix
shows it); ``benchlib`` does the rest.
"""

from __future__ import annotations

import time

import torch
from benchlib import Rows, benchmark, main, positive_int
from speculative_bench import ARITHMETIC, STORY, gamma_list, json_records_prompt
from tqdm import tqdm

from tinylm import zoo
from tinylm.generation import generate
from tinylm.medusa import (
    MC_SIM_7B_63,
    MedusaHeads,
    expected_accept_length,
    head_accuracies,
    medusa_buffers,
    medusa_generate,
    tree_from_accuracies,
)
from tinylm.speculative import NGramDrafter, measure_forward_ms, speculative_generate
from tinylm.zoo import token_stream, windows

GOAL = 1.5  # Medusa greedy at least 1.5x faster than plain greedy decoding (the issue)
# The paper (Cai et al. 2024, table 1): Medusa-2 on Vicuna-7B, on an A100: 3.47 tokens per
# step ("acceleration rate"), a step costing 1.22 plain decoding steps ("overhead"), 2.83x.
PAPER = {"tokens_per_step": 3.47, "overhead": 1.22, "speedup": 2.83,
         "what": "Medusa-2 on Vicuna-7B, A100 (Cai et al. 2024, table 1)"}


def accuracy_windows(seq_len: int = 128, step: int = 6):
    """Held-out text the heads' accuracies are measured on: every ``step``-th window of the
    validation stream after its first third (Wikipedia prose, where the heads hardly ever
    guess right: the prompts here are the course's templated text)."""
    val = windows(token_stream("validation", corpus_seed=0)[0], seq_len)
    return val[len(val) // 3::step]


def node_list(text: str) -> list[int]:
    """An argparse type: comma-separated tree sizes (candidate nodes below the root)."""
    return gamma_list(text)


def add_options(parser):
    parser.add_argument("--new-tokens", type=positive_int, default=64,
                        help="tokens generated per run (default 64: the JSON prompt, 64 new "
                             "tokens and the 63-node tree fill the model's 256 positions)")
    parser.add_argument("--nodes", type=node_list, default=[3, 4, 6, 8, 12, 16],
                        help="sizes of the trees built from the heads' accuracies, each a case "
                             "(default 3,4,6,8,12,16); the paper's 63-node tree is always run")
    parser.add_argument("--gammas", type=gamma_list, default=[2, 4],
                        help="speculative decoding's drafted tokens per call (default 2,4)")
    parser.set_defaults(threads=1)


@benchmark(
    "medusa", title="Medusa: tinylm vs plain greedy decoding and speculative decoding",
    chapter=7, packages=("torch",), threads=True, options=add_options, repeats=3,
    columns=[("prompt", "prompt", "text"), ("method", "method", "text"),
             ("nodes", "tree nodes", "int"),
             ("expected_tokens_per_step", "expected tokens / step", "float"),
             ("tokens_per_step", "tokens / step", "float"),
             ("overhead", "step cost", "float"), ("forward_cost", "forward cost", "float"),
             ("ms_greedy", "greedy ms/token", "ms"), ("ms_method", "ms/token", "ms"),
             ("speedup", "speed-up", "ratio"), ("goal", "goal", "ratio"),
             ("vs_speculative", "Medusa / best speculative", "ratio"),
             ("vs_fast", "Medusa / FastDecoder greedy", "ratio"),
             ("same_output", "same output", "yesno")],
)
def run(args):
    """The zoo's `base` model (5.4 M parameters) with its four trained Medusa-1 heads
    (`medusa-base`, sharing base's output head). Trees: the paper's 63-node tree for Vicuna-7B
    (`MC_SIM_7B_63`) and trees of 3 to 16 nodes built the paper's way from the heads'
    per-rank accuracies measured in the same run on held-out text (`head_accuracies`,
    `tree_from_accuracies`; `--nodes`); the expected tokens per step is 1 +
    `expected_accept_length` of those accuracies. Speculative decoding (chapter 6) on the same
    model and prompts: the zoo's `draft` proposing gamma = 2 and 4 tokens, and the n-gram
    drafter proposing 4. Prompts: a story, an arithmetic question, JSON records (those of the
    speculative benchmark). The end-of-sequence token is switched off so that every method
    generates the same number of tokens. fp32, 1 torch thread, `torch.inference_mode`.

    Each case times one whole call by `time.perf_counter`, best of the repeats, the methods'
    order turning at each repeat, after an untimed warm-up: `tinylm.generation.generate`
    (greedy) through the model's own forward (`fast=False`), the one Medusa's and speculative
    decoding's passes run, and through chapter 3's `FastDecoder` (its default, a fused
    one-token step), `medusa_generate` (greedy acceptance: its output must be greedy
    decoding's, or the run fails), `speculative_generate` (greedy). ms/token = call time / new
    tokens; speed-up = greedy through the same forward / method; Medusa / FastDecoder greedy:
    that greedy's ms/token over Medusa's. Tokens / step: new tokens per forward pass of the
    base model (for speculative decoding, per target call). Step cost: the time of a step in plain
    decoding steps, measured = tokens per step x ms/token / greedy ms/token (the paper's
    "overhead"; speed-up = tokens per step / step cost); forward cost: a cached forward pass
    over the tree's tokens (root included) over a one-token pass, timed alone
    (`measure_forward_ms`): the part of the step cost the tree's size sets. Medusa / best
    speculative: the best speculative ms/token on the prompt over Medusa's (above 1: Medusa is
    faster). Goal (from the issue): Medusa at least 1.5x faster than plain greedy decoding.
    """
    model, tok = zoo.load("base")
    heads = MedusaHeads.from_zoo("base", model=model)
    draft, _ = zoo.load("draft")
    n_new = 32 if args.quick else args.new_tokens
    prompts = {"story": tok.encode(STORY).ids, "arithmetic": tok.encode(ARITHMETIC).ids,
               "JSON records": json_records_prompt(tok)}
    prompts = {name: torch.tensor([ids]) for name, ids in prompts.items()}

    with torch.inference_mode():
        started = time.perf_counter()
        accuracies = head_accuracies(model, heads, accuracy_windows(step=24 if args.quick else 6))
        accuracy_seconds = time.perf_counter() - started
    trees = {f"Medusa, {n} nodes": tree_from_accuracies(accuracies, n) for n in args.nodes}
    trees["Medusa, paper's 63 nodes"] = MC_SIM_7B_63
    buffers = {label: medusa_buffers(choices) for label, choices in trees.items()}

    def greedy(ids):  # the same forward pass as Medusa's and speculative decoding's
        return generate(model, ids, max_new_tokens=n_new, fast=False).sequences, None

    def greedy_fast(ids):  # chapter 3's FastDecoder: a fused one-token step
        return generate(model, ids, max_new_tokens=n_new).sequences, None

    def medusa(label):
        def fn(ids):
            out = medusa_generate(model, heads, ids, n_new, choices=buffers[label])
            return out.sequences, out.tokens_per_step
        return fn

    def speculative(drafter, gamma):
        def fn(ids):
            out = speculative_generate(model, drafter, ids, n_new, gamma=gamma)
            return out.sequences, out.tokens_per_call
        return fn

    fns = {"greedy": greedy, "greedy, FastDecoder": greedy_fast}
    fns |= {label: medusa(label) for label in trees}
    fns |= {f"speculative, zoo draft, gamma {g}": speculative(draft, g) for g in args.gammas}
    fns["speculative, n-gram, gamma 4"] = speculative(NGramDrafter(3), 4)
    print(f"base: {model.num_parameters() / 1e6:.2f} M parameters, {heads.num_heads} heads; "
          f"{n_new} new tokens; torch threads {torch.get_num_threads()}; best of {args.repeats}")

    times, outputs = {}, {}
    with torch.inference_mode():
        for fn in fns.values():  # warm-up (and Numba's compilation), not timed
            fn(prompts["story"])
        names = list(fns)
        bar = tqdm([(rep, prompt) for rep in range(args.repeats) for prompt in prompts],
                   desc="benchmark", unit="prompt")
        for rep, prompt in bar:
            turn = rep % len(names)
            for name in names[turn:] + names[:turn]:
                bar.set_postfix_str(f"{prompt}, {name}")
                started = time.perf_counter()
                outputs[prompt, name] = fns[name](prompts[prompt])
                times.setdefault((prompt, name), []).append(time.perf_counter() - started)
        bar.close()
        context = {prompt: ids.shape[1] + n_new // 2 for prompt, ids in prompts.items()}
        forward_ms = {(prompt, k): measure_forward_ms(model, k, context[prompt])
                      for prompt in prompts
                      for k in {1, *(b.num_nodes for b in buffers.values())}}

    rows, mismatches = [], []
    for prompt in prompts:
        ms = {name: 1000 * min(times[prompt, name]) / n_new for name in fns}
        reference = outputs[prompt, "greedy"][0]
        best_speculative = min(v for k, v in ms.items() if k.startswith("speculative"))
        for name in names[1:]:  # every method but the baseline
            sequences, per_step = outputs[prompt, name]
            same = torch.equal(sequences, reference)
            if not same:
                mismatches.append(f"{prompt}, {name}")
            is_medusa = name in trees
            nodes = len(trees[name]) if is_medusa else None
            row = {"prompt": prompt, "method": name, "nodes": nodes,
                   "expected_tokens_per_step": (1 + expected_accept_length(trees[name], accuracies)
                                                if is_medusa else None),
                   "tokens_per_step": per_step, "ms_greedy": ms["greedy"], "ms_method": ms[name],
                   "speedup": ms["greedy"] / ms[name], "same_output": same,
                   "all_s": times[prompt, name], "greedy_s": times[prompt, "greedy"]}
            row["overhead"] = None if per_step is None else per_step * ms[name] / ms["greedy"]
            row["forward_cost"] = (forward_ms[prompt, nodes + 1] / forward_ms[prompt, 1]
                                   if is_medusa else None)
            row["goal"] = GOAL if is_medusa else None
            row["vs_speculative"] = best_speculative / ms[name] if is_medusa else None
            row["vs_fast"] = ms["greedy, FastDecoder"] / ms[name] if is_medusa else None
            row["goal_met"] = row["speedup"] >= GOAL if is_medusa else None
            rows.append(row)

    facts = {"new_tokens": n_new, "repeats": args.repeats, "goal": GOAL, "paper": PAPER,
             "head_accuracies": [[round(float(x), 4) for x in head] for head in accuracies],
             "accuracy_windows": len(accuracy_windows(step=24 if args.quick else 6)),
             "accuracy_seconds": round(accuracy_seconds, 2),
             "trees": {label: choices for label, choices in trees.items()},
             "prompts": {name: tok.decode(ids[0].tolist()) for name, ids in prompts.items()},
             "prompt_tokens": {name: ids.shape[1] for name, ids in prompts.items()},
             "all_outputs_identical": not mismatches, "mismatches": mismatches}
    return summarize(rows, facts)


def summarize(rows, facts):
    """The notes, from the measured rows and the facts of the run."""
    medusa = [r for r in rows if r["goal"] is not None]
    met = [r for r in medusa if r["goal_met"]]
    best = max(medusa, key=lambda r: r["speedup"])
    top1 = ", ".join(f"{head[0]:.2f}" for head in facts["head_accuracies"])
    paper = facts["paper"]
    notes = [
        f"Heads' top-1 accuracy on held-out templated text, head 1 to 4: {top1} "
        f"({facts['accuracy_windows']} windows); the trees of the table are built from the "
        "per-rank accuracies.",
        f"Goal (>= {facts['goal']}x over plain greedy) met in {len(met)} of {len(medusa)} "
        f"Medusa cases; best {best['speedup']:.2f}x ({best['prompt']}, {best['method']}: "
        f"{best['tokens_per_step']:.2f} tokens per step at a step cost of "
        f"{best['overhead']:.2f}).",
        f"The paper, for comparison: {paper['tokens_per_step']} tokens per step at a step cost "
        f"of {paper['overhead']}, {paper['speedup']}x ({paper['what']}).",
    ]
    for prompt in dict.fromkeys(r["prompt"] for r in medusa):
        mine = [r for r in medusa if r["prompt"] == prompt]
        fastest = max(mine, key=lambda r: r["speedup"])
        notes.append(f"{prompt}: the fastest tree is {fastest['method']} "
                     f"({fastest['speedup']:.2f}x, {fastest['vs_speculative']:.2f}x the best "
                     "speculative decoding).")
    fast = max(medusa, key=lambda r: r["vs_fast"])
    notes.append(f"Against greedy decoding through chapter 3's FastDecoder (a fused one-token "
                 f"step that Medusa's tree passes do not use), the best Medusa case runs at "
                 f"{fast['vs_fast']:.2f}x ({fast['prompt']}, {fast['method']}).")
    notes.append("Every method returned plain greedy decoding's tokens."
                 if facts["all_outputs_identical"] else
                 "Outputs **differ** from greedy decoding: " + "; ".join(facts["mismatches"]))
    failed = None
    if facts["mismatches"]:
        failed = "outputs differ from greedy decoding: " + "; ".join(facts["mismatches"])
    return Rows(rows, notes=notes, facts=facts, failed=failed)


if __name__ == "__main__":
    main(run)
