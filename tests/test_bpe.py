"""tinylm.bpe: byte-pair encoding from scratch, held against two outside libraries.

Oracles: Hugging Face ``tokenizers`` (its BpeTrainer made the course tokenizer: trained on the
same text with the same pre-tokenisation and vocabulary size, ours must learn the same merges
and encode held-out text to the same tokens) and ``tiktoken`` (an ``Encoding`` built from our
merges, offline, must encode held-out text to the same ids). The textbook trainer and the fast
one are compared with each other in tests/test_bpe_kernels.py.
"""

import json
from collections import Counter
from itertools import pairwise

import pytest
import regex
import tiktoken
import tiktoken.load
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import pre_tokenizers

from tinylm import bpe
from tinylm.data import lee_documents
from tinylm.synthetic import course_corpus
from tinylm.tokenizer import SPECIAL_TOKENS, train_tokenizer

SCRIPTS = [
    "", " ", "  two  spaces\tand a tab\n\nnew lines\r\n", "café – naïve “quoted” — 10 °C",
    "Ελληνικά, русский, 中文, 日本語, 한국어, العربية, עברית, हिन्दी", "emoji 🙂👍🏽🇫🇷 and e\u0301",
    '{"kind": "event", "notes": null}', "Question: 12 * 34 = 408\nAnswer: 408", "\x00\x7f\x1c",
    "٣٤ ½ ²³ Ⅻ", "nbsp\u00a0and\u3000ideographic\u2028space", "it's I'M we'll 'd", "a" * 300,
]


# ---------------------------------------------------------------------------------------------
# Fixtures: two corpora, a tokenizer trained on each by us and by tokenizers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def course():
    """Every 25th document of the course corpus's training split (433 documents, all five
    kinds, Wikipedia's non-ASCII text included) and every 5th of the validation split."""
    return course_corpus("train")[::25], course_corpus("validation")[::5]


@pytest.fixture(scope="module")
def lee():
    """A different corpus: the Lee news stories, 250 to train on and 50 held out."""
    docs = list(lee_documents())
    return docs[:250], docs[250:]


def train_both(docs, vocab_size, min_frequency=2):
    return (bpe.train_bpe(docs, vocab_size, min_frequency),
            train_tokenizer(docs, vocab_size, min_frequency))


@pytest.fixture(scope="module")
def course_pair(course):
    return train_both(course[0], 600)


@pytest.fixture(scope="module")
def lee_pair(lee):
    return train_both(lee[0], 800, min_frequency=3)


def their_merges(tokenizer) -> list[tuple[bytes, bytes]]:
    """The merges of a ``tokenizers`` BPE, as pairs of byte strings."""
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    merges = [m.split(" ") if isinstance(m, str) else m for m in merges]
    return [(bpe.symbols_to_bytes(a), bpe.symbols_to_bytes(b)) for a, b in merges]


def our_merges(tok) -> list[tuple[bytes, bytes]]:
    return [(tok.vocab[a], tok.vocab[b]) for a, b in tok.merges]


def their_tokens(tokenizer, text) -> list[bytes]:
    """How ``tokenizers`` cuts ``text``, as byte strings (its ids are not ours)."""
    return [bpe.symbols_to_bytes(t) for t in
            tokenizer.encode(text, add_special_tokens=False).tokens]


# ---------------------------------------------------------------------------------------------
# Bytes as symbols
# ---------------------------------------------------------------------------------------------


def test_bytes_to_unicode_is_gpt2s_table():
    table = bpe.bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert set(table.values()) == set(pre_tokenizers.ByteLevel.alphabet())
    assert all(s.isprintable() and not s.isspace() for s in table.values())
    assert (table[ord(" ")], table[ord("\n")], table[ord("A")], table[0]) == ("Ġ", "Ċ", "A", "Ā")
    everything = bytes(range(256))
    assert bpe.symbols_to_bytes(bpe.bytes_to_symbols(everything)) == everything
    # the tokenizers pre-tokenizer writes pieces in the same symbols
    pieces = bpe.pre_tokenize(" café 猫", bpe.course_pre_tokenizer())
    assert pieces == ["ĠcafÃ©", "Ġ" + bpe.bytes_to_symbols("猫".encode())]
    assert [bpe.symbols_to_bytes(p) for p in pieces] == [" café".encode(), " 猫".encode()]


# ---------------------------------------------------------------------------------------------
# The building blocks on small known answers
# ---------------------------------------------------------------------------------------------


def test_get_pair_counts_weights_each_word():
    assert bpe.get_pair_counts([[1, 2, 3, 1, 2]], [10]) == {(1, 2): 20, (2, 3): 10, (3, 1): 10}
    assert bpe.get_pair_counts([[1, 2], [2, 1, 2], [5]], [3, 4, 100]) == {(1, 2): 7, (2, 1): 4}
    assert bpe.get_pair_counts([], []) == {}


def test_merge_replaces_every_occurrence_left_to_right():
    assert bpe.merge([1, 2, 3, 1, 2], (1, 2), 256) == [256, 3, 256]
    assert bpe.merge([7, 7, 7], (7, 7), 300) == [300, 7]
    assert bpe.merge([7, 7, 7, 7], (7, 7), 300) == [300, 300]
    assert bpe.merge([1], (1, 2), 256) == [1]
    assert bpe.merge([], (1, 2), 256) == []


def test_ties_follow_bpetrainers_numbering():
    """Equal counts: the pair whose symbols come first in the order of their characters wins,
    so "!" (byte 33) beats "a" (97), which beats the space "Ġ" (32, written as character 288)."""
    counts = {(ord("a"), ord("b")): 5, (ord("!"), ord("b")): 5, (ord(" "), ord("b")): 5}
    assert bpe.most_frequent_pair(counts) == (ord("!"), ord("b"))
    del counts[ord("!"), ord("b")]
    assert bpe.most_frequent_pair(counts) == (ord("a"), ord("b"))
    assert bpe.most_frequent_pair({(300, 1): 2, (ord("a"), 299): 2}) == (ord("a"), 299)
    assert bpe.most_frequent_pair({(300, 1): 3, (ord("a"), 299): 2}) == (300, 1)


def test_a_merge_that_spells_an_existing_token_reuses_its_id():
    tokens, token_ids = bpe.base_vocabulary()
    ab = bpe.add_merged_token(tokens, token_ids, (ord("a"), ord("b")))
    bc = bpe.add_merged_token(tokens, token_ids, (ord("b"), ord("c")))
    abc = bpe.add_merged_token(tokens, token_ids, (ab, ord("c")))
    assert (ab, bc, abc) == (256, 257, 258)
    assert bpe.add_merged_token(tokens, token_ids, (ord("a"), bc)) == abc
    assert len(tokens) == 259
    tok = bpe.BPETokenizer([(97, 98), (98, 99), (256, 99), (97, 257)], special_tokens=())
    assert tok.vocab_size == 259 and tok.vocab[258] == b"abc"
    assert tok.encode("abc") == [258] and tok.encode("xabc") == [ord("x"), 258]
    assert tok.to_tokenizers().encode("abc xabc").ids == tok.encode("abc xabc")


def test_merge_steps_show_a_word_coming_together():
    tok = bpe.train_bpe(["low lower lowest", "low lowest"], vocab_size=264, special_tokens=())
    steps = [b"|".join(step) for step in tok.merge_steps(" lowest")]
    assert steps == [b" |l|o|w|e|s|t", b" |lo|w|e|s|t", b" |low|e|s|t", b" low|e|s|t",
                     b" lowe|s|t", b" lowe|st", b" lowest"]
    text = "the lowest, newest 12"
    steps = tok.merge_steps(text)
    assert steps[0] == [bytes([b]) for b in text.encode()]
    assert steps[-1] == [tok.vocab[i] for i in tok.encode(text)]
    assert all(len(a) > len(b) for a, b in pairwise(steps))


# ---------------------------------------------------------------------------------------------
# Oracle: tokenizers' BpeTrainer learns the same merges and encodes to the same tokens
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("corpus", ["course", "lee"])
def test_merges_equal_tokenizers(corpus, course_pair, lee_pair):
    ours, theirs = course_pair if corpus == "course" else lee_pair
    assert len(ours.merges) > 300  # many merges, so that the comparison means something
    assert our_merges(ours) == their_merges(theirs)
    assert ours.vocab_size == theirs.get_vocab_size()
    # the same vocabulary: each of their tokens is one of ours (their ids are not ours)
    their_vocab = {bpe.symbols_to_bytes(s) if s not in SPECIAL_TOKENS else s.encode()
                   for s in theirs.get_vocab()}
    assert their_vocab == set(ours.vocab)


def test_textbook_trainer_learns_the_same_merges(course, course_pair):
    """The slow loop (count every pair at every merge) and the default fast one agree."""
    slow = bpe.train_bpe(course[0][::4], 400, fast=False)
    fast = bpe.train_bpe(course[0][::4], 400)
    assert len(slow.merges) == 140 and slow.merges == fast.merges


@pytest.mark.parametrize("corpus", ["course", "lee"])
def test_encodings_equal_tokenizers(corpus, course, lee, course_pair, lee_pair):
    ours, theirs = course_pair if corpus == "course" else lee_pair
    held_out = (course if corpus == "course" else lee)[1]
    n_tokens = 0
    for text in held_out + SCRIPTS:
        ids = ours.encode(text)
        assert [ours.vocab[i] for i in ids] == their_tokens(theirs, text), text[:80]
        n_tokens += len(ids)
    assert n_tokens > 10_000
    assert max(len(ours.vocab[i]) for i in ours.encode(" ".join(held_out))) > 5  # merges used


def test_to_tokenizers_keeps_our_ids(course, course_pair):
    ours, _ = course_pair
    exported = ours.to_tokenizers()
    assert exported.get_vocab_size() == ours.vocab_size
    assert all(bpe.symbols_to_bytes(s) == ours.vocab[i] or s in ours.special_ids
               for s, i in exported.get_vocab().items())
    for text in course[1] + SCRIPTS:
        assert exported.encode(text, add_special_tokens=False).ids == ours.encode(text)
        assert exported.decode(ours.encode(text)) == text
    # tokenizers always reads special tokens: ours does when allowed
    text = "<s>Once upon a time</s><pad>"
    assert exported.encode(text).ids == ours.encode(text, allowed_special="all")


# ---------------------------------------------------------------------------------------------
# Oracle: tiktoken, given our merges, encodes to the same ids
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def no_download(monkeypatch):
    """tiktoken must not fetch anything: building an Encoding from ranks needs no file."""

    def refuse(*args, **kwargs):
        raise AssertionError("tiktoken tried to read or download a file")

    monkeypatch.setattr(tiktoken.load, "read_file", refuse)
    monkeypatch.setattr(tiktoken.load, "read_file_cached", refuse)


def test_pat_str_splits_like_the_pre_tokenizer(course, lee):
    """PAT_STR (a regular expression) cuts text exactly as the course pre-tokenizer does:
    digits one by one, the whitespace before a digit in a piece of its own."""
    pattern = regex.compile(bpe.PAT_STR)
    pre_tokenizer = bpe.course_pre_tokenizer()
    texts = course[1] + lee[1] + SCRIPTS + ["In 2025  she paid 1234 dollars.\n\n 5"]
    for text in texts:
        ours = [bpe.symbols_to_bytes(p) for p in bpe.pre_tokenize(text, pre_tokenizer)]
        assert ours == [piece.encode() for piece in pattern.findall(text)], text[:80]
    assert pattern.findall("paid  1234.") == ["paid", "  ", "1", "2", "3", "4", "."]
    assert pattern.findall("paid  them") == ["paid", " ", " them"]


def test_tiktoken_encodes_to_the_same_ids(course, lee_pair, course_pair, no_download):
    for ours, held_out in [(course_pair[0], course[1]), (lee_pair[0], course[1][:20])]:
        encoding = ours.to_tiktoken()
        assert encoding.n_vocab == ours.vocab_size
        n_tokens = 0
        for text in held_out + SCRIPTS:
            ids = encoding.encode_ordinary(text)
            assert ids == ours.encode(text), text[:80]
            assert encoding.decode(ids) == text
            n_tokens += len(ids)
        assert n_tokens > 10_000
    ours = course_pair[0]
    encoding = ours.to_tiktoken()
    text = "<s>Once upon a time</s> 12 cats"
    assert encoding.encode(text, allowed_special="all") == ours.encode(text, "all")
    assert encoding.encode(text, allowed_special={"</s>"}, disallowed_special=()) == (
        ours.encode(text, allowed_special={"</s>"}))
    assert encoding.encode(text, disallowed_special=()) == ours.encode(text)


# ---------------------------------------------------------------------------------------------
# No unknown words: any text round-trips
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", SCRIPTS)
def test_round_trip_in_any_script(course_pair, text):
    ours, _ = course_pair
    ids = ours.encode(text)
    assert all(0 <= i < ours.n_ordinary for i in ids)  # no special token, no <unk>
    assert ours.decode(ids) == text


def test_unseen_characters_fall_back_to_bytes(course_pair):
    ours, _ = course_pair
    assert ours.encode("猫") == list("猫".encode())  # 3 bytes, 3 tokens, no <unk>
    assert ours.decode(list("猫".encode())[:2]) == "\ufffd"  # half a character: replaced


@pytest.fixture(scope="module")
def toy():
    return bpe.train_bpe(["the cat sat on the mat, and the dog sat on the log"] * 3, 300)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=60))
def test_round_trip_any_text(toy, text):
    assert toy.decode(toy.encode(text)) == text
    assert toy.decode(toy.encode(text, allowed_special="all")) == text


# ---------------------------------------------------------------------------------------------
# Special tokens and vocabulary size
# ---------------------------------------------------------------------------------------------


def test_special_tokens_get_the_last_ids_and_are_read_only_when_allowed():
    tok = bpe.train_bpe(["the cat sat on the mat"] * 3, 270)
    assert tok.vocab_size == 270 and len(tok.merges) == 270 - 256 - 4
    assert tok.special_ids == {"<unk>": 266, "<s>": 267, "</s>": 268, "<pad>": 269}
    text = "the cat</s>"
    plain = tok.encode(text)
    assert 268 not in plain and tok.decode(plain) == text  # typed by a user: just text
    read = tok.encode(text, allowed_special={"</s>"})
    assert read[-1] == 268 and read == tok.encode(text, allowed_special="all")
    assert tok.decode(read) == text
    assert tok.encode("<s><s>", allowed_special="all") == [267, 267]
    custom = bpe.train_bpe(["a b"], 258, special_tokens=("<|end", "<|end|>"))
    assert custom.encode("<|end|>", allowed_special="all") == [257]  # the longer one wins
    assert bpe.train_bpe(["a b"], 256, special_tokens=()).vocab_size == 256


def test_special_token_text_in_training_text_is_ordinary_text():
    docs = ["<s>hello world</s><pad><pad> and <unk>s", "hello <s> world</s>"] * 5
    ours, theirs = train_both(docs, 300)
    assert len(ours.merges) > 10 and our_merges(ours) == their_merges(theirs)


def test_vocabulary_stops_growing_when_no_pair_repeats():
    ours = bpe.train_bpe(["abc abc"], vocab_size=1000)
    theirs = train_tokenizer(["abc abc"], vocab_size=1000)
    assert ours.vocab_size == theirs.get_vocab_size() < 1000
    assert our_merges(ours) == their_merges(theirs)
    assert ours.decode(ours.encode("xyz ✓")) == "xyz ✓"
    assert bpe.train_bpe(["aaa aaa", "b"], 300, min_frequency=5).merges == []


def test_count_pieces_counts_each_distinct_piece():
    counts = bpe.count_pieces(["the cat, the cat", "12 cats"])
    assert counts == Counter({b"the": 1, b" cat": 2, b",": 1, b" the": 1, b"1": 1, b"2": 1,
                              b" cats": 1})


# ---------------------------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------------------------


def test_errors_say_what_was_expected(toy):
    with pytest.raises(ValueError, match="at least 256 bytes"):
        bpe.train_bpe(["abc"], vocab_size=259)
    with pytest.raises(TypeError, match="not one string"):
        bpe.train_bpe("a text, not a list of texts", 300)
    with pytest.raises(TypeError, match="hold strings"):
        bpe.train_bpe([b"bytes"], 300)
    with pytest.raises(TypeError):
        bpe.train_bpe(["abc"], vocab_size=600.0)
    with pytest.raises(ValueError, match="min_frequency"):
        bpe.train_bpe(["abc"], 300, min_frequency=0)
    with pytest.raises(ValueError, match="distinct"):
        bpe.train_bpe(["abc"], 300, special_tokens=("<s>", "<s>"))
    with pytest.raises(TypeError, match="sequence of strings"):
        bpe.train_bpe(["abc"], 300, special_tokens="<s>")
    with pytest.raises(TypeError, match="must be strings"):
        bpe.train_bpe(["abc"], 300, special_tokens=(1,))
    with pytest.raises(ValueError, match="empty"):
        bpe.train_bpe(["abc"], 300, special_tokens=("",))
    with pytest.raises(ValueError, match="not made yet"):
        bpe.BPETokenizer([(97, 98), (256, 300)])
    with pytest.raises(ValueError, match="repeated"):
        bpe.BPETokenizer([(97, 98), (97, 98)])
    tok = toy
    with pytest.raises(TypeError, match="takes a str"):
        tok.encode(b"bytes")
    with pytest.raises(ValueError, match="not special tokens"):
        tok.encode("x", allowed_special={"<|endoftext|>"})
    with pytest.raises(TypeError, match='"all"'):
        tok.encode("x", allowed_special="<s>")
    with pytest.raises(ValueError, match="token ids must be in"):
        tok.decode([1, tok.vocab_size])
    with pytest.raises(ValueError, match="token ids must be in"):
        tok.decode([-1])
    with pytest.raises(TypeError):
        tok.decode("abc")


# ---------------------------------------------------------------------------------------------
# A tokenizer trained by tokenizers, read as ours
# ---------------------------------------------------------------------------------------------


def test_from_tokenizers_reads_the_course_tokenizer():
    from tinylm.tokenizer import SPECIAL_TOKENS as COURSE_SPECIALS
    from tinylm.tokenizer import load_tokenizer

    course = load_tokenizer()
    ours, their_ids = bpe.from_tokenizers(course)
    assert len(ours.merges) == 3836 and ours.special_tokens == COURSE_SPECIALS
    assert sorted(their_ids) == list(range(course.get_vocab_size()))
    assert [their_ids[ours.special_ids[s]] for s in COURSE_SPECIALS] == [0, 1, 2, 3]
    for text in SCRIPTS + course_corpus("validation")[::60]:
        assert [their_ids[i] for i in ours.encode(text)] == \
            course.encode(text, add_special_tokens=False).ids, text[:80]


def test_from_tokenizers_round_trips_our_own_export(course_pair):
    ours, _ = course_pair
    again, their_ids = bpe.from_tokenizers(ours.to_tokenizers())
    assert again.merges == ours.merges and their_ids == list(range(ours.vocab_size))


def test_from_tokenizers_refuses_what_it_cannot_read():
    from tokenizers import Tokenizer, models

    wordpiece = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    with pytest.raises(ValueError, match="BPE"):
        bpe.from_tokenizers(wordpiece)
    not_bytes = Tokenizer(models.BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")]))
    with pytest.raises(ValueError, match="256 byte symbols"):
        bpe.from_tokenizers(not_bytes)
