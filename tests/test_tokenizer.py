"""tinylm.tokenizer: the course's byte-level BPE tokenizer.

Two references written here in plain Python check the ``tokenizers`` library's work: a BPE
trainer (count pairs, merge the most frequent, repeat) must learn the same merges, and a BPE
encoder (apply the merges in order) must give the same tokens.
"""

import hashlib
import json
from collections import Counter
from itertools import pairwise

import pytest
from tokenizers import pre_tokenizers

from tinylm import tokenizer as tk
from tinylm.synthetic import course_documents, json_records, stories


@pytest.fixture(scope="module")
def tok():
    return tk.load_tokenizer()


@pytest.fixture(scope="module")
def validation():
    return course_documents("validation")


def _merges(tokenizer):
    model = json.loads(tokenizer.to_str())["model"]
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]


# ---------------------------------------------------------------------------------------------
# The committed tokenizer
# ---------------------------------------------------------------------------------------------


def test_vocab_and_special_tokens(tok):
    assert tok.get_vocab_size() == tk.VOCAB_SIZE == 4096
    assert [tok.token_to_id(t) for t in tk.SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert (tk.UNK_ID, tk.BOS_ID, tk.EOS_ID, tk.PAD_ID) == (0, 1, 2, 3)
    vocab = tok.get_vocab()
    assert set(pre_tokenizers.ByteLevel.alphabet()) <= set(vocab)  # every byte: nothing unknown
    assert len(_merges(tok)) == 4096 - 4 - 256
    assert tok.encode("<s>hi</s>", add_special_tokens=False).ids[0] == tk.BOS_ID


def test_bos_added_and_dropped(tok):
    enc = tok.encode("Once upon a time")
    assert enc.ids[0] == tk.BOS_ID
    assert enc.ids[1:] == tok.encode("Once upon a time", add_special_tokens=False).ids
    assert tok.decode(enc.ids + [tk.EOS_ID, tk.PAD_ID]) == "Once upon a time"
    assert tok.decode([tk.BOS_ID, tk.EOS_ID], skip_special_tokens=False) == "<s></s>"


@pytest.mark.parametrize("text", [
    "", " ", "  two  spaces\tand a tab\n\nnew lines\r\n", "café – naïve “quoted” — 10 °C",
    "Ελληνικά, русский, 中文, 日本語, 한국어, العربية", "emoji 🙂👍🏽 and e\u0301 (combining)",
    '{"kind": "event", "notes": null}', "Question: 12 * 34 = 408\nAnswer: 408", "\x00\x7f",
])
def test_round_trip_special_strings(tok, text):
    ids = tok.encode(text, add_special_tokens=False).ids
    assert tk.UNK_ID not in ids
    assert tok.decode(ids) == text
    assert tok.decode(tok.encode(text).ids) == text


def test_round_trip_every_kind(tok, validation):
    for kind, docs in validation.items():
        for doc, enc in zip(docs, tok.encode_batch(docs), strict=True):
            assert tok.decode(enc.ids) == doc, kind
    wiki = "".join(validation["wiki"])
    assert any(ord(c) > 127 for c in wiki)  # the Wikipedia text has non-ASCII characters


def test_digits_split_one_by_one(tok):
    tokens = tok.encode("In 2025 she paid 1234 dollars.", add_special_tokens=False).tokens
    digits = [t for t in tokens if any(c.isdigit() for c in t)]
    assert digits == list("20251234")


def test_compression(tok, validation):
    """Characters per token on held-out text: BPE merges common words into single tokens."""
    ratios = {kind: tk.chars_per_token(tok, docs) for kind, docs in validation.items()}
    assert ratios["stories"] > 3.8, ratios
    assert ratios["wiki"] > 3.0 and ratios["lee"] > 3.2, ratios
    assert ratios["json"] > 2.2 and ratios["arithmetic"] > 2.6, ratios
    assert tok.encode(" the", add_special_tokens=False).tokens == ["Ġthe"]
    assert tok.encode(" once upon a time", add_special_tokens=False).tokens == [
        "Ġonce", "Ġupon", "Ġa", "Ġtime"]


def test_committed_tokenizer_equals_a_fresh_training_run():
    """The zoo file is exactly what train_course_tokenizer() makes now (about 10 s)."""
    text = tk.zoo_path(tk.ZOO_TOKENIZER).read_text(encoding="utf-8")
    fresh = tk.train_course_tokenizer()
    assert fresh.to_str(pretty=True) + "\n" == text


def test_save_load(tmp_path, tok):
    path = tk.save_tokenizer(tok, tmp_path / "sub" / "tok.json")
    again = tk.load_tokenizer(path)
    assert again.to_str() == tok.to_str()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(tk.zoo_path(tk.ZOO_TOKENIZER).read_bytes()).hexdigest()
    with pytest.raises(FileNotFoundError):
        tk.load_tokenizer(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_docs():
    return stories(200, 3) + json_records(100, 3)


def test_training_is_deterministic(small_docs):
    a = tk.train_tokenizer(small_docs, vocab_size=600)
    b = tk.train_tokenizer(list(reversed(small_docs)), vocab_size=600)  # order does not matter
    assert a.to_str() == b.to_str()
    c = tk.train_tokenizer(stories(200, 4) + json_records(100, 4), vocab_size=600)
    assert _merges(a) != _merges(c)
    assert a.get_vocab_size() == 600


def test_vocab_size_too_small():
    with pytest.raises(ValueError):
        tk.train_tokenizer(["abc"], vocab_size=259)
    small = tk.train_tokenizer(["abc abc"], vocab_size=1000)  # runs out of pairs seen twice
    assert small.get_vocab_size() < 1000
    assert small.decode(small.encode("xyz ✓").ids) == "xyz ✓"


def reference_train(documents, pre_tokenizer, vocab_size, min_frequency=2):
    """Textbook BPE training, slowly: count every adjacent pair in every piece (weighted by how
    often the piece occurs), merge the most frequent (ties: smaller ids first), repeat."""
    words = Counter(p for doc in documents for p, _ in pre_tokenizer.pre_tokenize_str(doc))
    vocab = list(tk.SPECIAL_TOKENS) + sorted(pre_tokenizers.ByteLevel.alphabet())
    ids = {s: i for i, s in enumerate(vocab)}
    seqs = {w: [ids[c] for c in w] for w in words}
    merges = []
    while len(vocab) < vocab_size:
        pairs = Counter()
        for w, seq in seqs.items():
            for pair in pairwise(seq):
                pairs[pair] += words[w]
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < min_frequency:
            break
        new = vocab[best[0]] + vocab[best[1]]
        if new not in ids:
            ids[new] = len(vocab)
            vocab.append(new)
        merges.append((vocab[best[0]], vocab[best[1]]))
        for w, seq in seqs.items():
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i], seq[i + 1]) == best:
                    out.append(ids[new])
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[w] = out
    return vocab, merges


def test_training_matches_a_plain_python_bpe(small_docs):
    trained = tk.train_tokenizer(small_docs, vocab_size=500)
    vocab, merges = reference_train(small_docs, trained.pre_tokenizer, 500)
    assert merges == _merges(trained)
    assert vocab == sorted(trained.get_vocab(), key=trained.get_vocab().get)


def reference_encode(text, tokenizer, rank, vocab):
    """Textbook BPE encoding: in each piece, merge the pair of lowest merge rank (``rank``:
    pair -> its place in the list of merges) until no pair is a merge."""
    ids = []
    for piece, _ in tokenizer.pre_tokenizer.pre_tokenize_str(text):
        symbols = list(piece)
        while len(symbols) > 1:
            pairs = [(rank.get(p, len(rank)), i) for i, p in enumerate(pairwise(symbols))]
            r, i = min(pairs)
            if r == len(rank):
                break
            symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]
        ids += [vocab[s] for s in symbols]
    return ids


def test_encoding_matches_a_plain_python_bpe(tok, validation):
    rank = {pair: r for r, pair in enumerate(_merges(tok))}
    docs = [d for kind in validation for d in validation[kind][:30]]
    for doc in docs:
        expected = reference_encode(doc, tok, rank, tok.get_vocab())
        assert expected == tok.encode(doc, add_special_tokens=False).ids


# ---------------------------------------------------------------------------------------------
# transformers
# ---------------------------------------------------------------------------------------------


def test_to_transformers(tok):
    pytest.importorskip("transformers")
    hf = tk.to_transformers()
    assert (hf.bos_token_id, hf.eos_token_id, hf.pad_token_id, hf.unk_token_id) == (1, 2, 3, 0)
    text = 'Tom said, "Let\'s play!" 12 + 30 = 42 – café'
    assert hf(text)["input_ids"] == tok.encode(text).ids
    assert hf.decode(hf(text)["input_ids"], skip_special_tokens=True) == text
    batch = hf(["a", "a longer text"], padding=True)["input_ids"]
    assert batch[0][-1] == tk.PAD_ID and len(batch[0]) == len(batch[1])
