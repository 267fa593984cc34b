"""generate(): greedy decoding, sampling and beam search, as transformers' ``generate()`` does them.

A language model only ever answers one question: given these tokens, how likely is each next
token? ``generate`` turns that into text by asking it again and again. It is organised in the
same pieces as ``transformers.GenerationMixin.generate`` (version 5), which the tests hold it
against token for token and score for score:

1. ``GenerationConfig``: every setting in one place, checked up front, so that an impossible
   combination fails with a clear message instead of a shape error ten calls deep.
2. Logits processors: small callables ``(input_ids, scores) -> scores`` that reshape the
   next-token scores before a token is chosen (repetition penalty, no-repeat-n-gram, minimum
   length, and for sampling temperature, top-k and top-p). ``build_logits_processors`` chains
   them in transformers' order into a ``LogitsProcessorList``.
3. Stopping criteria: ``MaxLengthCriteria`` and ``EosTokenCriteria`` say, per row, whether a
   sequence is complete.
4. Decoding strategies, both driving the model with a KV cache (the prompt is read once):
   - ``greedy_or_sample``: one token per row and step, the argmax (greedy) or a draw from the
     processed distribution (sampling, seeded by ``config.seed``). Rows that finished early
     receive ``pad_token_id`` until every row is done.
   - ``beam_search``: keep the ``num_beams`` best partial hypotheses by summed log-probability
     (``beam_step`` ranks the extensions of all beams); collect finished ones in a
     ``BeamHypotheses`` per prompt, ranked by ``sum_logprobs / generated_length **
     length_penalty``; stop as ``early_stopping`` says (``BeamHypotheses.is_done``). With
     ``return_trace=True`` it records every candidate it weighed (``BeamSearchTrace``) for the
     chapter's beam-search tree.
5. ``generate``: checks the inputs, works out the attention mask, builds the processors (with
   the caller's own ``logits_processor`` list, as transformers takes it: constrained decoding
   in ``tinylm.structured`` masks tokens that way) and the stopping criteria, and calls the
   strategy with the model, or with its ``tinylm.fast_decoder.FastDecoder`` (the same logits
   up to float rounding, in fewer operations per step) when that can stand in for it.

Shapes: ``batch`` prompts, each copied into ``copies`` rows (``num_beams`` for beam search,
``num_return_sequences`` for sampling), so the model sees ``rows = batch * copies``; row
``b * copies + i`` belongs to prompt ``b``. ``vocab`` is the vocabulary size.

    out = generate(model, input_ids, GenerationConfig(max_new_tokens=20, num_beams=4,
                   num_return_sequences=2, eos_token_id=2, pad_token_id=0))
    out.sequences          # (batch * 2, prompt + generated): prompt, then the new tokens
    out.sequences_scores   # (batch * 2,) length-penalised sums of log-probabilities
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from tinylm.fast_decoder import fast_decoder
from tinylm.generation_kernels import banned_ngram_tokens

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass
class GenerationConfig:
    """How to generate. The defaults are transformers' defaults (``top_k=50`` included).

    max_new_tokens:  tokens to generate at most (the prompt does not count)
    min_new_tokens:  EOS is forbidden until this many tokens have been generated
    do_sample:       draw tokens at random (True) or take the best ones (False)
    temperature:     sampling only: divide the logits by it (< 1 sharpens, > 1 flattens)
    top_k:           sampling only: keep the k most likely tokens (0 keeps all)
    top_p:           sampling only: keep the smallest set of tokens with probability >= top_p
    repetition_penalty: > 1 makes tokens already in the sequence less likely (1 is off)
    no_repeat_ngram_size: n > 0 forbids any n-gram from occurring twice (0 is off)
    num_beams:       1 is greedy decoding or sampling, more is beam search
    length_penalty:  beam search ranks finished hypotheses by sum_logprobs / length ** this;
                     > 0 favours long ones, < 0 short ones, 0 compares plain sums
    early_stopping:  beam search: True stops as soon as num_beams hypotheses have finished;
                     False when the best running beam, at its current length, cannot beat
                     the worst finished one; "never" likewise but, with length_penalty > 0,
                     assuming the best beam would run to max_new_tokens
    num_return_sequences: sequences returned per prompt (<= num_beams, or any with sampling)
    eos_token_id:    token id(s) that end a sequence (int or list), or None
    pad_token_id:    fills finished rows; None means the first EOS id
    seed:            seeds the sampler's torch.Generator (None: torch's global generator)
    return_trace:    beam search: record every candidate of every step (``out.trace``)
    """

    max_new_tokens: int = 20
    min_new_tokens: int = 0
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    num_return_sequences: int = 1
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    seed: int | None = None
    return_trace: bool = False

    def __post_init__(self):
        _check_int("max_new_tokens", self.max_new_tokens, minimum=1)
        _check_int("min_new_tokens", self.min_new_tokens, minimum=0)
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(f"min_new_tokens={self.min_new_tokens} is larger than "
                             f"max_new_tokens={self.max_new_tokens}")
        for name in ("do_sample", "return_trace"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        self.temperature = _check_float("temperature", self.temperature)
        if self.do_sample and not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {self.temperature} "
                             "(for greedy decoding set do_sample=False)")
        _check_int("top_k", self.top_k, minimum=0)
        self.top_p = _check_float("top_p", self.top_p)
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p}")
        self.repetition_penalty = _check_float("repetition_penalty", self.repetition_penalty)
        if not self.repetition_penalty > 0:
            raise ValueError(f"repetition_penalty must be > 0 (1 is no penalty), got "
                             f"{self.repetition_penalty}")
        _check_int("no_repeat_ngram_size", self.no_repeat_ngram_size, minimum=0)
        _check_int("num_beams", self.num_beams, minimum=1)
        self.length_penalty = _check_float("length_penalty", self.length_penalty)
        if not (self.early_stopping is True or self.early_stopping is False
                or self.early_stopping == "never"):
            raise ValueError(f"early_stopping must be True, False or 'never', got "
                             f"{self.early_stopping!r}")
        _check_int("num_return_sequences", self.num_return_sequences, minimum=1)
        if self.num_beams == 1 and not self.do_sample and self.num_return_sequences > 1:
            raise ValueError(f"greedy decoding gives one sequence per prompt, so "
                             f"num_return_sequences={self.num_return_sequences} needs "
                             f"num_beams >= {self.num_return_sequences} or do_sample=True")
        if self.num_return_sequences > self.num_beams > 1:
            raise ValueError(f"num_return_sequences={self.num_return_sequences} must be <= "
                             f"num_beams={self.num_beams}: beam search returns its best "
                             "num_return_sequences finished hypotheses out of num_beams")
        if self.return_trace and self.num_beams == 1:
            raise ValueError("return_trace records beam search: set num_beams >= 2")
        self.eos_token_id = _check_eos(self.eos_token_id)
        if self.pad_token_id is not None:
            _check_int("pad_token_id", self.pad_token_id, minimum=0)
        if self.seed is not None:
            _check_int("seed", self.seed, minimum=0)

    @property
    def eos_token_ids(self) -> list[int]:
        """The EOS ids as a list (empty without EOS)."""
        if self.eos_token_id is None:
            return []
        return [self.eos_token_id] if isinstance(self.eos_token_id, int) else self.eos_token_id

    @property
    def pad_id(self) -> int | None:
        """The id that fills finished rows: pad_token_id, else the first EOS id (transformers)."""
        if self.pad_token_id is not None:
            return self.pad_token_id
        return self.eos_token_ids[0] if self.eos_token_ids else None


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_float(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _check_eos(eos):
    if eos is None:
        return None
    if isinstance(eos, numbers.Integral) and not isinstance(eos, bool):
        _check_int("eos_token_id", eos, minimum=0)
        return int(eos)
    if not isinstance(eos, (list, tuple)) or not eos:
        raise ValueError(f"eos_token_id must be None, an int or a non-empty list of ints, got "
                         f"{eos!r}")
    for e in eos:
        _check_int("each eos_token_id", e, minimum=0)
    return [int(e) for e in eos]


# ---------------------------------------------------------------------------------------------
# Logits processors: (input_ids (rows, length), scores (rows, vocab)) -> scores (rows, vocab)
# ---------------------------------------------------------------------------------------------


class LogitsProcessor:
    """Reshapes next-token scores; ``input_ids`` is everything each row holds so far."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                         if not isinstance(v, torch.Tensor))
        return f"{type(self).__name__}({args})"


class LogitsProcessorList(list):
    """Processors applied one after the other, in list order."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for processor in self:
            scores = processor(input_ids, scores)
        return scores


class RepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """Make every token already in the row less likely (CTRL, Keskar et al. 2019): its score is
    divided by ``penalty`` if positive, multiplied by it if negative; once per token, however
    often it occurred. ``prompt_ignore_length`` (int, or a (rows,) tensor) skips that many
    leading tokens: ``generate`` passes the left padding, which is not text."""

    def __init__(self, penalty: float, prompt_ignore_length: int | torch.Tensor | None = None):
        if not penalty > 0:
            raise ValueError(f"penalty must be > 0, got {penalty}")
        self.penalty = float(penalty)
        self.prompt_ignore_length = prompt_ignore_length

    def __call__(self, input_ids, scores):
        vocab = scores.shape[-1]
        if isinstance(self.prompt_ignore_length, int):
            input_ids = input_ids[:, self.prompt_ignore_length:]
        elif self.prompt_ignore_length is not None:  # send ignored positions to a spare column
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            ignored = positions[None, :] < self.prompt_ignore_length[:, None].to(input_ids.device)
            input_ids = input_ids.masked_fill(ignored, vocab)
        input_ids = input_ids.clamp(max=vocab)
        padded = F.pad(scores, (0, 1))  # (rows, vocab + 1): the spare column absorbs ignored ids
        seen = padded.gather(1, input_ids)  # (rows, length): the score of every token present
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return padded.scatter(1, input_ids, seen)[:, :vocab]


class NoRepeatNGramLogitsProcessor(LogitsProcessor):
    """Forbid (score -inf) every token that would complete an n-gram already in the row. The
    search runs in the Numba kernel ``generation_kernels.banned_ngram_tokens``."""

    def __init__(self, ngram_size: int):
        _check_int("ngram_size", ngram_size, minimum=1)
        self.ngram_size = ngram_size

    def __call__(self, input_ids, scores):
        ids = input_ids.detach().cpu().numpy().astype(np.int64)
        banned = banned_ngram_tokens(ids, self.ngram_size, scores.shape[-1])  # (rows, vocab)
        return scores.masked_fill(torch.from_numpy(banned).to(scores.device), -math.inf)


class MinNewTokensLengthLogitsProcessor(LogitsProcessor):
    """Forbid EOS until ``min_new_tokens`` tokens follow the prompt of ``prompt_length_to_skip``
    tokens."""

    def __init__(self, prompt_length_to_skip: int, min_new_tokens: int,
                 eos_token_id: int | list[int]):
        _check_int("prompt_length_to_skip", prompt_length_to_skip, minimum=0)
        _check_int("min_new_tokens", min_new_tokens, minimum=0)
        self.prompt_length_to_skip = prompt_length_to_skip
        self.min_new_tokens = min_new_tokens
        self.eos_token_id = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] - self.prompt_length_to_skip >= self.min_new_tokens:
            return scores
        vocab = torch.arange(scores.shape[-1], device=scores.device)
        is_eos = torch.isin(vocab, torch.tensor(self.eos_token_id, device=scores.device))
        return scores.masked_fill(is_eos, -math.inf)


class TemperatureLogitsWarper(LogitsProcessor):
    """Divide the logits by ``temperature``: below 1 the distribution sharpens towards the
    argmax, above 1 it flattens towards uniform."""

    def __init__(self, temperature: float):
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def __call__(self, input_ids, scores):
        return scores / self.temperature


class TopKLogitsWarper(LogitsProcessor):
    """Keep the ``top_k`` highest scores (ties with the k-th included), set the rest to
    ``filter_value``. At least ``min_tokens_to_keep`` survive."""

    def __init__(self, top_k: int, filter_value: float = -math.inf, min_tokens_to_keep: int = 1):
        _check_int("top_k", top_k, minimum=1)
        self.top_k = max(top_k, min_tokens_to_keep)
        self.filter_value = filter_value

    def __call__(self, input_ids, scores):
        k = min(self.top_k, scores.shape[-1])
        kth_best = torch.topk(scores, k).values[:, -1:]  # (rows, 1)
        return scores.masked_fill(scores < kth_best, self.filter_value)


class TopPLogitsWarper(LogitsProcessor):
    """Nucleus filtering (Holtzman et al. 2020): keep the most likely tokens whose probabilities
    add up to at least ``top_p``; at least ``min_tokens_to_keep`` survive."""

    def __init__(self, top_p: float, filter_value: float = -math.inf, min_tokens_to_keep: int = 1):
        if not 0 <= top_p <= 1:
            raise ValueError(f"top_p must lie in [0, 1], got {top_p}")
        self.top_p = float(top_p)
        self.filter_value = filter_value
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids, scores):
        # Sort ascending: a token goes if the probability of it and everything less likely is
        # <= 1 - top_p, i.e. the tokens above it already cover top_p.
        sorted_scores, order = torch.sort(scores, descending=False)  # (rows, vocab)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cumulative <= 1 - self.top_p
        remove_sorted[:, -self.min_tokens_to_keep:] = False
        remove = remove_sorted.scatter(1, order, remove_sorted)  # back to vocabulary order
        return scores.masked_fill(remove, self.filter_value)


def build_logits_processors(config: GenerationConfig, prompt_length: int,
                            padding_lengths: torch.Tensor | None = None,
                            extra: list[LogitsProcessor] | None = None) -> LogitsProcessorList:
    """The processors ``config`` asks for, in transformers' order (``_get_logits_processor``).

    prompt_length: length of the (padded) prompt, where the new tokens start
    padding_lengths: (rows,) left-padding of each row, or None without padding
    extra: the caller's own processors (``generate(logits_processor=...)``), placed where
        transformers merges them: after the built-in ones, before the sampling warpers, so
        that, e.g., top-k picks among the tokens a constraint allows
    """
    processors = LogitsProcessorList()
    if config.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(config.repetition_penalty,
                                                           padding_lengths))
    if config.no_repeat_ngram_size > 0:
        processors.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
    # transformers also adds MinLengthLogitsProcessor(prompt + min_new_tokens): the same ban
    if config.min_new_tokens > 0 and config.eos_token_ids:
        processors.append(MinNewTokensLengthLogitsProcessor(prompt_length, config.min_new_tokens,
                                                            config.eos_token_ids))
    processors.extend(extra or [])
    if config.do_sample:  # the "warpers": they only matter when drawing at random
        # beam sampling must keep a non-EOS token alive besides every EOS token
        keep = max(2, 1 + len(config.eos_token_ids)) if config.num_beams > 1 else 1
        if config.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(config.temperature))
        if config.top_k != 0:
            processors.append(TopKLogitsWarper(config.top_k, min_tokens_to_keep=keep))
        if config.top_p < 1.0:
            processors.append(TopPLogitsWarper(config.top_p, min_tokens_to_keep=keep))
    return processors


# ---------------------------------------------------------------------------------------------
# Stopping criteria: input_ids (rows, length) -> (rows,) bool, True where a row is complete
# ---------------------------------------------------------------------------------------------


class StoppingCriteria:
    def __call__(self, input_ids: torch.Tensor, scores=None) -> torch.Tensor:
        raise NotImplementedError


class MaxLengthCriteria(StoppingCriteria):
    """Complete once the row (prompt included) holds ``max_length`` tokens."""

    def __init__(self, max_length: int):
        self.max_length = max_length

    def __call__(self, input_ids, scores=None):
        done = input_ids.shape[1] >= self.max_length
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class EosTokenCriteria(StoppingCriteria):
    """Complete once the last token is one of the EOS ids."""

    def __init__(self, eos_token_id: int | list[int]):
        eos = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
        self.eos_token_id = torch.tensor(eos, dtype=torch.long)

    def __call__(self, input_ids, scores=None):
        return torch.isin(input_ids[:, -1], self.eos_token_id.to(input_ids.device))


class StoppingCriteriaList(list):
    """A row is complete when any criterion says so."""

    def __call__(self, input_ids, scores=None):
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for criterion in self:
            done = done | criterion(input_ids, scores)
        return done


def build_stopping_criteria(config: GenerationConfig, prompt_length: int) -> StoppingCriteriaList:
    criteria = StoppingCriteriaList([MaxLengthCriteria(prompt_length + config.max_new_tokens)])
    if config.eos_token_ids:
        criteria.append(EosTokenCriteria(config.eos_token_ids))
    return criteria


# ---------------------------------------------------------------------------------------------
# Driving the model: read the prompt once, then one token per row and step
# ---------------------------------------------------------------------------------------------


def _prefill(model, input_ids, attention_mask, copies: int, max_len: int):
    """Run the prompts through the model once and copy the result into ``copies`` rows each.

    input_ids: (batch, prompt); attention_mask: (batch, prompt) or None.
    Returns the next-token logits (rows, vocab) in float32, the KV cache (rows) and the mask
    (rows, prompt) or None. Every copy of a prompt starts from the same state, so there is no
    need to compute it ``copies`` times.
    """
    cache = model.new_cache(batch_size=input_ids.shape[0], max_len=max_len)
    logits = model(input_ids, attention_mask=attention_mask, cache=cache)[:, -1].float()
    rows = torch.arange(input_ids.shape[0], device=input_ids.device).repeat_interleave(copies)
    cache.reorder(rows)
    mask = None if attention_mask is None else attention_mask[rows]
    return logits[rows], cache, mask


def _next_logits(model, tokens, cache, mask):
    """Feed one new token per row, tokens (rows,): the next logits (rows, vocab) and the mask
    grown by one real token (the model reads positions from it, as transformers does)."""
    if mask is not None:
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)  # (rows, length + 1)
    logits = model(tokens[:, None], attention_mask=mask, cache=cache)[:, -1].float()
    return logits, mask


# ---------------------------------------------------------------------------------------------
# Greedy decoding and sampling
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def greedy_or_sample(model, input_ids, attention_mask, config: GenerationConfig,
                     processors: LogitsProcessorList, stopping: StoppingCriteriaList,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Each step, process the scores and pick one token per row: the argmax, or with
    ``config.do_sample`` a draw from the softmax. Stops when every row is complete.

    Returns (batch * num_return_sequences, prompt + generated) token ids; rows that met EOS
    early are filled with ``config.pad_id`` after it.
    """
    copies = config.num_return_sequences
    logits, cache, mask = _prefill(model, input_ids, attention_mask, copies,
                                   input_ids.shape[1] + config.max_new_tokens - 1)
    sequences = input_ids.repeat_interleave(copies, dim=0)  # (rows, prompt)
    unfinished = torch.ones(sequences.shape[0], dtype=torch.bool, device=sequences.device)
    while True:
        scores = processors(sequences, logits)  # (rows, vocab)
        if config.do_sample:
            probs = F.softmax(scores, dim=-1)
            tokens = torch.multinomial(probs, num_samples=1, generator=generator)[:, 0]  # (rows,)
        else:
            tokens = scores.argmax(dim=-1)  # (rows,)
        if config.eos_token_ids:  # a finished row only receives padding
            tokens = torch.where(unfinished, tokens, config.pad_id)
        sequences = torch.cat([sequences, tokens[:, None]], dim=1)
        unfinished &= ~stopping(sequences)
        if not unfinished.any():
            return sequences
        logits, mask = _next_logits(model, tokens, cache, mask)


# ---------------------------------------------------------------------------------------------
# Beam search
# ---------------------------------------------------------------------------------------------


@dataclass
class BeamCandidate:
    """One extension that beam search weighed at one step (for the beam-search tree).

    step:          0 for the first generated token
    parent:        index (``beam``) of the kept hypothesis it extends, among the previous
                   step's kept beams; 0 at step 0, where every beam is the prompt
    token_id:      the token it appends
    token_logprob: that token's log-probability after the logits processors
    score:         cumulative log-probability of the whole hypothesis (its ranking score)
    status:        "kept" (a beam of the next step), "finished" (ended with EOS or at
                   max_new_tokens and entered the finished hypotheses; a better one may push
                   it out later, see ``BeamSearchTrace.finished``) or "pruned"
    beam:          its index among the kept beams, if kept
    final_score:   score / generated_length ** length_penalty, if finished
    """

    step: int
    parent: int
    token_id: int
    token_logprob: float
    score: float
    status: str
    beam: int | None = None
    final_score: float | None = None


@dataclass
class FinishedHypothesis:
    """A complete hypothesis. ``tokens`` are the generated ones (EOS included, if it ended
    with one); ``step`` and ``candidate`` locate its last token in ``BeamSearchTrace.steps``."""

    tokens: list[int]
    score: float
    final_score: float
    step: int | None = None
    candidate: int | None = None
    returned: bool = False


@dataclass
class BeamSearchTrace:
    """Everything beam search did for one prompt (one per prompt: ``out.traces[b]``;
    ``out.trace`` is the first prompt's).

    steps[s] lists the candidates of step s best first: the ``max(2, 1 + n_eos) * num_beams``
    best extensions of all kept beams by cumulative log-probability (the only ones beam search
    looks at; everything below them is never considered). Steps stop once the search is done
    for this prompt (``stop_reason``). ``finished`` holds the final finished hypotheses, best
    first by ``final_score``; the first ``num_return_sequences`` are ``returned``.
    """

    prompt_length: int  # real prompt tokens, padding excluded
    prompt_ids: list[int]
    num_beams: int
    length_penalty: float
    early_stopping: bool | str
    max_new_tokens: int
    steps: list[list[BeamCandidate]] = field(default_factory=list)
    finished: list[FinishedHypothesis] = field(default_factory=list)
    stop_reason: str = ""

    def to_dict(self) -> dict:
        """Plain lists, dicts, numbers and strings (non-finite floats become None), for JSON."""
        return _finite_or_none(asdict(self))


def _finite_or_none(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite_or_none(v) for v in obj]
    return obj


def beam_step(beam_scores: torch.Tensor, log_probs: torch.Tensor, num_beams: int, n_eos: int = 1,
              do_sample: bool = False, generator: torch.Generator | None = None):
    """One step of beam search, transformers' ``_get_top_k_continuations``: the candidates.

    Every extension of every beam of a prompt gets the beam's score plus the token's
    log-probability, and all ``num_beams * vocab`` of them are ranked together. The best
    ``K = max(2, 1 + n_eos) * num_beams`` are kept: each beam has at most ``n_eos`` extensions
    that end, so at least ``num_beams`` candidates go on. With ``do_sample`` the K are drawn
    without replacement from the softmax of those scores (from ``generator``, or torch's global
    generator), then sorted.

    beam_scores (batch * num_beams,): each row's cumulative log-probability; row
        ``b * num_beams + i`` is beam i of prompt b.
    log_probs (batch * num_beams, vocab): each row's next-token log-probabilities, processed.
    Returns (scores, beams, tokens), each (batch, K), best first: the candidate's new beam score,
    the beam it extends (0 ... num_beams - 1) and the token it appends.
    """
    rows, vocab = log_probs.shape
    k = max(2, 1 + n_eos) * num_beams
    totals = beam_scores[:, None] + log_probs  # (rows, vocab)
    totals = totals.view(rows // num_beams, num_beams * vocab)  # (batch, beams * vocab)
    if do_sample:
        flat = torch.multinomial(F.softmax(totals, dim=-1), k, generator=generator)  # (batch, K)
        scores, order = totals.gather(1, flat).sort(dim=-1, descending=True)
        flat = flat.gather(1, order)
    else:
        scores, flat = torch.topk(totals, k)  # (batch, K) each, best first
    return scores, flat // vocab, flat % vocab  # position j is beam j // vocab, token j % vocab


class BeamHypotheses:
    """The finished hypotheses of one prompt: the best ``num_beams``, best first, ranked by
    ``sum_logprobs / generated_len ** length_penalty``. transformers kept them in a class of
    this name before version 5; version 5 does the same with tensors, in
    ``_update_finished_beams`` (``add``) and ``_check_early_stop_heuristic`` (``is_done``).
    Scores are computed in float32, as transformers does, so that ties break the same way.
    """

    def __init__(self, num_beams: int, length_penalty: float = 1.0,
                 early_stopping: bool | str = False, max_new_tokens: int = 20):
        self.num_beams = num_beams
        self.length_penalty = length_penalty
        self.early_stopping = early_stopping  # True, False or "never"
        self.max_new_tokens = max_new_tokens
        self.beams: list[FinishedHypothesis] = []  # best first, at most num_beams

    def __len__(self):
        return len(self.beams)

    @property
    def hyps(self) -> list[tuple[float, list[int]]]:
        """(final_score, tokens) of each finished hypothesis, best first."""
        return [(h.final_score, h.tokens) for h in self.beams]

    @property
    def worst_score(self) -> float:
        """The final score of the worst one kept (-inf while none is): once ``num_beams`` have
        finished, a newcomer must beat it."""
        return self.beams[-1].final_score if self.beams else -math.inf

    def add(self, tokens, sum_logprobs, generated_len: int, step: int | None = None,
            candidate: int | None = None) -> bool:
        """Offer a finished hypothesis: its generated ``tokens`` (EOS included), their summed
        log-probability ``sum_logprobs`` (a float or a float32 scalar tensor) and their number
        ``generated_len``. ``step`` and ``candidate`` locate it in a trace. Returns whether it is
        now among the best ``num_beams``: a newcomer that only ties with the worst of a full list
        is not."""
        total = torch.as_tensor(sum_logprobs, dtype=torch.float32)
        final_score = (total / generated_len ** self.length_penalty).item()
        if len(self) >= self.num_beams and not final_score > self.worst_score:
            return False
        tokens = tokens.tolist() if isinstance(tokens, torch.Tensor) else [int(t) for t in tokens]
        new = FinishedHypothesis(tokens, total.item(), final_score, step, candidate)
        # sorted() is stable: a newcomer goes after the stored hypotheses with the same score
        self.beams = sorted(self.beams + [new], key=lambda h: -h.final_score)[:self.num_beams]
        return True

    def is_done(self, best_running_sum_logprobs, generated_len: int) -> bool:
        """Can no running beam improve these hypotheses any more? Never while fewer than
        ``num_beams`` have finished; then at once with ``early_stopping=True``; otherwise when
        the best running beam (cumulative log-probability ``best_running_sum_logprobs``), judged
        at its current length ``generated_len``, cannot beat the worst finished one. With
        ``"never"`` and ``length_penalty > 0`` it is judged at ``max_new_tokens`` instead, the
        most favourable length it could still reach."""
        if len(self) < self.num_beams:
            return False
        if self.early_stopping is True:
            return True
        if self.early_stopping == "never" and self.length_penalty > 0:
            generated_len = self.max_new_tokens
        best_running = torch.as_tensor(best_running_sum_logprobs, dtype=torch.float32)
        best_possible = best_running / generated_len ** self.length_penalty
        return best_possible.item() <= self.worst_score


@torch.no_grad()
def beam_search(model, input_ids, attention_mask, config: GenerationConfig,
                processors: LogitsProcessorList, stopping: StoppingCriteriaList,
                generator: torch.Generator | None = None):
    """Beam search (beam sampling with ``config.do_sample``), step by step as transformers'
    ``_beam_search``:

    a-b. ``beam_step``: score every extension of every running beam (beam score + processed
       log-probability) and take the best ``K = max(2, 1 + n_eos) * num_beams`` of them per
       prompt (or draw K with sampling). K is that large so that, even if every beam's best
       extensions are EOS, at least ``num_beams`` candidates remain to continue;
    c. candidates among the first ``num_beams`` that end (EOS, or max_new_tokens reached) are
       offered to the prompt's ``BeamHypotheses``, which keeps the best ``num_beams`` by the
       length-penalised score;
    d. the best ``num_beams`` candidates that did not end become the next beams; the KV cache
       rows follow their parents;
    e. a prompt is done when ``BeamHypotheses.is_done``: its finished set is full and either
       ``early_stopping is True``, or the best running beam cannot beat the worst finished one.
       Done prompts take no more finished hypotheses; the loop ends when all are done or at
       max_new_tokens.

    Returns sequences (batch * num_return_sequences, prompt + generated) padded with
    ``_beam_fill_value``, their scores (batch * num_return_sequences,) and the traces (or None).
    """
    batch, prompt_len = input_ids.shape
    beams, n_eos = config.num_beams, len(config.eos_token_ids)
    logits, cache, mask = _prefill(model, input_ids, attention_mask, beams,
                                   prompt_len + config.max_new_tokens - 1)
    sequences = input_ids.repeat_interleave(beams, dim=0)  # (rows, length)
    # Every beam starts as the prompt: let only beam 0 propose at step 0, or the first step
    # would return the same candidate num_beams times.
    beam_scores = torch.zeros(batch, beams, device=input_ids.device)  # (batch, beams)
    beam_scores[:, 1:] = -1e9
    finished = [BeamHypotheses(beams, config.length_penalty, config.early_stopping,
                               config.max_new_tokens) for _ in range(batch)]
    done = [False] * batch
    traces = _new_traces(input_ids, attention_mask, config) if config.return_trace else None

    for step in range(config.max_new_tokens):
        log_probs = processors(sequences, F.log_softmax(logits, dim=-1))  # (rows, vocab)
        scores, parents, tokens = beam_step(beam_scores.flatten(), log_probs, beams, n_eos,
                                            config.do_sample, generator)  # (batch, K) each
        candidates = torch.cat([_gather(sequences.view(batch, beams, -1), parents),
                                tokens[:, :, None]], dim=2)  # (batch, K, length + 1)
        ended = stopping(candidates.flatten(0, 1)).view(scores.shape)  # (batch, K)
        kept = None if ended.all() else torch.topk(scores.masked_fill(ended, -math.inf),
                                                   beams).indices  # (batch, beams)
        for b in range(batch):
            if done[b]:
                continue
            for k in range(beams):  # only the best num_beams candidates may finish
                if ended[b, k]:
                    finished[b].add(candidates[b, k, prompt_len:], scores[b, k], step + 1,
                                    step=step, candidate=k)
            if traces is not None:
                parent_rows = b * beams + parents[b]  # (K,)
                added = [h for h in finished[b].beams if h.step == step]
                traces[b].steps.append(_trace_step(step, scores[b], parents[b], tokens[b],
                                                   log_probs[parent_rows, tokens[b]], kept, b,
                                                   added))
        if kept is None:  # every candidate ended: max_new_tokens reached
            break

        beam_scores = scores.gather(1, kept)  # (batch, beams), best first
        for b in range(batch):
            if not done[b] and finished[b].is_done(beam_scores[b, 0], step + 1):
                done[b] = True
                if traces is not None:
                    traces[b].stop_reason = _done_reason(config)
        if all(done):
            break
        # Beam i of prompt b now continues candidate kept[b, i]: its row of the cache is that
        # of its parent, row b * beams + parent.
        first_rows = beams * torch.arange(batch, device=kept.device)[:, None]  # (batch, 1)
        cache.reorder((first_rows + parents.gather(1, kept)).flatten())  # (rows,)
        sequences = _gather(candidates, kept).flatten(0, 1)  # (rows, length + 1)
        logits, mask = _next_logits(model, sequences[:, -1], cache, mask)

    return _beam_outputs(input_ids, finished, traces, config)


def _gather(x, index):
    """x (batch, n, ...) -> (batch, k, ...): the entries ``index`` (batch, k) of each prompt."""
    return x[torch.arange(x.shape[0], device=x.device)[:, None], index]


def _done_reason(config) -> str:
    if config.early_stopping is True:
        return "early_stopping=True: num_beams hypotheses finished"
    return "no running beam can beat the worst finished hypothesis"


def _beam_fill_value(config) -> int:
    """What pads beam-search outputs after a hypothesis ends. transformers writes
    ``pad_token_id or eos_token_id[0]``, so a pad id of 0 (falsy) gives way to the first EOS
    id; without EOS every hypothesis runs to max_new_tokens and nothing is padded."""
    eos = config.eos_token_ids
    if not eos:
        return -1
    return config.pad_token_id or eos[0]


def _beam_outputs(input_ids, finished, traces, config):
    """The best ``num_return_sequences`` finished hypotheses of each prompt, as padded rows of
    prompt + generated tokens, with their length-penalised scores."""
    n = config.num_return_sequences
    returned = [h for hyps in finished for h in hyps.beams[:n]]
    for h in returned:
        h.returned = True
    prompt_len = input_ids.shape[1]
    longest = max(len(h.tokens) for h in returned)
    sequences = torch.full((len(returned), prompt_len + longest), _beam_fill_value(config),
                           dtype=torch.long, device=input_ids.device)
    sequences[:, :prompt_len] = input_ids.repeat_interleave(n, dim=0)
    for i, h in enumerate(returned):
        sequences[i, prompt_len:prompt_len + len(h.tokens)] = torch.tensor(h.tokens)
    scores = torch.tensor([h.final_score for h in returned], dtype=torch.float32,
                          device=input_ids.device)
    if traces is not None:
        for trace, hyps in zip(traces, finished, strict=True):
            trace.finished = hyps.beams
            trace.stop_reason = trace.stop_reason or "max_new_tokens reached"
    return sequences, scores, traces


def _new_traces(input_ids, attention_mask, config) -> list[BeamSearchTrace]:
    traces = []
    for b, row in enumerate(input_ids):
        prompt = row if attention_mask is None else row[attention_mask[b].bool()]
        traces.append(BeamSearchTrace(
            prompt_length=len(prompt), prompt_ids=prompt.tolist(), num_beams=config.num_beams,
            length_penalty=config.length_penalty, early_stopping=config.early_stopping,
            max_new_tokens=config.max_new_tokens))
    return traces


def _trace_step(step, scores, parents, tokens, token_logprobs, kept, b, added):
    """Prompt b's candidates at one step as BeamCandidates; scores, parents, tokens and
    token_logprobs are (K,), kept (batch, beams) or None, added the newly finished ones."""
    kept_at = {} if kept is None else {k: i for i, k in enumerate(kept[b].tolist())}
    added_at = {h.candidate: h for h in added}
    step_candidates = []
    for k in range(len(scores)):
        if k in kept_at:
            status, beam, final = "kept", kept_at[k], None
        elif k in added_at:
            status, beam, final = "finished", None, added_at[k].final_score
        else:
            status, beam, final = "pruned", None, None
        step_candidates.append(BeamCandidate(
            step=step, parent=int(parents[k]), token_id=int(tokens[k]),
            token_logprob=token_logprobs[k].item(), score=scores[k].item(), status=status,
            beam=beam, final_score=final))
    return step_candidates


# ---------------------------------------------------------------------------------------------
# generate()
# ---------------------------------------------------------------------------------------------


@dataclass
class GenerationOutput:
    """sequences: (batch * num_return_sequences, prompt + generated), the prompt included;
    sequences_scores: (batch * num_return_sequences,) for beam search, else None;
    traces: one BeamSearchTrace per prompt with ``return_trace=True``, else None."""

    sequences: torch.Tensor
    sequences_scores: torch.Tensor | None = None
    traces: list[BeamSearchTrace] | None = None

    @property
    def trace(self) -> BeamSearchTrace | None:
        """The beam-search trace of the first prompt."""
        return None if self.traces is None else self.traces[0]


@torch.no_grad()
def generate(model, input_ids: torch.Tensor, config: GenerationConfig | None = None,
             attention_mask: torch.Tensor | None = None,
             logits_processor: list[LogitsProcessor] | None = None, fast: bool = True,
             **overrides) -> GenerationOutput:
    """Continue every prompt of ``input_ids`` (batch, prompt) as ``config`` says.

    model: a ``tinylm.llama.Llama`` (anything with ``new_cache`` and its call signature).
    attention_mask: (batch, prompt) of 0/1 for left-padded prompts. When None and the prompts
        contain ``pad_token_id`` (and it is not an EOS id), the mask is inferred as
        ``input_ids != pad_token_id``, as transformers does.
    logits_processor: processors of your own (callables ``(input_ids, scores) -> scores``, as
        transformers' argument of that name), run after the built-in ones and before the
        sampling warpers; e.g. ``tinylm.structured``'s mask for constrained decoding.
    fast: run the model's steps through ``tinylm.fast_decoder.FastDecoder`` (the same logits up
        to float rounding, in fewer operations) when it can stand in for the model, a plain
        float32 ``Llama``; False runs the model's own forward.
    overrides: fields of the config to change, ``generate(model, ids, num_beams=4)``.
    """
    config = replace(config or GenerationConfig(), **overrides)
    extra = list(logits_processor or [])
    for processor in extra:
        if not callable(processor):
            raise TypeError(f"each logits_processor must be callable (input_ids, scores) -> "
                            f"scores, got {type(processor).__name__}")
    if not hasattr(model, "new_cache"):
        raise TypeError(f"model must be a tinylm Llama (it needs new_cache()), got "
                        f"{type(model).__name__}")
    _check_prompt(model, input_ids, config)
    attention_mask = _prompt_mask(input_ids, attention_mask, config)
    prompt_len = input_ids.shape[1]
    copies = max(config.num_beams, config.num_return_sequences)
    padding = None
    if attention_mask is not None:  # left padding per row: index of the first real token
        padding = attention_mask.argmax(dim=1).repeat_interleave(copies)
    processors = build_logits_processors(config, prompt_len, padding, extra)
    stopping = build_stopping_criteria(config, prompt_len)
    generator = None
    if config.do_sample and config.seed is not None:
        generator = torch.Generator(device=input_ids.device).manual_seed(config.seed)

    # FastDecoder computes the model's function in fewer operations; None if it cannot stand in
    decoder = (fast_decoder(model) if fast else None) or model
    if config.num_beams == 1:
        sequences = greedy_or_sample(decoder, input_ids, attention_mask, config, processors,
                                     stopping, generator)
        return GenerationOutput(sequences)
    sequences, scores, traces = beam_search(decoder, input_ids, attention_mask, config,
                                            processors, stopping, generator)
    return GenerationOutput(sequences, scores, traces)


def _check_prompt(model, input_ids, config):
    if not isinstance(input_ids, torch.Tensor) or input_ids.dtype not in (torch.int64,
                                                                          torch.int32):
        raise TypeError("input_ids must be a torch tensor of int64/int32 token ids, got "
                        f"{getattr(input_ids, 'dtype', type(input_ids).__name__)}")
    if input_ids.ndim != 2 or 0 in input_ids.shape:
        raise ValueError(f"input_ids must be (batch, prompt) with both >= 1, got shape "
                         f"{tuple(input_ids.shape)} (use ids[None] for a single prompt)")
    needed = input_ids.shape[1] + config.max_new_tokens - 1  # the last token is never fed back
    if needed > model.config.max_seq_len:
        raise ValueError(f"a prompt of {input_ids.shape[1]} tokens plus max_new_tokens="
                         f"{config.max_new_tokens} needs {needed} positions, more than the "
                         f"model's max_seq_len={model.config.max_seq_len}")


def _prompt_mask(input_ids, attention_mask, config) -> torch.Tensor | None:
    """The prompts' attention mask (batch, prompt) as int64, or None when nothing is padded."""
    pad = config.pad_id
    if attention_mask is None:
        if pad is None or pad in config.eos_token_ids or not (input_ids == pad).any():
            return None
        attention_mask = (input_ids != pad).long()  # inferred, as transformers does
    if not isinstance(attention_mask, torch.Tensor):
        raise TypeError(f"attention_mask must be a torch tensor, got "
                        f"{type(attention_mask).__name__}")
    if attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask must have the shape of input_ids "
                         f"{tuple(input_ids.shape)}, got {tuple(attention_mask.shape)}")
    attention_mask = attention_mask.long()
    left_padded = ((attention_mask == 0) | (attention_mask == 1)).all() and (
        attention_mask[:, 1:] >= attention_mask[:, :-1]).all() and attention_mask[:, -1].all()
    if not left_padded:
        raise ValueError("attention_mask must be left padding: each row some 0s (padding), then "
                         "1s up to the last position (only 0 and 1, every row ends with a real "
                         "token). When inferred from pad_token_id, pass attention_mask yourself.")
    return None if attention_mask.all() else attention_mask
