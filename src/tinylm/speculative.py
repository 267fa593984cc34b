"""Speculative decoding: a cheap drafter guesses the next tokens, the target checks them at once.

Decoding one token at a time runs the whole target model once per token. On a GPU that pass is
limited by reading the weights, not by arithmetic, so feeding it ``gamma + 1`` tokens costs
about as much as feeding it one. Speculative decoding (Leviathan et al. 2023; Chen et al. 2023)
spends that slack: a drafter proposes ``gamma`` tokens, the target scores all of them in one
call, and every proposed token the target agrees with is a token we did not have to pay a
target call for. The rule that decides "agrees" keeps the output exactly what the target alone
would produce: the same tokens under greedy decoding, the same distribution under sampling.

Reading order, top to bottom:

1. The arithmetic. ``acceptance_probability(p, q)``: alpha, the chance that one drafted token
   survives, ``sum(min(p, q))`` when sampling (for greedy decoding: the chance that both
   models' argmax agree). ``expected_tokens_per_call(alpha, gamma)``:
   ``1 + alpha + ... + alpha**gamma = (1 - alpha**(gamma+1)) / (1 - alpha)`` tokens per target
   call. ``expected_speedup(alpha, gamma, c)``: that, divided by the cost of one round
   (``gamma`` drafter calls at ``c`` target calls each, plus the target call).
2. Verification. Greedy (``verify_greedy``): keep drafted tokens while they equal the target's
   argmax; the target's argmax at the first disagreement comes free. Sampling
   (``verify_sampling``): keep drafted token x with probability ``min(1, p(x) / q(x))``; at the
   first rejection draw from the residual ``max(0, p - q)``, normalised
   (``residual_distribution``). Why the output is distributed as p: token x comes out either
   drafted and kept, probability ``q(x) min(1, p(x)/q(x)) = min(p(x), q(x))``, or after a
   rejection, probability ``(1 - alpha) max(0, p(x) - q(x)) / (1 - alpha)``; and
   ``min(p, q) + max(0, p - q) = p``. When every drafted token is kept, the target's
   distribution after the last one gives a *bonus* token.
3. Drafters, objects with ``reset``, ``propose`` and ``rollback``. ``ModelDrafter``: a smaller
   Llama with its own KV cache (``speculative_generate`` wraps any Llama passed as ``draft``).
   ``NGramDrafter``: retrieval, no model at all: the continuation of the last few tokens where
   they occurred earlier in the prompt or the output (the Numba kernels of
   ``speculative_kernels``). It has no distribution q: for sampling its proposal counts as
   one-hot, q(x) = 1, so x is kept with probability p(x) and the residual is p without x. That
   is what transformers' prompt lookup does (it samples from p and compares).
4. ``speculative_generate``: the loop. Both models keep KV caches; after a rejection both roll
   back to the accepted prefix (``KVCache.crop``) instead of recomputing it. Returns the tokens
   and a trace of every target call (``SpeculativeStep``) for the chapter's dashboard.
5. Measuring: ``measure_acceptance`` (alpha of two models on held-out text, teacher-forced),
   ``measure_forward_ms`` and ``measure_cost_ratio`` (c, from timed cached forward passes).

Top-k and top-p apply to p and q alike, and temperature too, as in transformers: the drafter
samples from its warped distribution and the target verifies against its own. The defaults
are ``generate()``'s (``top_k=50``): pass ``top_k=0`` for the plain softmax.

    target, tok = zoo.load("base")
    draft, _ = zoo.load("draft")
    out = speculative_generate(target, draft, ids, max_new_tokens=64, gamma=4)
    out.sequences         # (1, prompt + generated), what generate(target, ids) returns
    out.accepted          # drafted tokens kept at each target call, 0..gamma
    out.acceptance_rate   # kept / proposed
    out = speculative_generate(target, NGramDrafter(max_ngram=3), ids, gamma=4)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tinylm.generation import GenerationConfig, LogitsProcessorList, build_logits_processors
from tinylm.speculative_kernels import copy_continuation, count_continuation

# ---------------------------------------------------------------------------------------------
# 1. The arithmetic
# ---------------------------------------------------------------------------------------------


def acceptance_probability(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """alpha for one position: the chance that a token drawn from q survives verification
    against p, ``sum_x q(x) min(1, p(x)/q(x)) = sum_x min(p(x), q(x))`` (one minus the total
    variation distance). p, q: (..., vocab) probabilities -> (...)."""
    return torch.minimum(p, q).sum(dim=-1)


def _check_alpha(alpha) -> np.ndarray:
    alpha = np.asarray(alpha, dtype=float)
    if not np.all((alpha >= 0) & (alpha <= 1)):
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    return alpha


def _check_gamma(gamma) -> int:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, np.integer)) or gamma < 1:
        raise ValueError(f"gamma (tokens drafted per target call) must be an int >= 1, "
                         f"got {gamma!r}")
    return int(gamma)


def expected_tokens_per_call(alpha, gamma: int):
    """Tokens produced per target call when each drafted token is kept with probability alpha,
    independently: the i-th draft survives with probability alpha**i, and the call always adds
    one token of its own, so ``1 + alpha + ... + alpha**gamma = (1 - alpha**(gamma+1)) /
    (1 - alpha)``. From 1 (alpha = 0) to gamma + 1 (alpha = 1). Works on arrays of alpha."""
    alpha, gamma = _check_alpha(alpha), _check_gamma(gamma)
    total = sum(alpha**i for i in range(gamma + 1))  # the sum form has no 0/0 at alpha = 1
    return float(total) if np.ndim(total) == 0 else total


def expected_speedup(alpha, gamma: int, c: float, verify_cost: float = 1.0):
    """Speed-up over decoding with the target alone: tokens per call / cost of a round, in
    target calls. A round is gamma drafter calls of cost c each (c = drafter time / target
    time) and one target call, so ``(1 - alpha**(gamma+1)) / ((1 - alpha) (gamma c + 1))``.

    verify_cost: the target call on gamma + 1 tokens, in units of a one-token call. The paper's
    model takes 1 (a memory-bound accelerator); on a CPU it grows with gamma: measure it with
    ``measure_forward_ms``.
    """
    if not c >= 0 or not verify_cost > 0:
        raise ValueError(f"need c >= 0 and verify_cost > 0, got c={c}, verify_cost={verify_cost}")
    return expected_tokens_per_call(alpha, gamma) / (gamma * c + verify_cost)


# ---------------------------------------------------------------------------------------------
# 2. Verification: which drafted tokens the target keeps, and the token it adds
# ---------------------------------------------------------------------------------------------


def verify_greedy(draft_tokens: torch.Tensor, target_scores: torch.Tensor) -> tuple[int, int]:
    """Greedy verification.

    draft_tokens:  (k,) the drafted tokens
    target_scores: (k + 1, vocab) the target's scores after the last accepted token and after
                   each drafted token
    returns:       (accepted, token): how many drafted tokens equal the target's argmax, in a
                   row from the first, and the target's argmax right after them (the correction
                   of the first wrong draft, or the bonus token if all k were right)
    """
    k = draft_tokens.shape[0]
    choice = target_scores.argmax(dim=-1)  # (k + 1,) what the target itself would pick
    still_agreeing = (choice[:k] == draft_tokens).long().cumprod(dim=0)  # (k,) 1 up to a miss
    accepted = int(still_agreeing.sum())
    return accepted, int(choice[accepted])


def residual_distribution(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``max(0, p - q)`` normalised, (..., vocab): what is left of p once the drafter's
    proposals have taken their share. Where it is all zero (p equal to q: rejection can then
    only come from rounding) it falls back to p."""
    residual = (p - q).clamp(min=0)
    total = residual.sum(dim=-1, keepdim=True)
    empty = total <= torch.finfo(p.dtype).tiny
    return torch.where(empty, p, residual / torch.where(empty, 1.0, total))


def verify_sampling(draft_tokens: torch.Tensor, p: torch.Tensor, q: torch.Tensor,
                    generator: torch.Generator | None = None) -> tuple[int, int]:
    """Speculative sampling (Leviathan et al. 2023, algorithm 1; Chen et al. 2023).

    draft_tokens: (k,) drafted tokens, each drawn from its row of q
    p:            (k + 1, vocab) the target's probabilities at the same k + 1 positions
    q:            (k, vocab) the drafter's probabilities (one-hot rows for a retrieval drafter)
    returns:      (accepted, token) as ``verify_greedy``; token comes from the residual at the
                  first rejection, from p after the last draft if none was rejected

    Drafted token x_i is kept if u_i < p_i(x_i) / q_i(x_i) with u_i uniform on [0, 1): that
    happens with probability min(1, p/q). ``<`` rather than transformers' ``<=`` so that a
    token the target forbids (p = 0) is never kept, not even when u = 0.
    """
    k = draft_tokens.shape[0]
    rows = torch.arange(k, device=p.device)
    ratio = p[rows, draft_tokens] / q[rows, draft_tokens]  # (k,); q > 0 where the draft was drawn
    u = torch.rand(k, generator=generator, device=p.device)
    accepted = int((u < ratio).long().cumprod(dim=0).sum())
    if accepted < k:
        distribution = residual_distribution(p[accepted], q[accepted])
    else:
        distribution = p[k]  # every draft kept: a bonus token from the target
    token = torch.multinomial(distribution, 1, generator=generator)
    return accepted, int(token)


# ---------------------------------------------------------------------------------------------
# How tokens are chosen: the same rule for drafter and target
# ---------------------------------------------------------------------------------------------


@dataclass
class Decoding:
    """Greedy, or sampling from the warped distribution (chapter 4's temperature, top-k and
    top-p warpers, in transformers' order), with the generator that seeds every draw, and the
    EOS ids at which drafting stops."""

    do_sample: bool
    warpers: LogitsProcessorList
    generator: torch.Generator | None
    eos_token_ids: tuple[int, ...]

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """(rows, vocab) logits -> the scores tokens are chosen from. The warpers look only at
        the scores, not at the tokens before them, so one call serves every row."""
        return self.warpers(None, logits) if self.do_sample else logits

    def choose(self, scores: torch.Tensor) -> torch.Tensor:
        """(rows, vocab) scores -> (rows,) tokens: the argmax, or a draw from the softmax."""
        if not self.do_sample:
            return scores.argmax(dim=-1)
        probs = F.softmax(scores, dim=-1)
        return torch.multinomial(probs, 1, generator=self.generator)[:, 0]


# ---------------------------------------------------------------------------------------------
# 3. Drafters
# ---------------------------------------------------------------------------------------------


class ModelDrafter:
    """A smaller language model as drafter. It drafts token by token with its own KV cache,
    which always holds a prefix of the sequence: ``propose`` feeds it what it lacks (the prompt
    at first, then the one or two tokens of the last round), and ``rollback`` drops drafted
    tokens the target rejected."""

    def __init__(self, model):
        if not hasattr(model, "new_cache"):
            raise TypeError(f"a draft model must be a tinylm Llama, got {type(model).__name__}")
        self.model = model
        self.cache = None

    @property
    def vocab_size(self) -> int:
        return self.model.config.vocab_size

    @property
    def max_seq_len(self) -> int:
        return self.model.config.max_seq_len

    def reset(self, max_len: int) -> None:
        """A new sequence: an empty cache with room for ``max_len`` tokens."""
        self.cache = self.model.new_cache(max_len=max_len)

    def propose(self, sequence: torch.Tensor, num_tokens: int,
                decoding: Decoding) -> tuple[torch.Tensor, torch.Tensor]:
        """Draft up to ``num_tokens`` tokens after ``sequence`` (length,), stopping after an EOS.

        Returns the tokens (k,) and the drafter's scores at each (k, vocab): q is their softmax.
        The last drafted token is not fed back (nothing needs its next distribution yet), so
        the cache ends one token short of the draft.
        """
        vocab = self.vocab_size
        tokens, scores = [], []
        new = sequence[self.cache.length:]  # (new,) what the cache lacks
        for _ in range(num_tokens):
            logits = self.model(new[None], cache=self.cache)[0, -1:].float()  # (1, vocab)
            step_scores = decoding.scores(logits)
            token = decoding.choose(step_scores)  # (1,)
            tokens.append(token)
            scores.append(step_scores)
            if int(token) in decoding.eos_token_ids:
                break
            new = token
        if not tokens:
            return sequence.new_empty(0), torch.empty(0, vocab, device=sequence.device)
        return torch.cat(tokens), torch.cat(scores)  # (k,), (k, vocab)

    def rollback(self, length: int) -> None:
        """The sequence's first ``length`` tokens are final: forget cached tokens after them."""
        self.cache.crop(min(self.cache.length, length))


NGRAM_RULES = {"count": count_continuation, "copy": copy_continuation}


class NGramDrafter:
    """Retrieval drafting (prompt lookup): propose what followed the sequence's last few tokens
    where they occurred before, in the prompt or in the output so far. No model, no cache, no
    distribution: for sampling its proposal counts as one-hot (see the module's docstring).

    max_ngram:  the longest suffix looked up; shorter ones down to ``min_ngram`` are tried in
                turn (backing off, as chapter 1's n-gram model does)
    num_tokens: most tokens per proposal (None: whatever ``gamma`` asks for)
    rule:       "count": each drafted token is the most frequent follower of the longest
                suffix seen before (chapter 1's counting), appended, and the next one is looked
                up the same way; "copy": copy the tokens after the first earlier occurrence of
                the longest suffix, as transformers' ``prompt_lookup_num_tokens`` does (with
                ``max_ngram`` for its ``max_matching_ngram_size``)
    """

    vocab_size = None  # any vocabulary: it proposes only tokens it has seen

    def __init__(self, max_ngram: int = 3, num_tokens: int | None = None, min_ngram: int = 1,
                 rule: str = "count"):
        for name, value in (("max_ngram", max_ngram), ("min_ngram", min_ngram)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if min_ngram > max_ngram:
            raise ValueError(f"min_ngram={min_ngram} is larger than max_ngram={max_ngram}")
        if num_tokens is not None:
            _check_gamma(num_tokens)
        if rule not in NGRAM_RULES:
            raise ValueError(f"rule must be one of {sorted(NGRAM_RULES)}, got {rule!r}")
        self.max_ngram, self.min_ngram, self.num_tokens, self.rule = (max_ngram, min_ngram,
                                                                      num_tokens, rule)

    def __repr__(self):
        return (f"NGramDrafter(max_ngram={self.max_ngram}, num_tokens={self.num_tokens}, "
                f"min_ngram={self.min_ngram}, rule={self.rule!r})")

    def reset(self, max_len: int) -> None:
        pass  # nothing to prepare: every proposal reads the sequence afresh

    def propose(self, sequence: torch.Tensor, num_tokens: int,
                decoding: Decoding) -> tuple[torch.Tensor, None]:
        """Up to ``num_tokens`` (and ``self.num_tokens``) tokens after ``sequence`` (length,),
        cut after the first EOS; None for the scores: there is no q."""
        if self.num_tokens is not None:
            num_tokens = min(num_tokens, self.num_tokens)
        history = sequence.cpu().numpy().astype(np.int64, copy=False)  # (length,), a view on CPU
        draft = NGRAM_RULES[self.rule](history, self.max_ngram, self.min_ngram, num_tokens)
        for i, token in enumerate(draft.tolist()):
            if token in decoding.eos_token_ids:
                draft = draft[:i + 1]
                break
        return torch.from_numpy(draft).to(sequence.device), None

    def rollback(self, length: int) -> None:
        pass  # it keeps no state


def as_drafter(draft):
    """A Llama becomes a ``ModelDrafter``; a drafter (``reset``, ``propose``, ``rollback``)
    is used as it is."""
    if hasattr(draft, "new_cache"):
        return ModelDrafter(draft)
    if all(callable(getattr(draft, m, None)) for m in ("reset", "propose", "rollback")):
        return draft
    raise TypeError(f"draft must be a tinylm Llama or a drafter with reset/propose/rollback "
                    f"(e.g. NGramDrafter), got {type(draft).__name__}")


# ---------------------------------------------------------------------------------------------
# 4. The loop
# ---------------------------------------------------------------------------------------------


@dataclass
class SpeculativeStep:
    """One target call.

    start:    tokens generated before this call (where its tokens begin in the output)
    proposed: the drafted tokens, k of them (0 when nothing was drafted)
    accepted: how many of them were kept, from the first
    outcome:  "correction": proposed[accepted] was rejected and ``token`` replaces it (the
              target's argmax, or a draw from the residual when sampling); "bonus": all k were
              kept and ``token`` is the target's next token; "eos": a kept drafted token was
              EOS, the text ends there and the target adds nothing
    token:    the target's own token (None for "eos")
    p, q:     target and drafter probability of each proposed token (k each; after the
              warpers when sampling; q = 1.0 for a retrieval drafter's one-hot proposals)
    """

    start: int
    proposed: list[int]
    accepted: int
    outcome: str
    token: int | None
    p: list[float]
    q: list[float]

    @property
    def tokens(self) -> list[int]:
        """The tokens this call added to the output."""
        extra = [] if self.token is None else [self.token]
        return self.proposed[:self.accepted] + extra


@dataclass
class SpeculativeOutput:
    """sequences: (1, prompt + generated) as ``generate()`` returns them; steps: one
    ``SpeculativeStep`` per target call.

    Every call adds its accepted drafts and, unless it ended on an accepted EOS draft, one
    token of the target, so ``generated == sum(accepted) + target_calls`` minus one if the last
    call's outcome is "eos".
    """

    sequences: torch.Tensor
    steps: list[SpeculativeStep]
    prompt_length: int
    gamma: int

    @property
    def accepted(self) -> list[int]:
        return [s.accepted for s in self.steps]

    @property
    def proposed(self) -> list[int]:
        return [len(s.proposed) for s in self.steps]

    @property
    def target_calls(self) -> int:
        return len(self.steps)

    @property
    def generated(self) -> int:
        return self.sequences.shape[1] - self.prompt_length

    @property
    def acceptance_rate(self) -> float:
        """Accepted / proposed drafted tokens (nan if nothing was proposed)."""
        proposed = sum(self.proposed)
        return sum(self.accepted) / proposed if proposed else float("nan")

    @property
    def tokens_per_call(self) -> float:
        return self.generated / self.target_calls

    def to_dict(self) -> dict:
        """Plain numbers and lists, for JSON and the chapter's widget."""
        return {"sequence": self.sequences[0].tolist(), "prompt_length": self.prompt_length,
                "gamma": self.gamma, "steps": [asdict(s) for s in self.steps]}


@torch.no_grad()
def speculative_generate(target, draft, input_ids: torch.Tensor, max_new_tokens: int = 64,
                         gamma: int = 4, do_sample: bool = False, temperature: float = 1.0,
                         seed: int | None = None, eos_token_id: int | list[int] | None = None,
                         top_k: int = 50, top_p: float = 1.0) -> SpeculativeOutput:
    """Continue the prompt ``input_ids`` (1, prompt) with the ``target`` Llama, drafting with
    ``draft`` (a smaller Llama with the same vocabulary, or a drafter such as ``NGramDrafter``).

    Greedy (``do_sample=False``) gives exactly ``generate(target, input_ids,
    max_new_tokens=..., eos_token_id=...)``'s tokens; sampling gives tokens distributed as
    ``generate(..., do_sample=True, temperature=..., top_k=..., top_p=...)``'s, seeded by
    ``seed`` (a torch.Generator; None: torch's global generator). Generation stops after
    ``max_new_tokens`` tokens or at the first EOS, which is kept; nothing follows it.

    Each round: the drafter proposes at most ``gamma`` tokens, one fewer than still fit (the
    target always adds one); one target call reads every token its cache lacks plus the drafts;
    verification keeps a prefix of the drafts and adds one target token; both caches roll back
    to the sequence as it now stands.
    """
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=do_sample,
                              temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                              eos_token_id=eos_token_id)  # checks every setting
    gamma = _check_gamma(gamma)
    drafter = as_drafter(draft)
    _check_models(target, drafter, input_ids, max_new_tokens)
    device = input_ids.device
    generator = None
    if do_sample and seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    prompt_length = input_ids.shape[1]
    decoding = Decoding(do_sample, build_logits_processors(config, prompt_length), generator,
                        tuple(config.eos_token_ids))

    max_length = prompt_length + max_new_tokens
    sequence = input_ids.new_empty(max_length, dtype=torch.long)  # (max_length,) the tokens
    sequence[:prompt_length] = input_ids[0]
    length = prompt_length  # tokens in the sequence so far
    # The token that ends the sequence is never fed to a model, hence max_length - 1.
    target_cache = target.new_cache(max_len=max_length - 1)
    drafter.reset(max_length - 1)
    steps = []
    while length < max_length:
        # 1. Draft.
        wanted = min(gamma, max_length - length - 1)
        draft_tokens, draft_scores = drafter.propose(sequence[:length], wanted, decoding)
        k = draft_tokens.shape[0]
        # 2. Verify: one target call. Row i of its scores follows the i-th draft (row 0 the
        #    last token of the sequence), so it checks draft i + 1.
        new = torch.cat([sequence[target_cache.length:length], draft_tokens])  # (new + k,)
        logits = target(new[None], cache=target_cache)[0, -(k + 1):].float()  # (k + 1, vocab)
        target_scores = decoding.scores(logits)
        p = F.softmax(target_scores, dim=-1)  # (k + 1, vocab)
        q = _draft_probs(draft_tokens, draft_scores, p.shape[-1])  # (k, vocab)
        if do_sample:
            accepted, token = verify_sampling(draft_tokens, p, q, generator)
        else:
            accepted, token = verify_greedy(draft_tokens, target_scores)
        step = _record(length - prompt_length, draft_tokens, accepted, token, p, q)
        # 3. Stop at EOS: a kept draft that is EOS ends the text before the target's token.
        tokens = step.tokens
        ended = _first_eos(tokens, decoding.eos_token_ids)
        if ended is not None:
            tokens = tokens[:ended + 1]
            if ended < accepted:
                step.accepted, step.outcome, step.token = ended + 1, "eos", None
        steps.append(step)
        sequence[length:length + len(tokens)] = torch.tensor(tokens, device=device)
        # 4. Roll back: the caches keep the sequence up to the last kept draft; the target's
        #    own token is fed at the start of the next round.
        target_cache.crop(length + step.accepted)
        drafter.rollback(length + step.accepted)
        length += len(tokens)
        if ended is not None:
            break
    return SpeculativeOutput(sequence[None, :length].clone(), steps, prompt_length, gamma)


def _draft_probs(draft_tokens, draft_scores, vocab: int) -> torch.Tensor:
    """q, (k, vocab): the softmax of the drafter's scores, or one-hot rows for a drafter that
    has none (retrieval: its proposal is certain, q(x) = 1)."""
    if draft_scores is None:
        one_hot = torch.zeros(draft_tokens.shape[0], vocab, device=draft_tokens.device)
        return one_hot.scatter_(1, draft_tokens[:, None], 1.0)
    return F.softmax(draft_scores, dim=-1)


def _record(start, draft_tokens, accepted, token, p, q) -> SpeculativeStep:
    k = draft_tokens.shape[0]
    rows = torch.arange(k, device=p.device)
    return SpeculativeStep(start=start, proposed=draft_tokens.tolist(), accepted=accepted,
                           outcome="bonus" if accepted == k else "correction", token=token,
                           p=p[rows, draft_tokens].tolist(), q=q[rows, draft_tokens].tolist())


def _first_eos(tokens: list[int], eos_token_ids) -> int | None:
    for i, t in enumerate(tokens):
        if t in eos_token_ids:
            return i
    return None


def _check_models(target, drafter, input_ids, max_new_tokens):
    if not hasattr(target, "new_cache"):
        raise TypeError(f"target must be a tinylm Llama, got {type(target).__name__}")
    if not isinstance(input_ids, torch.Tensor) or input_ids.dtype not in (torch.int64,
                                                                          torch.int32):
        raise TypeError("input_ids must be a torch tensor of int64/int32 token ids, got "
                        f"{getattr(input_ids, 'dtype', type(input_ids).__name__)}")
    if input_ids.ndim != 2 or input_ids.shape[1] == 0:
        raise ValueError(f"input_ids must be (1, prompt) with prompt >= 1, got shape "
                         f"{tuple(input_ids.shape)} (use ids[None] for a single prompt)")
    if input_ids.shape[0] != 1:
        raise ValueError(f"speculative_generate takes one prompt (batch 1), got a batch of "
                         f"{input_ids.shape[0]}: rows would accept different numbers of "
                         "drafts; loop over the prompts")
    vocab = target.config.vocab_size
    if drafter.vocab_size is not None and drafter.vocab_size != vocab:
        raise ValueError(f"the draft's vocabulary has {drafter.vocab_size} tokens and the "
                         f"target's {vocab}: draft and target must share one tokenizer")
    needed = input_ids.shape[1] + max_new_tokens - 1  # the last token is never fed back
    models = [("target", target.config.max_seq_len)]
    if getattr(drafter, "max_seq_len", None) is not None:
        models.append(("draft", drafter.max_seq_len))
    for name, max_seq_len in models:
        if needed > max_seq_len:
            raise ValueError(f"a prompt of {input_ids.shape[1]} tokens plus max_new_tokens="
                             f"{max_new_tokens} needs {needed} positions, more than the {name}'s "
                             f"max_seq_len={max_seq_len}")


# ---------------------------------------------------------------------------------------------
# 5. Measuring alpha and c
# ---------------------------------------------------------------------------------------------


@dataclass
class AcceptanceMeasurement:
    """alpha of a target/draft pair at every position of some text.

    greedy:   fraction of positions where both models' argmax agree (alpha for greedy decoding)
    sampling: mean of ``sum(min(p, q))`` over the positions (alpha for speculative sampling,
              with the warpers of the measurement)
    per_position: (positions,) ``sum(min(p, q))`` at each position, for histograms
    agree:    (positions,) bool, the argmax agreement at each position
    """

    greedy: float
    sampling: float
    per_position: torch.Tensor
    agree: torch.Tensor

    @property
    def positions(self) -> int:
        return self.per_position.numel()


@torch.no_grad()
def measure_acceptance(target, draft, windows: torch.Tensor, temperature: float = 1.0,
                       top_k: int = 50, top_p: float = 1.0,
                       batch_size: int = 8) -> AcceptanceMeasurement:
    """Teacher-forced alpha: both models read the same text ``windows`` (n, seq), and at every
    position their next-token distributions are compared, as if the drafter had proposed there.
    Held-out text measures how well the drafter imitates the target on text neither was
    trained on; alpha along the target's own output is usually higher (it is the target's
    likeliest text). The warpers are those of ``speculative_generate`` with the same settings.
    """
    if windows.ndim != 2:
        raise ValueError(f"windows must be (n, seq) token ids, got shape {tuple(windows.shape)}")
    if draft.config.vocab_size != target.config.vocab_size:
        raise ValueError(f"vocabularies differ: draft {draft.config.vocab_size}, target "
                         f"{target.config.vocab_size}")
    config = GenerationConfig(do_sample=True, temperature=temperature, top_k=top_k, top_p=top_p)
    warpers = build_logits_processors(config, prompt_length=0)
    overlap, agree = [], []
    for batch in windows.split(batch_size):
        p_logits = target(batch).float().flatten(0, 1)  # (batch * seq, vocab)
        q_logits = draft(batch).float().flatten(0, 1)
        agree.append(p_logits.argmax(-1) == q_logits.argmax(-1))
        p = F.softmax(warpers(None, p_logits), dim=-1)
        q = F.softmax(warpers(None, q_logits), dim=-1)
        overlap.append(acceptance_probability(p, q))
    overlap, agree = torch.cat(overlap), torch.cat(agree)
    return AcceptanceMeasurement(greedy=agree.float().mean().item(),
                                 sampling=overlap.mean().item(), per_position=overlap,
                                 agree=agree)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def measure_forward_ms(model, new_tokens: int = 1, context: int = 64, calls: int = 32,
                       repeats: int = 3, seed: int = 0) -> float:
    """Milliseconds of one cached forward pass feeding ``new_tokens`` tokens after ``context``
    cached ones (random ids): 1 for a decoding step, gamma + 1 for a verification. The cache
    is cropped back after each call so every call sees the same context. Best of ``repeats``
    means of ``calls`` calls, after a warm-up."""
    device = model.tok_embeddings.weight.device
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.config.vocab_size, (1, context + new_tokens), generator=gen)
    ids = ids.to(device)
    cache = model.new_cache(max_len=context + new_tokens)
    model(ids[:, :context], cache=cache)
    step = ids[:, context:]
    best = float("inf")
    for repeat in range(repeats + 1):  # the first round warms up and is not counted
        _synchronize(device)
        started = time.perf_counter()
        for _ in range(calls):
            model(step, cache=cache)
            cache.crop(context)
        _synchronize(device)
        if repeat:
            best = min(best, (time.perf_counter() - started) / calls)
    return 1000 * best


@dataclass
class CostRatio:
    """c = draft_ms / target_ms: the price of one drafted token in target calls."""

    target_ms: float
    draft_ms: float

    @property
    def c(self) -> float:
        return self.draft_ms / self.target_ms


def measure_cost_ratio(target, draft, context: int = 64, calls: int = 32,
                       repeats: int = 3) -> CostRatio:
    """Time one cached decoding step (one token after ``context``) of each model."""
    return CostRatio(target_ms=measure_forward_ms(target, 1, context, calls, repeats),
                     draft_ms=measure_forward_ms(draft, 1, context, calls, repeats))
