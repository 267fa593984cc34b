"""The checks of lab 3b (tinylm.grading.checks.tokens_and_training) pass a right answer and fail
wrong ones with a message that names the problem.

Right answers are built on the package (`tinylm.bpe`, `tinylm.training`). Most wrong answers are
the mistakes the checks name in their hints.
"""

from __future__ import annotations

import pytest
import torch

from tinylm import bpe
from tinylm import training as tt
from tinylm.grading.checks import tokens_and_training as checks
from tinylm.tokenizer import course_pre_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


# -- right answers, from the package -------------------------------------------------------------


def pair_counts(words, weights):
    return bpe.get_pair_counts(words, weights)


def merge(ids, pair, new_id):
    return bpe.merge(ids, pair, new_id)


def learn_merges(piece_counts, n_merges):
    return {pair: 256 + k for k, pair in enumerate(bpe.learn_merges(piece_counts, 256 + n_merges))}


PRE_TOKENIZER = course_pre_tokenizer()


def split_pieces(text):
    return [bpe.symbols_to_bytes(p) for p in bpe.pre_tokenize(text, PRE_TOKENIZER)]


def encode(text, merges):
    rank = {pair: r for r, pair in enumerate(merges)}
    ids = []
    for piece in split_pieces(text):
        word = list(piece)
        while len(word) > 1:
            pair = min(zip(word, word[1:], strict=False), key=lambda p: rank.get(p, len(rank)))
            if pair not in rank:
                break
            word = bpe.merge(word, pair, merges[pair])
        ids += word
    return ids


def adamw_step(p, grad, m, v, t, lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1):
    p, m, v = p.clone(), m.clone(), v.clone()
    state = {"step": t - 1, "exp_avg": m, "exp_avg_sq": v}
    tt.AdamW._update(p, grad, state, lr, *betas, eps, weight_decay)
    return p, m, v


def unsolved(*args, **kwargs):
    raise NotImplementedError("write this function")


# -- the right answers pass ------------------------------------------------------------------------


def test_the_package_passes_every_check():
    checks.pair_counts(pair_counts)
    checks.merge_and_learn(merge, learn_merges, pair_counts)
    checks.encode(encode, merge)
    checks.next_token_loss(tt.next_token_loss)
    checks.adamw_step(adamw_step)


@pytest.mark.parametrize("check, args", [
    (checks.pair_counts, (unsolved,)),
    (checks.merge_and_learn, (unsolved, unsolved, unsolved)),
    (checks.merge_and_learn, (merge, unsolved, pair_counts)),
    (checks.encode, (unsolved, merge)),
    (checks.next_token_loss, (unsolved,)),
    (checks.adamw_step, (unsolved,)),
])
def test_an_unsolved_exercise_raises_not_implemented(check, args):
    with pytest.raises(NotImplementedError):
        check(*args)


def fails(check, *args, match: str) -> str:
    with pytest.raises(AssertionError, match=match) as info:
        check(*args)
    return str(info.value)


# -- Exercise 1 ----------------------------------------------------------------------------------


def test_pair_counts_mistakes():
    def distinct(words, weights):  # each distinct pair once per word
        out = {}
        for w, n in zip(words, weights, strict=True):
            for pair in set(zip(w, w[1:], strict=False)):
                out[pair] = out.get(pair, 0) + n
        return out

    def unweighted(words, weights):
        return bpe.get_pair_counts(words, [1] * len(words))

    def with_zeros(words, weights):
        return {**bpe.get_pair_counts(words, weights), (99, 99): 0}

    message = fails(checks.pair_counts, distinct, match="counts twice")
    assert "expected 20, got 10" in message or "expected 2, got 1" in message
    fails(checks.pair_counts, unweighted, match="add its weight")
    fails(checks.pair_counts, with_zeros, match="no zero")
    fails(checks.pair_counts, lambda w, n: list(bpe.get_pair_counts(w, n).items()),
          match="expected a dict")
    fails(checks.pair_counts, lambda w, n: None, match="forget `return`")
    fails(checks.pair_counts, lambda w, n: 1 / 0, match=r"raised ZeroDivisionError")


def test_pair_counts_must_not_change_its_arguments():
    def popping(words, weights):
        counts = bpe.get_pair_counts(words, weights)
        for w in words:
            if w:
                w.pop()
        return counts

    fails(checks.pair_counts, popping, match="changed its arguments")


# -- Exercise 2 ----------------------------------------------------------------------------------


def test_merge_mistakes():
    def right_to_left(ids, pair, new_id):
        return bpe.merge(ids[::-1], pair[::-1], new_id)[::-1]

    def first_only(ids, pair, new_id):
        for i in range(len(ids) - 1):
            if (ids[i], ids[i + 1]) == pair:
                return ids[:i] + [new_id] + ids[i + 2:]
        return list(ids)

    def in_place(ids, pair, new_id):
        ids[:] = bpe.merge(ids, pair, new_id)
        return ids

    fails(checks.merge_and_learn, right_to_left, learn_merges, pair_counts,
          match=r"merge\(\[7, 7, 7\], \(7, 7\), 256\): expected \[256, 7\], got \[7, 256\] "
                r"\(read left to right")
    fails(checks.merge_and_learn, first_only, learn_merges, pair_counts,
          match="not only the first")
    fails(checks.merge_and_learn, in_place, learn_merges, pair_counts,
          match="changed ids: return a new list")
    fails(checks.merge_and_learn, lambda ids, p, n: tuple(bpe.merge(ids, p, n)), learn_merges,
          pair_counts, match="expected a list of ids, got tuple")


def test_learn_merges_mistakes():
    def no_tie_rule(piece_counts, n_merges):  # the first most frequent pair Counter finds
        words, weights = [list(p) for p in piece_counts], list(piece_counts.values())
        merges = {}
        for k in range(n_merges):
            counts = bpe.get_pair_counts(words, weights)
            if not counts:
                break
            best, n = max(counts.items(), key=lambda kv: kv[1])
            if n < 2:
                break
            merges[best] = 256 + k
            words = [bpe.merge(w, best, 256 + k) for w in words]
        return merges

    def no_minimum(piece_counts, n_merges):
        words, weights = [list(p) for p in piece_counts], list(piece_counts.values())
        merges = {}
        for k in range(n_merges):
            counts = bpe.get_pair_counts(words, weights)
            if not counts:
                break
            best = bpe.most_frequent_pair(counts)
            merges[best] = 256 + k
            words = [bpe.merge(w, best, 256 + k) for w in words]
        return merges

    message = fails(checks.merge_and_learn, merge, no_tie_rule, pair_counts,
                    match=r"merges 0 to \d+ are right, merge \d+ is not")
    assert "most_frequent_pair" in message
    fails(checks.merge_and_learn, merge, no_minimum, pair_counts,
          match="fewer than 2 times")
    fails(checks.merge_and_learn, merge,
          lambda pc, n: {pair: 300 + k for k, pair in enumerate(learn_merges(pc, n))},
          pair_counts, match=r"must make token 256 \+ 0 = 256, got 300")
    fails(checks.merge_and_learn, merge, lambda pc, n: list(learn_merges(pc, n)), pair_counts,
          match="expected a dict")


def test_learn_merges_notes_a_broken_pair_counts():
    def no_weights(words, weights):
        return bpe.get_pair_counts(words, [1] * len(words))

    def learn_with(pair_counts_fn):
        def learn(piece_counts, n_merges):
            words, weights = [list(p) for p in piece_counts], list(piece_counts.values())
            merges = {}
            for k in range(n_merges):
                counts = pair_counts_fn(words, weights)
                if not counts:
                    break
                best = bpe.most_frequent_pair(counts)
                if counts[best] < 2:
                    break
                merges[best] = 256 + k
                words = [bpe.merge(w, best, 256 + k) for w in words]
            return merges
        return learn

    fails(checks.merge_and_learn, merge, learn_with(no_weights), no_weights,
          match="make Exercise 1 pass first")


# -- Exercise 3 ----------------------------------------------------------------------------------


def test_encode_mistakes():
    def no_pieces(text, merges):
        return bpe.BPETokenizer(list(merges), ()).encode_piece(text.encode())

    def first_found(text, merges):
        ids = []
        for piece in split_pieces(text):
            word = list(piece)
            while True:
                pair = next((p for p in zip(word, word[1:], strict=False) if p in merges), None)
                if pair is None:
                    break
                word = bpe.merge(word, pair, merges[pair])
            ids += word
        return ids

    fails(checks.encode, no_pieces, merge, match="split_pieces first")
    fails(checks.encode, first_found, merge, match="lowest rank")
    fails(checks.encode, lambda t, m: [str(i) for i in encode(t, m)], merge,
          match="list of int ids")


def test_encode_matches_the_course_tokenizers_ids():
    # a version right on small merge lists but wrong for long ones is caught on the course's
    def capped(text, merges):
        return encode(text, dict(list(merges.items())[:700]))

    fails(checks.encode, capped, merge, match="the course tokenizer's 3,836 merges")


def test_encode_notes_a_broken_merge():
    def bad_merge(ids, pair, new_id):
        return list(ids)

    def encode_with_bad_merge(text, merges):
        return [b for piece in split_pieces(text) for b in piece]

    fails(checks.encode, encode_with_bad_merge, bad_merge, match="make Exercise 2 pass first")


# -- Exercise 4 ----------------------------------------------------------------------------------


def test_next_token_loss_mistakes():
    ce = torch.nn.functional.cross_entropy

    def unshifted(logits, windows):
        return ce(logits.flatten(0, 1), windows[:, :-1].flatten())

    def summed(logits, windows):
        return ce(logits.flatten(0, 1), windows[:, 1:].flatten(), reduction="sum")

    def as_float(logits, windows):
        return torch.tensor(tt.next_token_loss(logits, windows).item())

    def wrong_shape(logits, windows):
        return ce(logits, windows)

    fails(checks.next_token_loss, unshifted, match=r"the targets are windows\[:, 1:\]")
    fails(checks.next_token_loss, summed, match="mean over all positions")
    fails(checks.next_token_loss, as_float, match="remembers how it was computed")
    fails(checks.next_token_loss, wrong_shape, match="flatten both")
    fails(checks.next_token_loss, lambda lg, w: tt.next_token_loss(lg, w).reshape(1),
          match=r"expected shape \(\)")


# -- Exercise 5 ----------------------------------------------------------------------------------


def variant(**kwargs):
    """adamw_step with one mistake."""
    def step(p, grad, m, v, t, lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1):
        b1, b2 = betas
        if kwargs.get("l2"):
            grad = grad + weight_decay * p
        elif not kwargs.get("decay_after"):
            p = p * (1 - lr * weight_decay)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        m_hat = m / (1 - b1 ** t) if not kwargs.get("no_bias") else m
        v_hat = v / (1 - b2 ** t) if not kwargs.get("no_bias") else v
        den = (v_hat + eps).sqrt() if kwargs.get("eps_inside") else v_hat.sqrt() + eps
        p = p - lr * m_hat / den
        if kwargs.get("decay_after"):
            p = p - lr * weight_decay * p
        return p, m, v
    return step


@pytest.mark.parametrize("mistake, message", [
    ("l2", "Adam with L2"), ("no_bias", "bias correction is missing"),
    ("decay_after", "the decay comes first"), ("eps_inside", "eps goes outside"),
])
def test_adamw_mistakes(mistake, message):
    fails(checks.adamw_step, variant(**{mistake: True}), match=message)


def test_the_written_out_variant_without_mistakes_passes():
    checks.adamw_step(variant())


def test_adamw_step_must_not_change_its_arguments():
    def in_place(p, grad, m, v, t, lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1):
        new = adamw_step(p, grad, m, v, t, lr, betas, eps, weight_decay)
        m.copy_(new[1])
        return new

    fails(checks.adamw_step, in_place, match="changed its argument m in place")
    fails(checks.adamw_step, lambda *a: list(adamw_step(*a)),
          match=r"expected a tuple \(new p, new m, new v\)")
