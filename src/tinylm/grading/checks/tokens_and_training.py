"""Checks of lab 3b, byte-pair encoding and the training loop
(labs/03-tokens-and-training-lab.ipynb).

The references are `tinylm.bpe` (pair counts, merges, training, encoding) and `tinylm.training`
(the next-token loss, AdamW). The outside libraries: Hugging Face `tokenizers`, whose BpeTrainer
trained the course tokenizer (the student's merges and tokens must be its merges and tokens),
`transformers` (the loss `LlamaForCausalLM` computes from `labels`) and `torch.optim.AdamW`.

Token ids follow `tinylm.bpe`: 0-255 are the bytes, and the k-th merge makes token 256 + k. A
merge list is a dict {(left id, right id): new id} in the order the merges were learned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from tinylm import bpe
from tinylm import training as tt
from tinylm.grading.checks.common import (
    builds_on,
    call,
    check_tensor,
    compare_tensors,
    fail,
    is_number,
    numpy_rng,
    passes,
    torch_rng,
)

# Sennrich et al.'s example: words and how often they occur, as pieces (bytes) and counts.
TOY_PIECES = {b"low": 5, b"lower": 2, b"newest": 6, b"widest": 3}
PAIRS_NOTE = ("pair_counts of Exercise 1 does not pass its check yet, and this exercise "
              "builds on it: make Exercise 1 pass first")
MERGE_NOTE = ("merge of Exercise 2 does not pass its worked examples yet, and this exercise "
              "builds on it: make Exercise 2 pass first")


def _show(pair_or_ids) -> str:
    """Ids with the bytes they stand for, when they are bytes: (101, 115) -> (101 'e', 115 's')."""
    items = [f"{i} {chr(i)!r}" if isinstance(i, int) and 33 <= i < 127 else str(i)
             for i in pair_or_ids]
    return "(" + ", ".join(items) + ")"


# -- Exercise 1: pair_counts ---------------------------------------------------------------------


def _check_counts(got, what: str) -> dict:
    assert got is not None, f"{what} returned None: did you forget `return`?"
    assert isinstance(got, Mapping), (
        f"{what}: expected a dict (or Counter) {{(left, right): count}}, got "
        f"{type(got).__name__}")
    for pair, count in got.items():
        assert isinstance(pair, tuple) and len(pair) == 2, (
            f"{what}: keys must be pairs (left id, right id) such as (1, 2), got the key "
            f"{pair!r}")
        assert is_number(count) and count == int(count), (
            f"{what}: counts must be whole numbers, got {count!r} for {pair}")
        assert count > 0, (f"{what}: {pair} has count {count}: leave out pairs that do not "
                           "occur (no zero or negative counts)")
    return {tuple(int(i) for i in pair): int(n) for pair, n in got.items()}


def pair_count_mistakes(words, weights) -> list[tuple[str, dict]]:
    """What some wrong versions of pair_counts give, to recognise them."""
    once, unweighted = {}, {}
    for word, weight in zip(words, weights, strict=True):
        pairs = list(zip(word, word[1:], strict=False))
        for pair in set(pairs):
            once[pair] = once.get(pair, 0) + weight
        for pair in pairs:
            unweighted[pair] = unweighted.get(pair, 0) + 1
    return [
        ("a pair that occurs twice in one word counts twice: count every position, not every "
         "distinct pair", once),
        ("each word counts `weight` times: add its weight for every pair, not 1", unweighted),
    ]


def _compare_counts(got: dict, expected: dict, what: str, hints=()) -> None:
    if got == expected:
        return
    wrong = sorted(p for p in {**expected, **got} if expected.get(p, 0) != got.get(p, 0))
    p = wrong[0]
    message = (f"{what}: {len(wrong)} pair(s) with a wrong count, for example {_show(p)}: "
               f"expected {expected.get(p, 0)}, got {got.get(p, 0)}")
    for hint, variant in hints:
        if variant == got and variant != expected:
            message += f" ({hint})"
            break
    fail(message)


def pair_counts(pair_counts) -> None:
    """Exercise 1: `pair_counts(words, weights)`, against tinylm.bpe.get_pair_counts."""
    # 1. The worked examples, by hand
    for words, weights, expected in [
            ([[1, 2, 3, 1, 2]], [10], {(1, 2): 20, (2, 3): 10, (3, 1): 10}),
            ([[7, 7, 7]], [1], {(7, 7): 2}),
            ([[1, 2], [2, 1, 2]], [2, 3], {(1, 2): 5, (2, 1): 3}),
            ([[5], []], [3, 4], {})]:
        what = f"pair_counts({words}, {weights})"
        got = _check_counts(call(pair_counts, [list(w) for w in words], list(weights),
                                 call=what), what)
        _compare_counts(got, expected, what, pair_count_mistakes(words, weights))

    # 2. Random words, against tinylm.bpe.get_pair_counts
    rng = numpy_rng(0)
    for n_words in (1, 20, 200):
        words = [rng.integers(0, 8, size=rng.integers(0, 12)).tolist() for _ in range(n_words)]
        weights = rng.integers(1, 50, size=n_words).tolist()
        before = [list(w) for w in words], list(weights)
        what = f"pair_counts({n_words} random words, their weights)"
        got = _check_counts(call(pair_counts, words, weights, call=what), what)
        assert (words, weights) == before, (
            f"{what} changed its arguments: read words and weights, do not modify them")
        _compare_counts(got, dict(bpe.get_pair_counts(words, weights)),
                        f"{what}, compared with tinylm.bpe.get_pair_counts",
                        pair_count_mistakes(words, weights))

    # 3. Real text: the pieces of Sennrich et al.'s example as bytes
    words, weights = [list(p) for p in TOY_PIECES], list(TOY_PIECES.values())
    what = "pair_counts(the bytes of low, lower, newest, widest; [5, 2, 6, 3])"
    got = _check_counts(call(pair_counts, words, weights, call=what), what)
    _compare_counts(got, dict(bpe.get_pair_counts(words, weights)), what,
                    pair_count_mistakes(words, weights))


def pair_counts_works(pair_counts) -> bool:
    """Does pair_counts (Exercise 1) match tinylm? Exercise 2 builds on it."""
    def matches():
        rng = numpy_rng(1)
        words = [rng.integers(0, 5, size=rng.integers(0, 9)).tolist() for _ in range(30)]
        weights = rng.integers(1, 9, size=30).tolist()
        return dict(pair_counts(words, weights)) == dict(bpe.get_pair_counts(words, weights))

    return passes(matches)


# -- Exercise 2: merge and learn_merges ----------------------------------------------------------


def _check_ids(got, what: str) -> list[int]:
    assert got is not None, f"{what} returned None: did you forget `return`?"
    assert isinstance(got, list), f"{what}: expected a list of ids, got {type(got).__name__}"
    for i in got:
        assert isinstance(i, int) and not isinstance(i, bool), (
            f"{what}: expected a list of int ids, got the item {i!r} ({type(i).__name__})")
    return got


def merge_mistakes(ids, pair, new_id) -> list[tuple[str, list[int]]]:
    """What some wrong versions of merge give, to recognise them."""
    right_to_left = bpe.merge(ids[::-1], pair[::-1], new_id)[::-1]
    overlapping = []
    for i in range(len(ids)):  # every position where the pair starts, overlaps included
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            overlapping.append(new_id)
        elif not (i > 0 and (ids[i - 1], ids[i]) == pair):
            overlapping.append(ids[i])
    first_only = list(ids)
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            first_only = ids[:i] + [new_id] + ids[i + 2:]
            break
    return [
        ("read left to right: in 7 7 7 the pair (7, 7) is merged once, on the left", right_to_left),
        ("after a merge, skip both ids: a pair's right id cannot start another pair",
         overlapping),
        ("replace every occurrence of the pair, not only the first", first_only),
    ]


def _merge_call(merge, ids, pair, new_id, what, expected) -> None:
    before = list(ids)
    got = _check_ids(call(merge, ids, pair, new_id, call=what), what)
    assert ids == before, f"{what} changed ids: return a new list instead"
    if got != expected:
        message = f"{what}: expected {expected}, got {got}"
        for hint, variant in merge_mistakes(before, pair, new_id):
            if variant == got and variant != expected:
                message += f" ({hint})"
                break
        fail(message)


def merge_works(merge) -> bool:
    """Does merge (Exercise 2) give its worked examples? learn_merges and encode build on it."""
    return passes(lambda: merge([1, 2, 3, 1, 2], (1, 2), 256) == [256, 3, 256]
                  and merge([7, 7, 7], (7, 7), 256) == [256, 7])


def _check_merges(got, what: str) -> dict:
    assert got is not None, f"{what} returned None: did you forget `return`?"
    assert isinstance(got, Mapping), (
        f"{what}: expected a dict {{(left, right): new id}} in the order learned, got "
        f"{type(got).__name__}")
    for k, (pair, new_id) in enumerate(got.items()):
        assert isinstance(pair, tuple) and len(pair) == 2, (
            f"{what}: keys must be pairs (left id, right id), got the key {pair!r}")
        assert new_id == 256 + k, (
            f"{what}: merge {k} ({pair}) must make token 256 + {k} = {256 + k}, got {new_id!r}")
    return {(int(a), int(b)): int(i) for (a, b), i in got.items()}


def _merges_as_text(merges) -> str:
    tokens, _ = bpe.base_vocabulary()
    out = []
    for a, b in merges:
        out.append(f"{tokens[a]!r} + {tokens[b]!r}")
        tokens.append(tokens[a] + tokens[b])
    return ", ".join(out)


def _compare_merges(got: dict, expected: list, what: str) -> None:
    got_pairs = list(got)
    if got_pairs == expected:
        return
    k = next((k for k, (a, b) in enumerate(zip(got_pairs, expected, strict=False)) if a != b),
             min(len(got_pairs), len(expected)))
    if k == len(expected) or k == len(got_pairs):
        fail(f"{what}: expected {len(expected)} merges, got {len(got_pairs)} (the first {k} "
             "are right). Stop when the most frequent pair occurs fewer than 2 times, or when "
             "there are n_merges merges")
    tokens, _ = bpe.base_vocabulary()
    for a, b in expected[:k]:
        tokens.append(tokens[a] + tokens[b])
    show = lambda p: (f"{_show(p)}, the bytes {tokens[p[0]]!r} + {tokens[p[1]]!r}"  # noqa: E731
                      if max(p) < len(tokens) else _show(p))
    fail(f"{what}: merges 0 to {k - 1} are right, merge {k} is not: expected {show(expected[k])}"
         f", got {show(got_pairs[k])}. Of two pairs that occur equally often, take the one "
         "tinylm.bpe.most_frequent_pair returns")


def merge_and_learn(merge, learn_merges, pair_counts) -> None:
    """Exercise 2: `merge(ids, pair, new_id)` against tinylm.bpe.merge, then
    `learn_merges(piece_counts, n_merges)` against tinylm.bpe.learn_merges and the merges of
    tokenizers' BpeTrainer."""
    # 1. merge: the worked examples, by hand
    for ids, pair, new_id, expected in [
            ([1, 2, 3, 1, 2], (1, 2), 256, [256, 3, 256]),
            ([7, 7, 7], (7, 7), 256, [256, 7]),
            ([7, 7, 7, 7], (7, 7), 300, [300, 300]),
            ([1, 2, 1, 2, 1], (2, 1), 257, [1, 257, 257]),
            ([1, 2], (2, 1), 256, [1, 2]),
            ([], (1, 2), 256, [])]:
        _merge_call(merge, list(ids), pair, new_id, f"merge({ids}, {pair}, {new_id})", expected)

    # 2. merge: random ids, against tinylm.bpe.merge
    rng = numpy_rng(2)
    for _ in range(200):
        ids = rng.integers(0, 4, size=rng.integers(0, 15)).tolist()
        pair = tuple(rng.integers(0, 4, size=2).tolist())
        _merge_call(merge, list(ids), pair, 256, f"merge({ids}, {pair}, 256)",
                    bpe.merge(ids, pair, 256))

    # 3. learn_merges, with your pair_counts and merge: Sennrich et al.'s example by hand
    counts_ok = pair_counts_works(pair_counts)
    with builds_on(counts_ok and merge_works(merge), MERGE_NOTE if counts_ok else PAIRS_NOTE):
        what = "learn_merges({b'low': 5, b'lower': 2, b'newest': 6, b'widest': 3}, 10)"
        got = _check_merges(call(learn_merges, dict(TOY_PIECES), 10, call=what), what)
        expected = bpe.learn_merges(TOY_PIECES, 256 + 10)
        _compare_merges(got, expected, what)
        what = "learn_merges({b'low': 5, b'lower': 2, b'newest': 6, b'widest': 3}, 100)"
        got = _check_merges(call(learn_merges, dict(TOY_PIECES), 100, call=what), what)
        _compare_merges(got, bpe.learn_merges(TOY_PIECES, 256 + 100), f"{what} (the pairs run "
                        "out: no pair occurs twice after the last merge)")
        for pieces, expected in [({b"ab": 1}, []), ({b"abab": 1}, [(97, 98)]),
                                 ({b"aaaa": 3}, [(97, 97), (256, 256)])]:
            what = f"learn_merges({pieces}, 5)"
            got = _check_merges(call(learn_merges, dict(pieces), 5, call=what), what)
            _compare_merges(got, expected, what)

        # 4. Real text: the course corpus, against tinylm and tokenizers' BpeTrainer
        from tinylm.synthetic import course_corpus
        from tinylm.tokenizer import SPECIAL_TOKENS, train_tokenizer

        docs = course_corpus("train")[::100]
        pieces = bpe.count_pieces(docs)
        n_merges = 100
        what = (f"learn_merges(the pieces of {len(docs)} documents of the course corpus, "
                f"{n_merges})")
        got = _check_merges(call(learn_merges, dict(pieces), n_merges, call=what), what)
        _compare_merges(got, bpe.learn_merges(pieces, 256 + n_merges),
                        f"{what}, compared with tinylm.bpe.learn_merges")
        theirs = bpe.from_tokenizers(train_tokenizer(docs, 256 + len(SPECIAL_TOKENS)
                                                     + n_merges))[0]
        _compare_merges(got, theirs.merges, f"{what}, compared with the merges of tokenizers' "
                                            "BpeTrainer")


# -- Exercise 3: encode --------------------------------------------------------------------------

TEXTS = [
    "lowest", " lowest", "", "the newest and the widest", "Once upon a time, a cat sat.",
    "café – naïve “quoted”", "猫 and 🙂", "12 + 345 = 357\n", '{"name": "Mia", "age": 7}',
    "  two  spaces\tand a tab", "Ελληνικά, русский, 日本語",
]


def encode_mistakes(text, tok) -> list[tuple[str, list[int]]]:
    """What some wrong versions of encode give, to recognise them."""
    def first_found(piece):  # merges the first mergeable pair, whatever its rank
        ids = list(piece)
        while True:
            pair = next((p for p in zip(ids, ids[1:], strict=False) if p in tok.ranks), None)
            if pair is None:
                return ids
            ids = bpe.merge(ids, pair, tok.merged_ids[pair])

    pieces = [bpe.symbols_to_bytes(p) for p in bpe.pre_tokenize(text, tok.pre_tokenizer)]
    return [
        ("split the text into pieces with split_pieces first: merges never cross a piece",
         tok.encode_piece(text.encode())),
        ("merge the pair of lowest rank (learned first), not the first pair found",
         [i for p in pieces for i in first_found(p)]),
    ]


def _encode_call(encode, text, merges, what, expected, tok=None, their_ids=None) -> None:
    got = _check_ids(call(encode, text, merges, call=what), what)
    shown = got if their_ids is None else [their_ids[i] if 0 <= i < len(their_ids) else i
                                           for i in got]
    if shown == expected:
        return
    k = next((k for k, (a, b) in enumerate(zip(shown, expected, strict=False)) if a != b),
             min(len(shown), len(expected)))
    message = (f"{what}: expected {len(expected)} tokens, got {len(shown)}; they differ from "
               f"token {k} on: expected {expected[k:k + 6]}, got {shown[k:k + 6]}")
    if tok is not None:
        for hint, variant in encode_mistakes(text, tok):
            if variant == got and variant != tok.encode(text):
                message += f" ({hint})"
                break
    fail(message)


def encode(encode, merge) -> None:
    """Exercise 3: `encode(text, merges)`, against tinylm.bpe.BPETokenizer and the course
    tokenizer (trained by tokenizers' BpeTrainer)."""
    with builds_on(merge_works(merge), MERGE_NOTE):
        # 1. The worked examples, by hand: Sennrich et al.'s ten merges
        toy = bpe.BPETokenizer(bpe.learn_merges(TOY_PIECES, 256 + 10), ())
        toy_merges = {pair: toy.merged_ids[pair] for pair in toy.merges}
        for text, expected in [("lowest", [259, 257]), (" lowest", [32, 259, 257]),
                               ("", []), ("猫", [231, 140, 171])]:
            what = f"encode({text!r}, Sennrich's ten merges)"
            _encode_call(encode, text, dict(toy_merges), what, expected, toy)
        what = "encode('low lowest', {})"
        _encode_call(encode, "low lowest", {}, what, list(b"low lowest"))
        # merges never cross the edge of a piece, even merges that a text could use there
        across = bpe.BPETokenizer([(49, 50), (46, 32)], ())  # "1" + "2", "." + " "
        for text in ("12", "dog. cat"):
            what = f"encode({text!r}, {{(49, 50): 256, (46, 32): 257}})"
            _encode_call(encode, text, {(49, 50): 256, (46, 32): 257}, what,
                         across.encode(text), across)

        # 2. A tokenizer trained by tinylm.bpe on the course corpus, on all kinds of text
        from tinylm.synthetic import course_corpus

        tok = bpe.train_bpe(course_corpus("train")[::50], 700, special_tokens=())
        merges = {pair: tok.merged_ids[pair] for pair in tok.merges}
        held_out = [d[:400] for d in course_corpus("validation")[::40]]
        for text in TEXTS + held_out:
            what = (f"encode({text[:40]!r}{'...' if len(text) > 40 else ''}, "
                    f"{len(merges)} merges learned on the course corpus)")
            _encode_call(encode, text, dict(merges), what, tok.encode(text), tok)

        # 3. The course tokenizer itself: its 3,836 merges, its own ids
        from tinylm.tokenizer import load_tokenizer

        course = load_tokenizer()
        ours, their_ids = bpe.from_tokenizers(course)
        merges = {pair: ours.merged_ids[pair] for pair in ours.merges}
        for text in TEXTS + held_out[::3]:
            what = (f"encode({text[:40]!r}{'...' if len(text) > 40 else ''}, the course "
                    "tokenizer's 3,836 merges), its ids compared with the course tokenizer's")
            _encode_call(encode, text, merges, what,
                         course.encode(text, add_special_tokens=False).ids, ours, their_ids)


# -- Exercise 4: next_token_loss -----------------------------------------------------------------


def loss_mistakes(logits, windows) -> list[tuple[str, torch.Tensor]]:
    """What some wrong versions of the next-token loss give, to recognise them."""
    flat = logits.flatten(0, 1)
    ce = torch.nn.functional.cross_entropy
    targets = windows[:, 1:].flatten()
    variants = [
        ("position i predicts token i + 1: the targets are windows[:, 1:], not windows[:, :-1]",
         ce(flat, windows[:, :-1].flatten())),
        ("the loss is the mean over all positions, not the sum",
         ce(flat, targets, reduction="sum")),
        ("cross-entropy is -log softmax(logits)[target]: take the log of the softmax",
         -logits.softmax(-1).flatten(0, 1).gather(1, targets[:, None]).mean()),
        ("cross-entropy needs the log-softmax, not the raw logit of the target",
         -flat.gather(1, targets[:, None]).mean()),
    ]
    return [(hint, v.detach()) for hint, v in variants]


def _loss_call(next_token_loss, logits, windows, what) -> torch.Tensor:
    hint = (f"logits are (batch, seq, vocab) = {tuple(logits.shape)} and windows (batch, seq + 1)"
            f" = {tuple(windows.shape)}: the targets are windows[:, 1:], and F.cross_entropy "
            "wants (N, vocab) logits and (N,) targets: flatten both")
    got = call(next_token_loss, logits, windows, call=what,
               hints={RuntimeError: hint, ValueError: hint, IndexError: hint})
    check_tensor(got, what, (), dtype=logits.dtype)
    return got


def next_token_loss(next_token_loss) -> None:
    """Exercise 4: `next_token_loss(logits, windows)`, against tinylm.training.next_token_loss
    and the loss transformers' LlamaForCausalLM computes from labels."""
    # 1. The worked examples, by hand
    windows = torch.tensor([[0, 2, 1]])
    for logits, expected in [
            (torch.zeros(1, 2, 3), math.log(3)),
            (torch.tensor([[[0.0, 0.0, 5.0], [0.0, 5.0, 0.0]]]), math.log(2 + math.exp(5)) - 5),
            (torch.tensor([[[0.0, 5.0, 0.0], [0.0, 0.0, 5.0]]]), math.log(2 + math.exp(5)))]:
        what = f"next_token_loss(logits {logits.tolist()}, windows [[0, 2, 1]])"
        got = _loss_call(next_token_loss, logits, windows, what)
        assert abs(got.item() - expected) < 1e-4, (
            f"{what}: expected {expected:.4f}, got {got.item():.4f}"
            + next((f" ({h})" for h, v in loss_mistakes(logits, windows)
                    if abs(v.item() - got.item()) < 1e-4 and abs(v.item() - expected) > 1e-4),
                   ""))

    # 2. Random logits, against tinylm.training.next_token_loss; gradients flow through
    gen = torch_rng(4)
    for batch, seq, vocab in [(3, 7, 11), (1, 1, 5), (4, 16, 50)]:
        logits = (2 * torch.randn(batch, seq, vocab, generator=gen)).requires_grad_()
        windows = torch.randint(0, vocab, (batch, seq + 1), generator=gen)
        what = f"next_token_loss(logits {tuple(logits.shape)}, windows {tuple(windows.shape)})"
        got = _loss_call(next_token_loss, logits, windows, what)
        expected = tt.next_token_loss(logits, windows)
        compare_tensors(got.detach(), expected.detach(),
                        f"{what}, compared with tinylm.training.next_token_loss",
                        hints=loss_mistakes(logits, windows))
        assert got.requires_grad, (
            f"{what}: the loss must be a tensor that remembers how it was computed (training "
            "calls loss.backward()): do not use .item(), .detach() or NumPy inside")
        (grad,) = torch.autograd.grad(got, logits)
        (expected_grad,) = torch.autograd.grad(expected, logits)
        compare_tensors(grad, expected_grad, f"the gradient of {what} with respect to the logits",
                        ("batch", "position", "token"))

    # 3. transformers: LlamaForCausalLM(windows, labels=windows).loss shifts inside
    from transformers import LlamaConfig, LlamaForCausalLM

    with torch.random.fork_rng():  # the student's random state is left as it was
        torch.manual_seed(0)
        hf = LlamaForCausalLM(LlamaConfig(
            vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32)).eval()
    windows = torch.randint(0, 64, (3, 13), generator=gen)
    with torch.no_grad():
        theirs = hf(input_ids=windows, labels=windows).loss
        logits = hf(input_ids=windows[:, :-1]).logits  # (batch, seq, vocab)
    what = "next_token_loss(hf(windows[:, :-1]).logits, windows)"
    got = _loss_call(next_token_loss, logits, windows, what)
    compare_tensors(got, theirs, f"{what}, compared with transformers' "
                    "LlamaForCausalLM(input_ids=windows, labels=windows).loss",
                    hints=loss_mistakes(logits, windows))


# -- Exercise 5: adamw_step ----------------------------------------------------------------------


def adamw_mistakes(p, g, m, v, t, lr, betas, eps, weight_decay):
    """What some wrong versions of one AdamW step give (the new p), to recognise them."""
    b1, b2 = betas

    def adam(p, g, decay_first=True, correct=True, eps_inside=False, t_=t, l2=False, lr_wd=True):
        if l2:
            g = g + weight_decay * p
        if decay_first and not l2:
            p = p * (1 - (lr if lr_wd else 1) * weight_decay)
        m2, v2 = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        m_hat = m2 / (1 - b1 ** t_) if correct else m2
        v_hat = v2 / (1 - b2 ** t_) if correct else v2
        den = (v_hat + eps).sqrt() if eps_inside else v_hat.sqrt() + eps
        p = p - lr * m_hat / den
        if not decay_first and not l2:
            p = p - lr * weight_decay * p
        return p

    return [
        ("that is Adam with L2 regularisation: AdamW does not add weight_decay * p to the "
         "gradient, it shrinks the weights directly: p <- p - lr * weight_decay * p",
         adam(p, g, l2=True)),
        ("bias correction is missing: m_hat = m / (1 - beta1**t), v_hat = v / (1 - beta2**t)",
         adam(p, g, correct=False)),
        ("the decay comes first, on the weights before the step: p <- p - lr * weight_decay * p, "
         "then the Adam update", adam(p, g, decay_first=False)),
        ("eps goes outside the square root: sqrt(v_hat) + eps", adam(p, g, eps_inside=True)),
        ("t is the number of this step, counting from 1: the first step has t = 1",
         adam(p, g, t_=t + 1)),
        ("the decay is multiplied by the learning rate too: p * (1 - lr * weight_decay)",
         adam(p, g, lr_wd=False)),
    ]


def _adamw_call(adamw_step, p, g, m, v, t, lr, betas, eps, wd, what):
    args = [x.clone() for x in (p, g, m, v)]
    got = call(adamw_step, *args, t, lr, betas, eps, wd, call=what,
               hints={RuntimeError: "p, grad, m and v all have the same shape: use element-wise "
                                    "operations (*, /, .sqrt()), not matrix products"})
    assert got is not None, f"{what} returned None: did you forget `return`?"
    assert isinstance(got, tuple) and len(got) == 3, (
        f"{what}: expected a tuple (new p, new m, new v), got {type(got).__name__}"
        + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
    for name, tensor in zip(("p", "m", "v"), got, strict=True):
        check_tensor(tensor, f"{what}: the new {name}", tuple(p.shape), dtype=p.dtype)
    for name, before, after in zip(("p", "grad", "m", "v"), (p, g, m, v), args, strict=True):
        assert torch.equal(before, after), (
            f"{what} changed its argument {name} in place: return new tensors instead")
    return got


def adamw_step(adamw_step) -> None:
    """Exercise 5: `adamw_step(p, grad, m, v, t, lr, betas, eps, weight_decay)`, step after
    step, against torch.optim.AdamW and tinylm.training.AdamW."""
    # 1. The worked example, by hand
    one = lambda x: torch.tensor([x])  # noqa: E731
    what = "adamw_step(p=[1.0], grad=[0.5], m=[0], v=[0], t=1, lr=0.1, (0.9, 0.95), 1e-8, 0.1)"
    p, m, v = _adamw_call(adamw_step, one(1.0), one(0.5), one(0.0), one(0.0), 1, 0.1,
                          (0.9, 0.95), 1e-8, 0.1, what)
    for name, got, expected in [("p", p, 0.89), ("m", m, 0.05), ("v", v, 0.0125)]:
        assert abs(got.item() - expected) < 1e-6, (
            f"{what}: expected the new {name} = {expected}, got {got.item():.6f}"
            + (next((f" ({h})" for h, x in adamw_mistakes(
                one(1.0), one(0.5), one(0.0), one(0.0), 1, 0.1, (0.9, 0.95), 1e-8, 0.1)
                if abs(x.item() - got.item()) < 1e-6), "") if name == "p" else ""))

    # 2. Several steps on random weights and gradients, against torch.optim.AdamW and tinylm's
    gen = torch_rng(5)
    for lr, betas, eps, wd in [(1e-2, (0.9, 0.95), 1e-8, 0.1), (0.1, (0.8, 0.999), 1e-6, 0.0),
                               (3e-3, (0.9, 0.95), 1e-8, 0.5), (0.05, (0.0, 0.9), 1e-3, 0.2)]:
        start = torch.randn(4, 6, generator=gen)
        theirs = torch.nn.Parameter(start.clone())
        ours = torch.nn.Parameter(start.clone())
        torch_opt = torch.optim.AdamW([theirs], lr=lr, betas=betas, eps=eps, weight_decay=wd)
        tinylm_opt = tt.AdamW([ours], lr=lr, betas=betas, eps=eps, weight_decay=wd)
        p, m, v = start.clone(), torch.zeros_like(start), torch.zeros_like(start)
        for t in range(1, 7):
            g = torch.randn(4, 6, generator=gen) * (10.0 if t == 3 else 1.0)
            theirs.grad, ours.grad = g.clone(), g.clone()
            torch_opt.step()
            tinylm_opt.step()
            what = (f"adamw_step(p, grad, m, v, t={t}, lr={lr:g}, betas={betas}, eps={eps:g}, "
                    f"weight_decay={wd:g}) on (4, 6) tensors")
            hints = adamw_mistakes(p, g, m, v, t, lr, betas, eps, wd)
            p, m, v = _adamw_call(adamw_step, p, g, m, v, t, lr, betas, eps, wd, what)
            state = torch_opt.state[theirs]
            compare_tensors(m, state["exp_avg"], f"{what}: the new m (the moving average of the "
                            "gradient), compared with torch.optim.AdamW's exp_avg",
                            rtol=1e-5, atol=1e-7)
            compare_tensors(v, state["exp_avg_sq"], f"{what}: the new v (the moving average of "
                            "its square), compared with torch.optim.AdamW's exp_avg_sq",
                            rtol=1e-5, atol=1e-7)
            compare_tensors(p, theirs.detach(), f"{what}: the new p, compared with "
                            "torch.optim.AdamW", hints=hints, rtol=1e-5, atol=1e-6)
            compare_tensors(p, ours.detach(), f"{what}: the new p, compared with "
                            "tinylm.training.AdamW", rtol=1e-5, atol=1e-6)
