"""Benchmark: LLaMA greedy decoding, tinylm vs transformers, with and without the KV cache, and
tinylm's FastDecoder (torch, and its Numba step) against the roofline's floor.

Run from the repository root:

    .venv/bin/python bench/llama_bench.py             # full run, writes bench/results/llama.*
    .venv/bin/python bench/llama_bench.py --quick     # short sequences, 1 repeat, writes nothing
    .venv/bin/python bench/llama_bench.py --profile   # also print torch.profiler tables of the
                                                      # cached decoding loops (readable, FastDecoder
                                                      # in torch, transformers)

The model has the size of the course's base model: the config of the zoo's trained ``base``
checkpoint when one exists (``tinylm.zoo``), else LlamaConfig(vocab_size=4096, dim=256,
n_layers=6, n_heads=8, n_kv_heads=4, ffn_hidden=688, max_seq_len=512, tie_embeddings=True).
Its weights are random (seeded): speed does not depend on what the weights say. The
transformers model is ``Llama.to_hf()`` of the same weights, so both compute the same function;
``FastDecoder(model)`` computes it from fused copies of them (``tinylm.fast_decoder``).

Threads: ``--threads``, by default one per CPU that other processes leave free (the CPU count
minus the rounded 1-minute load average, at least one); see ``benchlib.auto_threads``.

What is measured and how is the docstring of ``run`` below (it is printed above the table, and
the book's benchmark appendix shows it); ``benchlib`` does the rest.
"""

from __future__ import annotations

import argparse
import inspect
import time

import torch
from benchlib import Rows, benchmark, main, positive_int
from tqdm import tqdm

from tinylm.fast_decoder import FastDecoder
from tinylm.llama import Llama, LlamaConfig
from tinylm.roofline import Roofline, decode_step_cost, measure_bandwidth

DEFAULT_CONFIG = LlamaConfig(vocab_size=4096, dim=256, n_layers=6, n_heads=8, n_kv_heads=4,
                             ffn_hidden=688, max_seq_len=512, tie_embeddings=True)
VARIANTS = ("ours, no cache", "ours, KV cache", "FastDecoder, torch", "FastDecoder, Numba",
            "transformers, KV cache", "transformers, no cache", "transformers generate()")
FAST = "FastDecoder, Numba"  # what generate() runs on the CPU
GOAL_BATCH_1, GOAL_BATCHED = 2.0, 1.5  # FastDecoder / transformers with cache, tokens/s
GOAL_READABLE = 1.0  # the readable model at least as fast as transformers with cache
LAST_STEPS = 8  # "end of sequence" step time: mean of the last 8 decoding steps


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


def base_config() -> tuple[LlamaConfig, str]:
    """The zoo's trained ``base`` config if there is one, else the course's base-model size."""
    try:
        from tinylm import zoo

        weights, _ = zoo.paths("base")
        if weights.exists():
            config = LlamaConfig(**zoo.read_manifest("base")["config"])
            return config, f"tinylm.zoo base ({weights.name})"
    except Exception:  # no zoo, or no trained checkpoint: use the default size
        pass
    return DEFAULT_CONFIG, "default (no trained tinylm.zoo base checkpoint)"


# ---------------------------------------------------------------------------------------------
# The decoding loops: same structure for ours and transformers'
# ---------------------------------------------------------------------------------------------


def ours_no_cache(model, prompt, n_new):
    ids, steps = prompt, []
    for _ in range(n_new):
        t0 = time.perf_counter()
        logits = model(ids)
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
        steps.append(time.perf_counter() - t0)
    return ids[:, prompt.shape[1]:], steps


def ours_cache(model, prompt, n_new):
    steps, out = [], []
    t0 = time.perf_counter()
    cache = model.new_cache(batch_size=prompt.shape[0], max_len=prompt.shape[1] + n_new)
    logits = model(prompt, cache=cache)
    nxt = logits[:, -1].argmax(-1, keepdim=True)
    out.append(nxt)
    steps.append(time.perf_counter() - t0)
    for _ in range(n_new - 1):
        t0 = time.perf_counter()
        logits = model(nxt, cache=cache)
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        out.append(nxt)
        steps.append(time.perf_counter() - t0)
    return torch.cat(out, dim=1), steps


def cache_kwarg(hf):
    """transformers 5.x renamed ``past_key_values`` to ``cache`` (the old name still works, with
    a deprecation warning): use whichever this version's forward() takes."""
    params = inspect.signature(hf.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def hf_cache(hf, prompt, n_new):
    from transformers import DynamicCache

    steps, out = [], []
    t0 = time.perf_counter()
    kw = {cache_kwarg(hf): DynamicCache(config=hf.config), "use_cache": True}
    logits = hf(input_ids=prompt, **kw).logits
    nxt = logits[:, -1].argmax(-1, keepdim=True)
    out.append(nxt)
    steps.append(time.perf_counter() - t0)
    for _ in range(n_new - 1):
        t0 = time.perf_counter()
        logits = hf(input_ids=nxt, **kw).logits
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        out.append(nxt)
        steps.append(time.perf_counter() - t0)
    return torch.cat(out, dim=1), steps


def hf_no_cache(hf, prompt, n_new):
    ids, steps = prompt, []
    for _ in range(n_new):
        t0 = time.perf_counter()
        logits = hf(input_ids=ids, use_cache=False).logits
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
        steps.append(time.perf_counter() - t0)
    return ids[:, prompt.shape[1]:], steps


def hf_generate(hf, prompt, n_new):
    out = hf.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                      max_new_tokens=n_new, min_new_tokens=n_new, eos_token_id=None,
                      pad_token_id=0)
    return out[:, prompt.shape[1]:], []


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def make_models(config, seed):
    model = Llama(config, seed=seed).eval()
    hf = model.to_hf()
    hf.config.use_cache = True
    hf.generation_config.eos_token_id = None
    hf.generation_config.pad_token_id = 0
    return model, hf


def variant_fns(model, hf):
    fast_torch, fast = FastDecoder(model, compiled=False), FastDecoder(model)
    return {"ours, no cache": lambda p, n: ours_no_cache(model, p, n),
            "ours, KV cache": lambda p, n: ours_cache(model, p, n),
            "FastDecoder, torch": lambda p, n: ours_cache(fast_torch, p, n),
            "FastDecoder, Numba": lambda p, n: ours_cache(fast, p, n),
            "transformers, KV cache": lambda p, n: hf_cache(hf, p, n),
            "transformers, no cache": lambda p, n: hf_no_cache(hf, p, n),
            "transformers generate()": lambda p, n: hf_generate(hf, p, n)}


# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------


def int_list(text):
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive ints separated by commas: {text!r}")
    return values


def add_options(parser):
    parser.add_argument("--lengths", type=int_list, default=[64, 128, 256],
                        help="new tokens per run at batch 1, comma-separated (default 64,128,256;"
                             " capped at max_seq_len - prompt)")
    parser.add_argument("--prompt", type=positive_int, default=16,
                        help="prompt tokens (default 16)")
    parser.add_argument("--batch", type=positive_int, default=4,
                        help="the batched case's batch size")
    parser.add_argument("--batch-length", type=positive_int, default=128,
                        help="new tokens in the batched case (default 128)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true",
                        help="also print torch.profiler tables of the two cached loops")


@benchmark(
    "llama", title="LLaMA decoding: tinylm vs transformers, with and without the KV cache",
    chapter=3, packages=("torch", "transformers"), threads=True, options=add_options, repeats=3,
    columns=[("batch", "batch", "int"), ("new_tokens", "N", "int"), ("variant", "variant", "text"),
             ("best_s", "run s", "seconds"), ("ms_per_token", "ms/token", "ms"),
             ("tokens_per_s", "tokens/s", "rate"), ("first_step_ms", "first step ms", "ms"),
             ("mean_step_ms", "mean step ms", "ms"), ("last_steps_ms", "last steps ms", "ms"),
             ("same_tokens_as_ours_cached", "same tokens", "yesno")],
    tables={"ratios": (
        f"Ratios of tokens/s. Goals: FastDecoder / transformers with cache >= "
        f"{GOAL_BATCH_1:g} at batch 1 and >= {GOAL_BATCHED:g} batched; the readable model "
        f">= {GOAL_READABLE:g}. KV-cache speed-up = cached / uncached tokens/s over the whole "
        "run; last-step speed-up = uncached / cached time of a step at the end of the sequence:",
        [("batch", "batch", "int"), ("new_tokens", "N", "int"),
         ("cache_speedup_ours", "KV-cache speed-up, ours", "ratio"),
         ("cache_speedup_transformers", "KV-cache speed-up, transformers", "ratio"),
         ("last_step_speedup_ours", "last-step speed-up, ours", "ratio"),
         ("ours_vs_transformers_cache", "readable / transformers, cache", "ratio"),
         ("ours_vs_transformers_no_cache", "readable / transformers, no cache", "ratio"),
         ("fast_torch_vs_transformers", "FastDecoder torch / transformers", "ratio"),
         ("fast_vs_transformers", "FastDecoder / transformers", "ratio"),
         ("fast_vs_generate", "FastDecoder / generate()", "ratio"),
         ("goal", "goal", "ratio"), ("goal_met", "goal met", "yesno")]),
        "roofline": (
        "The roofline (tinylm.roofline), measured at the start of the run: the floor under a "
        "cached step (every weight read once, the KV cache at the run's mean length), if the "
        "bytes come from main memory and if they stay in the caches (bandwidth measured on "
        "data of the step's size), beside the measured time of a step:",
        [("batch", "batch", "int"), ("new_tokens", "N", "int"),
         ("mb_per_step", "MB per step", "float"), ("intensity", "FLOP/byte", "float"),
         ("floor_memory_ms", "floor, memory ms", "ms"),
         ("floor_cached_ms", "floor, cached ms", "ms"),
         ("fast_ms", "FastDecoder ms", "ms"), ("fast_torch_ms", "FastDecoder torch ms", "ms"),
         ("readable_ms", "readable ms", "ms"), ("transformers_ms", "transformers ms", "ms")])},
)
def run(args):
    """Greedy decoding of N new tokens after a random prompt, fp32, under
    `torch.inference_mode`, by a model of the size of the course's base model with random
    weights; transformers' `LlamaForCausalLM` is `Llama.to_hf()` of the same weights. Seven
    variants, each a plain Python loop written the same way for both libraries: *ours, no
    cache* (the whole sequence again at every step), *ours, KV cache* (the readable model:
    prefill into `model.new_cache()`, then one token per step), *FastDecoder, torch* and
    *FastDecoder, Numba* (the same loop through `tinylm.fast_decoder.FastDecoder(model)`,
    fused weights in torch operations, and with each one-token step one Numba call, which is
    what `generate()` runs on the CPU), *transformers, KV cache* (a `DynamicCache` passed as
    `cache`, transformers 5's name for `past_key_values`), *transformers, no cache*
    (`use_cache=False`), and `generate(do_sample=False)`, a second reference with its own
    overhead.

    A run generates N tokens for every sequence of the batch, prefill included (it yields the
    first token). ms/token = run time / N (one decoding step); tokens/s = batch x N / run time.
    Best of the repeats, the variants alternating, after an untimed warm-up. first step = the
    prefill step; mean step = mean time of the cached steps after it; last steps = mean time
    of the last steps of the fastest run (the cost of a step at the end of the sequence). Every
    variant must produce the same token ids (checked: the run fails otherwise).

    The roofline (`tinylm.roofline`) is measured first: matmul GFLOP/s (a 1024 x 1024
    product), main memory's bandwidth (reading 256 MiB once) and the bandwidth on data of the
    size of the model's weights (what a step sees when they stay in the caches). With the bytes
    and FLOPs of a step (`decode_step_cost`, the KV cache at the run's mean length) they give
    the floor under a cached step, shown beside the measured mean step.
    """
    config, config_source = base_config()
    prompt_len = args.prompt
    room = config.max_seq_len - prompt_len
    lengths = sorted({min(n, room) for n in ((16, 32, 64) if args.quick else args.lengths)})
    batched = [(args.batch, min(32 if args.quick else args.batch_length, room))]
    repeats = args.repeats
    cases = [(1, n) for n in lengths] + batched
    model, hf = make_models(config, args.seed)
    fns = variant_fns(model, hf)
    n_params = model.num_parameters()
    print(f"model: {config_source}: {config}, {n_params / 1e6:.2f} M parameters; prompt "
          f"{prompt_len} tokens; torch threads {torch.get_num_threads()}; best of {repeats}")
    roof = Roofline.measure()
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    cached_bandwidth = measure_bandwidth(weight_bytes, repeats=20)
    print(f"roofline: {roof.gflops:.0f} GFLOP/s, {roof.bandwidth:.1f} GB/s from main memory, "
          f"{cached_bandwidth:.1f} GB/s on {weight_bytes / 1e6:.1f} MB (the weights' size)")

    gen = torch.Generator().manual_seed(args.seed)
    prompts = {b: torch.randint(0, config.vocab_size, (b, prompt_len), generator=gen)
               for b in sorted({b for b, _ in cases})}
    times = {}  # (batch, n, variant) -> list of seconds
    step_times = {}  # (batch, n, variant) -> step times of the fastest run
    tokens = {}  # (batch, n, variant) -> generated ids
    with torch.inference_mode():
        for b in prompts:  # warm-up, not timed: every variant once at each batch size
            for fn in fns.values():
                fn(prompts[b], 8)
        steps = [(rep, case) for rep in range(repeats) for case in cases]
        bar = tqdm(steps, desc="benchmark", unit="case")
        for rep, (b, n) in bar:
            # alternate: the order of the variants turns by one at every repeat
            order = VARIANTS[rep % len(VARIANTS):] + VARIANTS[:rep % len(VARIANTS)]
            for name in order:
                bar.set_postfix_str(f"batch {b}, {n} tokens, {name}")
                t0 = time.perf_counter()
                ids, st = fns[name](prompts[b], n)
                seconds = time.perf_counter() - t0
                key = (b, n, name)
                if not times.get(key) or seconds < min(times[key]):
                    step_times[key] = st
                times.setdefault(key, []).append(seconds)
                tokens[key] = ids
        bar.close()

    rows, mismatches = [], []
    for b, n in cases:
        ref = tokens[b, n, "ours, KV cache"]
        for name in VARIANTS:
            key = (b, n, name)
            same = bool(torch.equal(tokens[key], ref))
            if not same:
                mismatches.append(f"batch {b}, {n} tokens: {name}")
            best = min(times[key])
            st = step_times[key]
            rows.append({
                "batch": b, "new_tokens": n, "variant": name, "repeats": len(times[key]),
                "best_s": best, "all_s": times[key], "ms_per_token": 1000 * best / n,
                "tokens_per_s": b * n / best,
                "first_step_ms": 1000 * st[0] if st else None,
                "mean_step_ms": 1000 * sum(st[1:]) / len(st[1:]) if len(st) > 1 else None,
                "last_steps_ms": 1000 * sum(st[-LAST_STEPS:]) / LAST_STEPS if st else None,
                "same_tokens_as_ours_cached": same})
    if args.profile:
        print(profile_cached(model, hf, prompts[1], max(lengths)))
    facts = {"config": config.to_dict(), "config_source": config_source, "parameters": n_params,
             "seed": args.seed, "prompt_tokens": prompt_len, "repeats": repeats,
             "last_steps": LAST_STEPS, "goals": {"batch_1": GOAL_BATCH_1,
                                                 "batched": GOAL_BATCHED,
                                                 "readable": GOAL_READABLE},
             "all_tokens_identical": not mismatches, "mismatches": mismatches,
             "roofline": {"gflops": roof.gflops, "bandwidth_gb_s": roof.bandwidth,
                          "cached_bandwidth_gb_s": cached_bandwidth,
                          "weight_bytes": weight_bytes}}
    return summarize(rows, facts)


def summarize(rows, facts):
    """The ratio and roofline tables and the notes, from the measured rows and the facts."""
    by = {(r["batch"], r["new_tokens"], r["variant"]): r for r in rows}
    config, roof_facts = LlamaConfig(**facts["config"]), facts["roofline"]
    roof = Roofline(roof_facts["gflops"], roof_facts["bandwidth_gb_s"])
    cached_roof = Roofline(roof_facts["gflops"], roof_facts["cached_bandwidth_gb_s"])
    goals = facts["goals"]
    ratios, roofline = [], []
    for b, n in dict.fromkeys((r["batch"], r["new_tokens"]) for r in rows):
        def r(name, b=b, n=n):
            return by[b, n, name]

        def rate(name, reference, r=r):
            return r(name)["tokens_per_s"] / r(reference)["tokens_per_s"]

        entry = {
            "batch": b, "new_tokens": n,
            "cache_speedup_ours": rate("ours, KV cache", "ours, no cache"),
            "cache_speedup_transformers": rate("transformers, KV cache", "transformers, no cache"),
            "last_step_speedup_ours": r("ours, no cache")["last_steps_ms"]
            / r("ours, KV cache")["last_steps_ms"],
            "ours_vs_transformers_cache": rate("ours, KV cache", "transformers, KV cache"),
            "ours_vs_transformers_no_cache": rate("ours, no cache", "transformers, no cache"),
            "ours_vs_generate": rate("ours, KV cache", "transformers generate()"),
            "fast_torch_vs_transformers": rate("FastDecoder, torch", "transformers, KV cache"),
            "fast_vs_transformers": rate(FAST, "transformers, KV cache"),
            "fast_vs_generate": rate(FAST, "transformers generate()"),
            "goal": goals["batch_1"] if b == 1 else goals["batched"],
        }
        entry["goal_met"] = bool(entry["fast_vs_transformers"] >= entry["goal"])
        entry["readable_goal_met"] = bool(entry["ours_vs_transformers_cache"]
                                          >= goals["readable"])
        ratios.append(entry)
        # a cached step of the run attends to prompt + 1 ... prompt + n - 1 tokens: the mean
        cost = decode_step_cost(config, b, facts["prompt_tokens"] + n // 2)
        roofline.append({
            "batch": b, "new_tokens": n, "mb_per_step": cost.bytes / 1e6,
            "intensity": cost.intensity, "floor_memory_ms": 1000 * roof.seconds(cost),
            "floor_cached_ms": 1000 * cached_roof.seconds(cost),
            "fast_ms": r(FAST)["mean_step_ms"],
            "fast_torch_ms": r("FastDecoder, torch")["mean_step_ms"],
            "readable_ms": r("ours, KV cache")["mean_step_ms"],
            "transformers_ms": r("transformers, KV cache")["mean_step_ms"]})

    c, mismatches = facts["config"], facts["mismatches"]
    notes = [
        f"Model: {facts['config_source']}: vocab {c['vocab_size']}, dim {c['dim']}, "
        f"{c['n_layers']} layers, {c['n_heads']} heads, {c['n_kv_heads']} key/value heads, ffn "
        f"{c['ffn_hidden']}, max_seq_len {c['max_seq_len']}, tied embeddings "
        f"{c['tie_embeddings']}; {facts['parameters'] / 1e6:.2f} M parameters, random weights "
        f"(seed {facts['seed']}). Prompt: {facts['prompt_tokens']} random tokens. Best of "
        f"{facts['repeats']} repeat{'s' if facts['repeats'] > 1 else ''}; last steps = the "
        f"last {facts['last_steps']}.",
        "All variants produced the same token ids." if not mismatches else
        "Token ids **differ**: " + "; ".join(mismatches) + ".",
        f"Goal (FastDecoder / transformers with the KV cache >= {goals['batch_1']:g} at batch "
        f"1, >= {goals['batched']:g} batched) met in {sum(q['goal_met'] for q in ratios)} of "
        f"{len(ratios)} cases; the readable model >= {goals['readable']:g}x transformers in "
        f"{sum(q['readable_goal_met'] for q in ratios)} of {len(ratios)}.",
        f"Roofline: {roof.gflops:.0f} GFLOP/s (matmul), {roof.bandwidth:.1f} GB/s from main "
        f"memory, {cached_roof.bandwidth:.1f} GB/s on data of the weights' size "
        f"({roof_facts['weight_bytes'] / 1e6:.1f} MB); ridge point {roof.ridge:.1f} FLOP/byte."]
    failed = ("token ids differ between variants: " + "; ".join(mismatches)) if mismatches else None
    return Rows(rows, notes=notes, facts=facts, tables={"ratios": ratios, "roofline": roofline},
                failed=failed)


def profile_cached(model, hf, prompt, n_new, rows=25):
    """torch.profiler tables (self CPU time per op) of the cached decoding loops in torch."""
    from torch.profiler import ProfilerActivity, profile

    out, fast_torch = [], FastDecoder(model, compiled=False)
    with torch.inference_mode():
        for name, fn in (("ours, KV cache", lambda: ours_cache(model, prompt, n_new)),
                         ("FastDecoder, torch", lambda: ours_cache(fast_torch, prompt, n_new)),
                         ("transformers, KV cache", lambda: hf_cache(hf, prompt, n_new))):
            fn()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                fn()
            out += [f"\n### torch.profiler: {name}, batch {prompt.shape[0]}, {n_new} tokens\n",
                    prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)]
    return "\n".join(out)


if __name__ == "__main__":
    main(run)
