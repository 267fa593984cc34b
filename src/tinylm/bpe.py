"""Byte-pair encoding from scratch: GPT-2's byte-level BPE, trained and applied in plain Python.

Byte-pair encoding began as a compression trick (Gage 1994); Sennrich, Haddow and Birch (2016)
used it to cut words into subword units: start from single symbols and repeatedly merge the most
frequent adjacent pair of symbols into a new one. Frequent words end up as one token, rare words
as a few pieces. GPT-2 (Radford et al. 2019) runs the algorithm on *bytes*: the base alphabet
is the 256 byte values, and since any text, in any script, emoji included, is a sequence of
UTF-8 bytes, every text can be encoded. Byte-level BPE has no unknown words: at worst a word is
spelled one byte per token.

The module reads top to bottom:

1. Bytes as symbols: GPT-2's table that writes each byte as a printable character (the reason
   a space shows up as "Ġ" in token lists).
2. Pre-tokenisation: text -> pieces (words with their leading space, runs of punctuation,
   single digits). Merges never cross the edge of a piece, so "dog." never becomes one token.
   The pieces come from the course tokenizer's own pre-tokenizer (``tinylm.tokenizer``), so
   the two compare token for token: the split is not the lesson here, the merges are.
3. Training: count adjacent pairs (``get_pair_counts``), merge the most frequent (``merge``),
   repeat. The list of merges, in order, is the model.
4. ``BPETokenizer``: encoding (apply the merges in the order they were learned), decoding,
   special tokens, and the same tokenizer as a ``tokenizers.Tokenizer`` or ``tiktoken.Encoding``.

Token ids: 0-255 are the bytes, then the merged tokens in the order training made them (256,
257, ...), then the special tokens (GPT-2 also puts its one special token, ``<|endoftext|>``,
last). A special token (``<s>``, ``</s>``, ``<pad>``, ...) is a signal to the model, not text:
``encode`` reads one in the text only if it is named in ``allowed_special``, so that a user who
types "</s>" gets the four bytes of "</s>", not an end of sequence. (tiktoken's ``encode`` is
stricter: by default it refuses a text that holds a special token.)

Training makes exactly the merges of the ``tokenizers`` library's ``BpeTrainer`` (which trained
the course tokenizer) on the same text, down to which of two equally frequent pairs wins (see
``tie_key``). ``train_bpe(..., fast=False)`` runs the textbook loop below, which counts every
pair again after each merge; the default runs ``tinylm.bpe_kernels.learn_merges_fast``, which
updates only the counts that a merge changes: the same merges, much sooner.

>>> tok = train_bpe(["the cat sat on the mat"] * 3, vocab_size=272)
>>> [tok.vocab[i] for i in tok.encode("the mat sat")]  # words seen in training: one token
[b'the', b' mat', b' sat']
>>> [tok.vocab[i] for i in tok.encode("the rat")]  # a new word: pieces of known ones
[b'the', b' ', b'r', b'at']
>>> tok.decode(tok.encode("théâtre 🙂 猫"))  # bytes never seen in training: still no <unk>
'théâtre 🙂 猫'
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise

from tinylm.tokenizer import SPECIAL_TOKENS, VOCAB_SIZE, course_pre_tokenizer

Pair = tuple[int, int]  # the ids of two adjacent tokens

# ---------------------------------------------------------------------------------------------
# 1. Bytes as symbols
# ---------------------------------------------------------------------------------------------


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table: one printable character for each of the 256 byte values.

    Many bytes print as nothing or as garbage (space, newline, control codes, the parts of a
    multi-byte UTF-8 character), so GPT-2 writes every byte as a visible character: the 188
    bytes that are printable Latin-1 characters ("!" to "~", "¡" to "¬", "®" to "ÿ") stand for
    themselves, and the other 68 get the characters 256, 257, ... in order. The space (byte 32)
    becomes "Ġ" (character 288) and the newline (byte 10) "Ċ": that is why the token lists of
    GPT-2-style tokenizers are full of "Ġ". It is only a way of writing; the tokens are bytes.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    others = [b for b in range(256) if b not in table]
    table |= {b: chr(256 + i) for i, b in enumerate(others)}
    return dict(sorted(table.items()))


BYTE_TO_SYMBOL = bytes_to_unicode()
# each symbol -> the character whose code is its byte, which "latin-1" then encodes as that byte
_SYMBOL_TO_LATIN1 = str.maketrans({s: chr(b) for b, s in BYTE_TO_SYMBOL.items()})


def symbols_to_bytes(symbols: str) -> bytes:
    """The bytes that GPT-2's symbols stand for: "Ġcat" -> b" cat", "Ã©" -> "é".encode()."""
    return symbols.translate(_SYMBOL_TO_LATIN1).encode("latin-1")


def bytes_to_symbols(data: bytes) -> str:
    """``data`` written in GPT-2's symbols (the inverse of ``symbols_to_bytes``)."""
    return "".join(BYTE_TO_SYMBOL[b] for b in data)


# ---------------------------------------------------------------------------------------------
# 2. Pre-tokenisation
# ---------------------------------------------------------------------------------------------


def pre_tokenize(text: str, pre_tokenizer) -> list[str]:
    """The pieces of ``text``, written in GPT-2's symbols: "I paid 12." -> I, Ġpaid, Ġ, 1, 2, ."""
    return [piece for piece, _span in pre_tokenizer.pre_tokenize_str(text)]


# The same split as one regular expression, for tiktoken (which takes a pattern, not an object).
# It is GPT-2's pattern with digits handled as the Digits step handles them: every numeric
# character (Unicode class N, so "٣" and "½" too, not only 0-9) is a piece of its own, checked
# first; GPT-2's " ?\p{N}+" is gone, since a space never joins a digit; and a run of whitespace
# before a digit is one piece, all of it: GPT-2's "\s+(?!\S)" leaves the last space of a run
# to the word that follows, but Digits had cut the text at the digit, so it saw the end of a
# piece there, which "(?![^\s\p{N}])" (not followed by anything but a space or a digit) mimics.
PAT_STR = (r"""\p{N}|'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?[^\s\p{L}\p{N}]+"""
           r"""|\s+(?![^\s\p{N}])|\s+""")


def count_pieces(texts: Iterable[str], pre_tokenizer=None) -> Counter[bytes]:
    """How often each piece occurs in ``texts``, pieces as bytes. Training needs nothing else:
    a word that occurs 1,000 times is stored once, with the weight 1,000."""
    pre_tokenizer = course_pre_tokenizer() if pre_tokenizer is None else pre_tokenizer
    counts = Counter()
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must hold strings, got a {type(text).__name__}")
        counts.update(pre_tokenize(text, pre_tokenizer))
    return Counter({symbols_to_bytes(piece): n for piece, n in counts.items()})


# ---------------------------------------------------------------------------------------------
# 3. Training
# ---------------------------------------------------------------------------------------------


def get_pair_counts(words: Sequence[Sequence[int]], weights: Sequence[int]) -> Counter[Pair]:
    """How often each pair of adjacent ids occurs, each word counted ``weight`` times.

    >>> get_pair_counts([[1, 2, 3, 1, 2]], [10])
    Counter({(1, 2): 20, (2, 3): 10, (3, 1): 10})
    """
    counts = Counter()
    for word, weight in zip(words, weights, strict=True):
        for pair in pairwise(word):
            counts[pair] += weight
    return counts


def merge(ids: Sequence[int], pair: Pair, new_id: int) -> list[int]:
    """``ids`` with every occurrence of ``pair`` replaced by ``new_id``, read left to right
    (so in 7 7 7 the pair (7, 7) is merged once, on the left).

    >>> merge([1, 2, 3, 1, 2], (1, 2), 256)
    [256, 3, 256]
    """
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


# BpeTrainer numbers the 256 byte symbols in the order of their characters; the rank of each
# byte in that order ("!" = byte 33 is first; space, newline and the other stand-ins come last)
_SYMBOL_RANK = {b: rank for rank, b in enumerate(sorted(BYTE_TO_SYMBOL, key=BYTE_TO_SYMBOL.get))}


def tie_key(pair: Pair) -> tuple[int, int]:
    """Of two equally frequent pairs, training merges the one with the smaller key.

    Any fixed rule would do; this is BpeTrainer's, so that the merges come out identical: it
    takes the pair of smaller ids in *its* numbering, which lists the byte symbols in the order
    of their characters, then the merged tokens in the order they were made. We number bytes by
    their value, so bytes compare by the rank of their symbol; merged tokens (ids from 256,
    above every rank) by id, as in BpeTrainer.
    """
    return _SYMBOL_RANK.get(pair[0], pair[0]), _SYMBOL_RANK.get(pair[1], pair[1])


def most_frequent_pair(pair_counts: Mapping[Pair, int]) -> Pair:
    """The pair with the highest count, ties broken by ``tie_key``."""
    return min(pair_counts, key=lambda pair: (-pair_counts[pair], tie_key(pair)))


def base_vocabulary() -> tuple[list[bytes], dict[bytes, int]]:
    """The tokens before any merge, the 256 bytes: id -> bytes and bytes -> id."""
    tokens = [bytes([b]) for b in range(256)]
    return tokens, {token: i for i, token in enumerate(tokens)}


def add_merged_token(tokens: list[bytes], token_ids: dict[bytes, int], pair: Pair) -> int:
    """The id of the token that merging ``pair`` makes, appended to the vocabulary if new.

    Two different merges can spell the same bytes (b"ab" + b"c" and b"a" + b"bc"): the second
    then reuses the first one's id, as tokenizers does, so no token is in the vocabulary twice.
    """
    merged = tokens[pair[0]] + tokens[pair[1]]
    if merged not in token_ids:
        token_ids[merged] = len(tokens)
        tokens.append(merged)
    return token_ids[merged]


def learn_merges(piece_counts: Mapping[bytes, int], n_tokens: int,
                 min_frequency: int = 2) -> list[Pair]:
    """The textbook loop: count the pairs, merge the most frequent, repeat, until there are
    ``n_tokens`` tokens (the 256 bytes included) or no pair occurs ``min_frequency`` times.

    piece_counts: each distinct piece (bytes) -> how often it occurs
    returns:      the merges, in the order learned
    """
    words = [list(piece) for piece in piece_counts]
    weights = list(piece_counts.values())
    tokens, token_ids = base_vocabulary()
    merges = []
    while len(tokens) < n_tokens:
        pair_counts = get_pair_counts(words, weights)
        if not pair_counts:
            break
        best = most_frequent_pair(pair_counts)
        if pair_counts[best] < min_frequency:
            break
        new_id = add_merged_token(tokens, token_ids, best)
        words = [merge(word, best, new_id) for word in words]
        merges.append(best)
    return merges


def check_special_tokens(special_tokens: Sequence[str]) -> tuple[str, ...]:
    """``special_tokens`` as a tuple, after checking that they are distinct non-empty strings."""
    if isinstance(special_tokens, str):
        raise TypeError(f"special_tokens must be a sequence of strings, not the string "
                        f"{special_tokens!r}: write ({special_tokens!r},)")
    special_tokens = tuple(special_tokens)
    for token in special_tokens:
        if not isinstance(token, str):
            raise TypeError(f"special tokens must be strings, got {token!r}")
        if not token:
            raise ValueError("a special token cannot be the empty string")
    if len(set(special_tokens)) != len(special_tokens):
        raise ValueError(f"special tokens must be distinct, got {special_tokens}")
    return special_tokens


def train_bpe(texts: Iterable[str], vocab_size: int = VOCAB_SIZE, min_frequency: int = 2,
              special_tokens: Sequence[str] = SPECIAL_TOKENS, *, fast: bool = True,
              pre_tokenizer=None) -> BPETokenizer:
    """Train byte-level BPE on ``texts``: ``vocab_size`` tokens in all, the 256 bytes, the
    merged tokens and the special tokens (fewer if no pair is left that occurs
    ``min_frequency`` times). Same arguments, same tokens as ``tinylm.tokenizer.
    train_tokenizer``. The special tokens only reserve ids: if their text occurs in ``texts``,
    training reads it as ordinary text, as BpeTrainer does.

    fast:          False runs the textbook ``learn_merges``; True (the default) the same
                   algorithm with incremental counts and a Numba kernel (same merges)
    pre_tokenizer: a ``tokenizers`` pre-tokenizer ending in ``ByteLevel``; by default the
                   course tokenizer's
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list (or any iterable) of strings, not one string: "
                        "write [text]")
    special_tokens = check_special_tokens(special_tokens)
    vocab_size, min_frequency = operator.index(vocab_size), operator.index(min_frequency)
    if vocab_size < 256 + len(special_tokens):
        raise ValueError(f"vocab_size must be at least 256 bytes + {len(special_tokens)} "
                         f"special tokens = {256 + len(special_tokens)}, got {vocab_size}")
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be at least 1, got {min_frequency}")
    pre_tokenizer = course_pre_tokenizer() if pre_tokenizer is None else pre_tokenizer
    piece_counts = count_pieces(texts, pre_tokenizer)
    if fast:
        from tinylm.bpe_kernels import learn_merges_fast as learn
    else:
        learn = learn_merges
    merges = learn(piece_counts, vocab_size - len(special_tokens), min_frequency)
    return BPETokenizer(merges, special_tokens, pre_tokenizer)


# ---------------------------------------------------------------------------------------------
# 4. The tokenizer: encoding and decoding
# ---------------------------------------------------------------------------------------------


class BPETokenizer:
    """A byte-level BPE tokenizer: its merges, its special tokens and its pre-tokenizer.

    merges:        (left id, right id) of each merge, in the order learned (its *rank*)
    vocab:         id -> the token's bytes (the special tokens' UTF-8 text at the end)
    special_ids:   special token -> its id
    cache:         piece -> its ids, filled by ``encode`` (a text repeats its words a lot;
                   ``cache.clear()`` empties it)
    """

    def __init__(self, merges: Iterable[Pair], special_tokens: Sequence[str] = SPECIAL_TOKENS,
                 pre_tokenizer=None):
        self.merges = [(int(a), int(b)) for a, b in merges]
        tokens, token_ids = base_vocabulary()
        self.ranks: dict[Pair, int] = {}  # merge -> its rank
        self.merged_ids: dict[Pair, int] = {}  # merge -> the id of the token it makes
        for rank, pair in enumerate(self.merges):
            if pair in self.ranks or not all(0 <= i < len(tokens) for i in pair):
                raise ValueError(f"merge {rank} {pair}: repeated, or an id not made yet "
                                 f"(there are {len(tokens)} tokens before it)")
            self.ranks[pair] = rank
            self.merged_ids[pair] = add_merged_token(tokens, token_ids, pair)
        self.special_tokens = check_special_tokens(special_tokens)
        self.special_ids = {s: len(tokens) + i for i, s in enumerate(self.special_tokens)}
        self.vocab = tokens + [s.encode("utf-8") for s in self.special_tokens]
        self.n_ordinary = len(tokens)  # ids below this are bytes or merged tokens
        self.pre_tokenizer = course_pre_tokenizer() if pre_tokenizer is None else pre_tokenizer
        self.cache: dict[str, list[int]] = {}

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={self.special_tokens})")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode_piece(self, piece: bytes) -> list[int]:
        """The ids of one piece: start from its bytes and, while some adjacent pair is a merge,
        apply the one learned first (lowest rank), wherever it occurs in the piece.

        Why that order: training made each token out of two tokens made before it, so merging
        in the order training did rebuilds its tokens; another order can use up half of a pair
        before the pair's own merge comes, and cut the word differently from training.
        """
        ids = list(piece)
        while len(ids) >= 2:
            pair = min(pairwise(ids), key=lambda p: self.ranks.get(p, len(self.ranks)))
            if pair not in self.ranks:
                break  # no adjacent pair is a merge: done
            ids = merge(ids, pair, self.merged_ids[pair])
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """The ids of ``text``, all of it ordinary text (no special tokens read)."""
        ids = []
        for piece in pre_tokenize(text, self.pre_tokenizer):
            if piece not in self.cache:
                self.cache[piece] = self.encode_piece(symbols_to_bytes(piece))
            ids += self.cache[piece]
        return ids

    def encode(self, text: str, allowed_special: str | Iterable[str] = ()) -> list[int]:
        """The token ids of ``text``.

        Special tokens are signals to the model (end of text, padding) that the text of a user
        should not be able to send by typing them. So by default "</s>" in ``text`` is just
        text, encoded like any other (tiktoken's ``encode(text, disallowed_special=())``); the
        special tokens named in ``allowed_special`` ("all" for every one) are read as their
        ids, as with tiktoken's ``allowed_special``. The text between them is pre-tokenised on
        its own.
        """
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got a {type(text).__name__}")
        allowed = self._allowed_special(allowed_special)
        if not allowed:
            return self.encode_ordinary(text)
        # longest first, so that a special token that contains another one wins
        alternatives = sorted(allowed, key=len, reverse=True)
        parts = re.split("(" + "|".join(map(re.escape, alternatives)) + ")", text)
        ids = []
        for i, part in enumerate(parts):  # ordinary text, special token, ordinary text, ...
            ids += [self.special_ids[part]] if i % 2 else self.encode_ordinary(part)
        return ids

    def _allowed_special(self, allowed_special: str | Iterable[str]) -> set[str]:
        if allowed_special == "all":
            return set(self.special_tokens)
        if isinstance(allowed_special, str):
            raise TypeError(f'allowed_special must be "all" or a collection of special '
                            f"tokens, got the string {allowed_special!r}")
        allowed = set(allowed_special)
        unknown = allowed - set(self.special_tokens)
        if unknown:
            raise ValueError(f"not special tokens of this tokenizer: {sorted(unknown)}; "
                             f"its special tokens are {self.special_tokens}")
        return allowed

    def decode(self, ids: Iterable[int]) -> str:
        """The text of token ids: their bytes, joined, read as UTF-8 (special tokens as their
        text). Ids cut in the middle of a character, or in an order no encoding makes, can be
        invalid UTF-8: those bytes become "\\ufffd" (errors="replace") instead of an error."""
        return b"".join(self.vocab[i] for i in self._checked(ids)).decode("utf-8", "replace")

    def _checked(self, ids: Iterable[int]) -> list[int]:
        if isinstance(ids, str | bytes):
            raise TypeError(f"decode takes token ids, got a {type(ids).__name__}")
        ids = [operator.index(i) for i in ids]  # ints, NumPy integers too
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids must be in 0..{self.vocab_size - 1}, got {bad[:5]}")
        return ids

    def merge_steps(self, text: str) -> list[list[bytes]]:
        """The tokens of ``text`` after 0, 1, 2, ... merges: a word coming together.

        Step 0 is the bytes. Each step applies the merge of lowest rank found anywhere in the
        text, wherever it occurs; the last step is ``encode(text)``, as bytes. (Piece by piece
        or over the whole text, merging by rank gives the same tokens.)

        >>> tok = train_bpe(["low lower lowest", "low lowest"], 264, special_tokens=())
        >>> for step in tok.merge_steps(" lowest"):
        ...     print(b"|".join(step).decode())
         |l|o|w|e|s|t
         |lo|w|e|s|t
         |low|e|s|t
         low|e|s|t
         lowe|s|t
         lowe|st
         lowest
        """
        words = [list(symbols_to_bytes(p)) for p in pre_tokenize(text, self.pre_tokenizer)]
        steps = []
        while True:
            steps.append([self.vocab[i] for word in words for i in word])
            found = {pair for word in words for pair in pairwise(word) if pair in self.ranks}
            if not found:
                return steps
            best = min(found, key=self.ranks.get)
            words = [merge(word, best, self.merged_ids[best]) for word in words]

    # -----------------------------------------------------------------------------------------
    # The same tokenizer in the outside libraries
    # -----------------------------------------------------------------------------------------

    def to_tokenizers(self):
        """This tokenizer as a ``tokenizers.Tokenizer``, with the same ids: token i there is
        token i here, written in GPT-2's symbols. Its special tokens are "added tokens", which
        ``tokenizers`` always reads in the text, as ``encode(allowed_special="all")`` does."""
        from tokenizers import Tokenizer, decoders, models

        symbols = [bytes_to_symbols(token) for token in self.vocab[: self.n_ordinary]]
        vocab = {s: i for i, s in enumerate(symbols)}
        clash = [s for s in self.special_tokens if s in vocab]
        if clash:
            raise ValueError(f"special tokens {clash} are also ordinary tokens: tokenizers "
                             "keeps one id per string")
        vocab |= self.special_ids
        merges = [(symbols[a], symbols[b]) for a, b in self.merges]
        tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
        tokenizer.pre_tokenizer = self.pre_tokenizer
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.add_special_tokens(list(self.special_tokens))
        return tokenizer

    def to_tiktoken(self, pat_str: str = PAT_STR, name: str = "tinylm-bpe"):
        """This tokenizer as a ``tiktoken.Encoding``, with the same ids (built here, nothing
        downloaded). ``pat_str`` must split text as ``self.pre_tokenizer`` does; ``PAT_STR``
        does for the course pre-tokenizer.

        tiktoken keeps no list of merges: its "mergeable ranks" give each token's bytes a rank,
        and it merges the adjacent pair whose joined bytes have the lowest rank. Our ids count
        up in the order training made the tokens, so they serve as those ranks, and for merges
        learned by BPE the tokens come out the same (tests/test_bpe.py checks it).
        """
        import tiktoken

        ranks = {token: i for i, token in enumerate(self.vocab[: self.n_ordinary])}
        return tiktoken.Encoding(name, pat_str=pat_str, mergeable_ranks=ranks,
                                 special_tokens=dict(self.special_ids))


# ---------------------------------------------------------------------------------------------
# 5. A tokenizer trained by the ``tokenizers`` library, read as ours
# ---------------------------------------------------------------------------------------------


def from_tokenizers(tokenizer) -> tuple[BPETokenizer, list[int]]:
    """A byte-level BPE ``tokenizers.Tokenizer`` (the course tokenizer, say) as a
    ``BPETokenizer`` with the same merges, special tokens and pre-tokenizer, and the ids the
    two give the same tokens: ``their_ids[i]`` is the id ``tokenizer`` gives our token i.

    The ids differ because the numbering does, not the tokens: we number the bytes by value
    and put the special tokens last; BpeTrainer numbers the byte symbols in the order of their
    characters, after the special tokens it was given (the course tokenizer's ``<unk>`` ... are
    0-3). The merged tokens come in the same order in both.

    >>> from tinylm.tokenizer import load_tokenizer
    >>> course = load_tokenizer()
    >>> ours, their_ids = from_tokenizers(course)
    >>> [their_ids[i] for i in ours.encode("Once upon a time")]
    [849, 827, 262, 489]
    >>> course.encode("Once upon a time", add_special_tokens=False).ids
    [849, 827, 262, 489]
    """
    import json

    model = json.loads(tokenizer.to_str())["model"]
    if model.get("type") != "BPE" or model.get("ignore_merges") or model.get("dropout"):
        raise ValueError("expected a tokenizers BPE model that applies every merge (no "
                         f"ignore_merges, no dropout), got {model.get('type')!r}")
    vocab = model["vocab"]  # GPT-2 symbols -> their id
    tokens, token_ids = base_vocabulary()
    merges = []
    for left, right in (m.split(" ") if isinstance(m, str) else m for m in model["merges"]):
        try:
            pair = token_ids[symbols_to_bytes(left)], token_ids[symbols_to_bytes(right)]
        except (KeyError, UnicodeEncodeError) as error:
            raise ValueError(f"merge {left!r} + {right!r} is not over GPT-2's byte symbols: "
                             "only byte-level BPE can be read") from error
        merges.append(pair)
        add_merged_token(tokens, token_ids, pair)
    added = sorted(tokenizer.get_added_tokens_decoder().items())
    special_tokens = [token.content for _, token in added if token.special]
    ours = BPETokenizer(merges, special_tokens, tokenizer.pre_tokenizer)
    try:
        their_ids = [vocab[bytes_to_symbols(token)] for token in ours.vocab[: ours.n_ordinary]]
    except KeyError as error:
        raise ValueError("the tokenizer lacks some of the 256 byte symbols: only byte-level "
                         "BPE with the whole byte alphabet can be read") from error
    their_ids += [tokenizer.token_to_id(s) for s in special_tokens]
    return ours, their_ids
