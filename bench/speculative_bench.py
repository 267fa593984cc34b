"""Benchmark: speculative decoding on the zoo's base model, drafting with the zoo's draft model
and with the n-gram drafter, against the base model alone and against transformers' assisted
generation on the same pair.

Run from the repository root:

    .venv/bin/python bench/speculative_bench.py          # full run, writes bench/results/
    .venv/bin/python bench/speculative_bench.py --quick  # 32 new tokens, 1 repeat, writes nothing

Threads: one torch thread unless ``--threads`` says otherwise (speculative decoding trades
arithmetic for fewer target calls; a second thread mostly speeds up the arithmetic). What is
measured and how is the docstring of ``run`` below (it is printed above the table, and the
book's benchmark appendix shows it); ``benchlib`` does the rest.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import torch
from benchlib import Rows, benchmark, main, positive_int
from tqdm import tqdm

from tinylm import zoo
from tinylm.generation import generate
from tinylm.speculative import NGramDrafter, measure_forward_ms, speculative_generate
from tinylm.synthetic import json_record
from tinylm.tokenizer import EOS_ID, PAD_ID

STORY = "There once was a little frog named Jack. He lived"
ARITHMETIC = ("A book has 181 pages. Nora reads 5 pages every day for 3 days. How many pages "
              "are left")
GOALS = {"zoo draft": 1.5, "n-gram": 2.0}  # speed-up over the target alone, greedy
N_GRAM_GOAL_PROMPT = "JSON records"  # the n-gram drafter's goal is for JSON records only
GOAL_VS_TRANSFORMERS = 1.0  # ours at least as fast as transformers' assisted generation
MODES = {"greedy": False, "sampled": True}
SEED = 0


def json_records_prompt(tok) -> list[int]:
    """A JSON record, EOS, and the start of another record of the same kind (up to its id):
    the text to continue repeats the first record's keys."""
    rng = np.random.default_rng(2024)
    first, second = (json.dumps(json_record(rng, "person")) for _ in range(2))
    cut = second.index('"id":') + len('"id":')
    return tok.encode(first).ids + [EOS_ID] + tok.encode(second[:cut]).ids


# ---------------------------------------------------------------------------------------------
# The models, and every way to generate with them
# ---------------------------------------------------------------------------------------------


def load_models(target_name: str = "base"):
    """Our target and draft, and transformers copies of both (``Llama.to_hf()``)."""
    target, tok = zoo.load(target_name)
    draft, _ = zoo.load("draft")
    hf_target, hf_draft = target.to_hf(), draft.to_hf()
    for hf in (hf_target, hf_draft):
        hf.generation_config.eos_token_id = None
        hf.generation_config.pad_token_id = PAD_ID
    # The transformers draft proposes exactly gamma tokens per round, as ours does.
    hf_draft.generation_config.num_assistant_tokens_schedule = "constant"
    hf_draft.generation_config.assistant_confidence_threshold = 0.0  # no early stop
    return target, draft, hf_target, hf_draft, tok


def methods(models, n_new: int, gammas: list[int], max_ngram: int, rule: str):
    """(library, drafter, gamma) -> fn(ids, do_sample) returning (sequences, our
    SpeculativeOutput or None); drafter None is the target alone."""
    target, draft, hf_target, hf_draft, _ = models

    def ours_target(ids, sample):
        # the target's own forward, the one speculative_generate runs (not the FastDecoder)
        out = generate(target, ids, max_new_tokens=n_new, do_sample=sample, seed=SEED, fast=False)
        return out.sequences, None

    def ours_speculative(drafter, gamma):
        def fn(ids, sample):
            out = speculative_generate(target, drafter, ids, n_new, gamma=gamma,
                                       do_sample=sample, seed=SEED)
            return out.sequences, out
        return fn

    def theirs(gamma=None, **kwargs):
        def fn(ids, sample):
            if gamma is not None:
                hf_draft.generation_config.num_assistant_tokens = gamma
            torch.manual_seed(SEED)  # transformers samples from torch's global generator
            return hf_target.generate(ids, max_new_tokens=n_new, do_sample=sample,
                                      eos_token_id=None, pad_token_id=PAD_ID, **kwargs), None
        return fn

    fns = {("ours", None, None): ours_target, ("transformers", None, None): theirs()}
    for gamma in gammas:
        fns["ours", "zoo draft", gamma] = ours_speculative(draft, gamma)
        fns["ours", "n-gram", gamma] = ours_speculative(NGramDrafter(max_ngram, rule=rule),
                                                        gamma)
        fns["transformers", "zoo draft", gamma] = theirs(gamma, assistant_model=hf_draft)
        fns["transformers", "n-gram", gamma] = theirs(prompt_lookup_num_tokens=gamma,
                                                      max_matching_ngram_size=max_ngram)
    return fns


def target_list(text: str) -> list[str]:
    """An argparse type: comma-separated names of zoo models."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in zoo.SPECS]
    if not names or unknown:
        raise ValueError(f"unknown zoo models {unknown}; the zoo has {sorted(zoo.SPECS)}")
    return names


def gamma_list(text: str) -> list[int]:
    """An argparse type: comma-separated integers >= 1."""
    return [positive_int(part) for part in text.split(",") if part.strip()]


# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------


def add_options(parser):
    parser.add_argument("--targets", type=target_list, default=["base", "deep"],
                        help="zoo models to use as the target, each a set of cases of its own "
                             "(default base,deep)")
    parser.add_argument("--new-tokens", type=positive_int, default=64,
                        help="tokens generated per run (default 64)")
    parser.add_argument("--gammas", type=gamma_list, default=[2, 4],
                        help="tokens drafted per target call, each value a case of its own "
                             "(default 2,4)")
    parser.add_argument("--max-ngram", type=positive_int, default=3,
                        help="longest suffix the n-gram drafter looks up (default 3)")
    parser.add_argument("--ngram-rule", choices=("count", "copy"), default="count",
                        help="the n-gram drafter's rule: count (default; chapter 1's counting) "
                             "or copy (transformers' prompt lookup)")
    parser.set_defaults(threads=1)


@benchmark(
    "speculative", title="Speculative decoding: tinylm vs transformers' assisted generation",
    chapter=6, packages=("torch", "transformers", "numba"), threads=True, options=add_options,
    repeats=3,
    columns=[("target", "target", "text"), ("mode", "mode", "text"),
             ("prompt", "prompt", "text"),
             ("drafter", "drafter", "text"), ("gamma", "gamma", "int"),
             ("tokens_per_call", "tokens / target call", "float"),
             ("acceptance", "acceptance", "percent"),
             ("ms_target", "target alone ms/token", "ms"),
             ("ms_speculative", "speculative ms/token", "ms"),
             ("speedup", "speed-up", "ratio"), ("goal_speedup", "goal", "ratio"),
             ("c", "c", "float"), ("verify_cost", "verify cost", "float"),
             ("predicted_speedup", "cost model", "ratio"),
             ("ms_transformers", "transformers ms/token", "ms"),
             ("speedup_transformers", "transformers speed-up", "ratio"),
             ("vs_transformers", "ours / transformers", "ratio"),
             ("same_output", "same output", "yesno"), ("goal_met", "goals met", "yesno")],
)
def run(args):
    """Two targets from the zoo: `base` (5.4 M parameters, 6 layers) and `deep` (base's width
    at twice its depth, 9.8 M parameters: each call costs about twice base's while the
    drafter's cost stays, so c, the drafter's price in target calls, halves; `--targets`);
    drafters: the zoo's `draft` (0.6 M parameters, same tokenizer) and `NGramDrafter`
    (retrieval, no model: by default each drafted token is the most frequent follower of the
    longest suffix, up to 3 tokens, seen earlier in the prompt or the output; `--ngram-rule
    copy` copies what followed the suffix's first occurrence instead, the rule of transformers'
    prompt lookup). Each drafter proposes gamma = 2 and 4 tokens per target call (`--gammas`).
    The cost model beside each speed-up is tokens per call / (gamma c + verify cost), from
    cached forward passes timed in the same run (`measure_forward_ms`, at the prompt's length
    plus half the new tokens): c, a draft call over a one-token target call (0 for the n-gram
    drafter, a table lookup), and the verify cost, a target call on gamma + 1 tokens over a
    one-token call (1 on the memory-bound accelerators of the papers, more on a CPU). fp32,
    1 torch thread, `torch.inference_mode`. Prompts: the start of a story, an arithmetic
    question (both as in the generate() benchmark), and JSON records (one `person` record of
    `tinylm.synthetic`, EOS, and the start of another up to its `"id":`). The end-of-sequence
    token is switched off so that every method generates exactly the same number of tokens.

    Each case times one whole call by `time.perf_counter`: the target alone
    (`tinylm.generation.generate(..., fast=False)`, the same forward pass as speculative
    decoding's), `tinylm.speculative.speculative_generate` with each drafter,
    and transformers' `generate` on `Llama.to_hf()` copies of the same weights: alone, with
    `assistant_model=` the draft (set to propose exactly gamma tokens per round:
    `num_assistant_tokens=gamma`, schedule `"constant"`, `assistant_confidence_threshold=0`),
    and with `prompt_lookup_num_tokens=gamma, max_matching_ngram_size=3` (its own rule,
    copying). ms/token = call time / new tokens; speed-up = the target alone / speculative,
    for each library; ours / transformers = transformers' speculative ms/token / ours (above
    1: ours is faster). Best of the repeats, the methods' order turning at each repeat, after
    an untimed warm-up.

    Greedy: every method must return the target's own greedy tokens (checked: the run fails
    otherwise). Sampled (`do_sample=True`, temperature 1, top-k 50, seed 0): the texts differ
    between methods (each uses its random numbers its own way) but follow the same
    distribution (the tests check that by a chi-square test). Tokens per target call and
    acceptance (drafted tokens kept / proposed) are ours. Goals (from the issue): greedy
    speed-up >= 1.5x with the zoo draft, >= 2x with the n-gram drafter on JSON records; ours at
    least as fast as transformers in every case.
    """
    rows, facts = [], {}
    for target_name in args.targets:
        target_rows, target_facts = run_target(args, target_name)
        rows += target_rows
        for key, value in target_facts.items():  # per target, keyed by its name
            facts.setdefault(key, {})[target_name] = value
    for key in ("new_tokens", "repeats", "gammas", "max_ngram", "ngram_rule", "goals",
                "goal_vs_transformers", "draft_parameters", "prompts", "prompt_tokens"):
        facts[key] = facts[key][args.targets[0]]  # the same for every target
    facts["targets"] = args.targets
    facts["all_greedy_outputs_identical"] = all(facts["all_greedy_outputs_identical"].values())
    facts["mismatches"] = [m for ms in facts["mismatches"].values() for m in ms]
    return summarize(rows, facts)


def run_target(args, target_name: str):
    """Every case with one target: (rows, facts)."""
    models = load_models(target_name)
    target, draft, _, _, tok = models
    n_new = 32 if args.quick else args.new_tokens
    prompts = {"story": tok.encode(STORY).ids, "arithmetic": tok.encode(ARITHMETIC).ids,
               N_GRAM_GOAL_PROMPT: json_records_prompt(tok)}
    prompts = {name: torch.tensor([ids]) for name, ids in prompts.items()}
    fns = methods(models, n_new, args.gammas, args.max_ngram, args.ngram_rule)
    print(f"target {target_name}: {target.num_parameters() / 1e6:.2f} M parameters, draft "
          f"{draft.num_parameters() / 1e6:.2f} M; gammas {args.gammas}; {n_new} new tokens; "
          f"torch threads {torch.get_num_threads()}; best of {args.repeats}")

    cases = [(mode, prompt) for mode in MODES for prompt in prompts]
    times, outputs = {}, {}
    with torch.inference_mode():
        for mode in MODES:  # warm-up (and Numba's compilation), not timed
            for fn in fns.values():
                fn(prompts["story"], MODES[mode])
        bar = tqdm([(rep, case) for rep in range(args.repeats) for case in cases],
                   desc="benchmark", unit="case")
        names = list(fns)
        for rep, (mode, prompt) in bar:
            turn = rep % len(names)
            for name in names[turn:] + names[:turn]:
                bar.set_postfix_str(f"{mode}, {prompt}, {name}")
                started = time.perf_counter()
                outputs[mode, prompt, name] = fns[name](prompts[prompt], MODES[mode])
                times.setdefault((mode, prompt, name), []).append(time.perf_counter() - started)
        bar.close()

    # The cost model's inputs, per prompt (the context grows with the prompt): one target
    # call on 1 and on gamma + 1 new tokens, one draft call, halfway through the generation.
    forward_ms = {}
    for prompt, ids in prompts.items():
        context = ids.shape[1] + n_new // 2
        for k in {1, *(gamma + 1 for gamma in args.gammas)}:
            forward_ms[prompt, "target", k] = measure_forward_ms(target, k, context)
        forward_ms[prompt, "draft", 1] = measure_forward_ms(draft, 1, context)

    rows, mismatches = [], []
    for mode, prompt in cases:
        ms = {name: 1000 * min(times[mode, prompt, name]) / n_new for name in fns}
        alone = {library: ms[library, None, None] for library in ("ours", "transformers")}
        differ = set()
        if mode == "greedy":  # every method must give the target's greedy tokens
            reference = outputs[mode, prompt, ("ours", None, None)][0]
            differ = {name for name in fns
                      if not torch.equal(outputs[mode, prompt, name][0], reference)}
            mismatches += [f"{target_name}, {prompt}, {' '.join(map(str, name))}"
                           for name in sorted(differ, key=str)]
        for drafter, gamma in [(d, g) for d in ("zoo draft", "n-gram") for g in args.gammas]:
            ours = outputs[mode, prompt, ("ours", drafter, gamma)][1]
            row = {"target": target_name, "mode": mode, "prompt": prompt, "drafter": drafter,
                   "gamma": gamma,
                   "new_tokens": n_new, "tokens_per_call": ours.tokens_per_call,
                   "acceptance": None if math.isnan(ours.acceptance_rate)
                   else ours.acceptance_rate, "accepted": ours.accepted,
                   "ms_target": alone["ours"], "ms_speculative": ms["ours", drafter, gamma],
                   "ms_transformers_target": alone["transformers"],
                   "ms_transformers": ms["transformers", drafter, gamma],
                   "all_s": {" ".join(map(str, name)): times[mode, prompt, name]
                             for name in fns}}
            row["speedup"] = row["ms_target"] / row["ms_speculative"]
            one_token = forward_ms[prompt, "target", 1]
            row["c"] = (forward_ms[prompt, "draft", 1] / one_token if drafter == "zoo draft"
                        else 0.0)  # a lookup in a table costs next to nothing
            row["verify_cost"] = forward_ms[prompt, "target", gamma + 1] / one_token
            row["predicted_speedup"] = row["tokens_per_call"] / (gamma * row["c"]
                                                                 + row["verify_cost"])
            row["speedup_transformers"] = row["ms_transformers_target"] / row["ms_transformers"]
            row["vs_transformers"] = row["ms_transformers"] / row["ms_speculative"]
            row["same_output"] = None if mode != "greedy" else not differ & {
                ("ours", None, None), ("ours", drafter, gamma),
                ("transformers", drafter, gamma)}
            row["goal_speedup"] = goal_for(mode, prompt, drafter)
            row["goal_met"] = (row["vs_transformers"] >= GOAL_VS_TRANSFORMERS and (
                row["goal_speedup"] is None or row["speedup"] >= row["goal_speedup"]))
            rows.append(row)
    facts = {"new_tokens": n_new, "repeats": args.repeats, "gammas": args.gammas,
             "max_ngram": args.max_ngram, "ngram_rule": args.ngram_rule, "goals": GOALS,
             "goal_vs_transformers": GOAL_VS_TRANSFORMERS,
             "target_parameters": target.num_parameters(),
             "draft_parameters": draft.num_parameters(),
             "prompts": {name: tok.decode(ids[0].tolist()) for name, ids in prompts.items()},
             "prompt_tokens": {name: ids.shape[1] for name, ids in prompts.items()},
             "all_greedy_outputs_identical": not mismatches, "mismatches": mismatches}
    return rows, facts


def goal_for(mode, prompt, drafter):
    """The issue's speed-up goal for a row, or None where it sets none."""
    if mode != "greedy" or (drafter == "n-gram" and prompt != N_GRAM_GOAL_PROMPT):
        return None
    return GOALS[drafter]


def summarize(rows, facts):
    """The notes, from the measured rows and the facts of the run."""
    targets = ", ".join(f"`{name}` ({facts['target_parameters'][name] / 1e6:.2f} M parameters)"
                        for name in facts["targets"])
    notes = [f"Targets: the zoo's {targets}; draft: the zoo's `draft` "
             f"({facts['draft_parameters'] / 1e6:.2f} M); n-gram "
             f"drafter: rule `{facts['ngram_rule']}`, suffixes of up to {facts['max_ngram']} "
             f"tokens; gamma {', '.join(map(str, facts['gammas']))}. "
             f"{facts['new_tokens']} new tokens per run, best of {facts['repeats']}."]
    for name in facts["targets"]:
        mine = [r for r in rows if r["target"] == name]
        with_goal = [r for r in mine if r["mode"] == "greedy" and r["goal_speedup"] is not None]
        speed_met = sum(r["speedup"] >= r["goal_speedup"] for r in with_goal)
        vs_met = sum(r["vs_transformers"] >= GOAL_VS_TRANSFORMERS for r in mine)
        best = {drafter: max((r for r in with_goal if r["drafter"] == drafter),
                             key=lambda r: r["speedup"], default=None) for drafter in GOALS}
        best_text = "; ".join(
            f"best greedy with the {drafter} {r['speedup']:.2f}x ({r['prompt']}, gamma "
            f"{r['gamma']}: {r['tokens_per_call']:.2f} tokens per call, c {r['c']:.3f}, "
            f"verify cost {r['verify_cost']:.2f}, cost model {r['predicted_speedup']:.2f}x)"
            for drafter, r in best.items() if r is not None)
        notes.append(
            f"Target `{name}`: speed-up goals (greedy: >= {GOALS['zoo draft']}x with the zoo "
            f"draft, >= {GOALS['n-gram']}x with the n-gram drafter on JSON records) met in "
            f"{speed_met} of {len(with_goal)} cases; ours at least as fast as transformers in "
            f"{vs_met} of {len(mine)} cases; {best_text}.")
    notes.append("Greedy: every method returned the target's own greedy tokens."
                 if facts["all_greedy_outputs_identical"] else
                 "Greedy outputs **differ**: " + "; ".join(facts["mismatches"]) + ".")
    failed = None
    if facts["mismatches"]:
        failed = "greedy outputs differ from the target's: " + "; ".join(facts["mismatches"])
    return Rows(rows, notes=notes, facts=facts, failed=failed)


if __name__ == "__main__":
    main(run)
