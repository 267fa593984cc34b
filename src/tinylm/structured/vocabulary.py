"""The vocabulary a constraint works over: every token as the bytes it spells.

A regex constrains *text*, but a model emits *token ids*. To know which ids may come next we
need, for each id, the exact bytes it adds to the text. For a byte-level BPE tokenizer (the
course's, GPT-2's, LLaMA 3's) that is easy: each token is a string of GPT-2's 256 byte symbols
("Ġcat" for b" cat"), which ``tinylm.bpe.symbols_to_bytes`` turns back into bytes. Tokens are
bytes, not characters: "é" is two bytes, and a byte-level vocabulary has tokens holding only
the first of them, so every step below works on bytes.

The shape is outlines-core's ``Vocabulary``: an end-of-sequence id, and a map from each token
(``bytes``, or ``str`` meaning its UTF-8 bytes) to the ids that spell it (several ids may spell
the same bytes). The EOS token is not in the map: it spells nothing, and a constraint allows it
exactly when the text so far is complete. Other special tokens (``<s>``, ``<pad>``) are left
out too, so they are never allowed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from tinylm.bpe import BYTE_TO_SYMBOL, symbols_to_bytes

_BYTE_SYMBOLS = frozenset(BYTE_TO_SYMBOL.values())


def _check_id(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{what} must be an int >= 0, got {value!r}")
    return int(value)


class Vocabulary:
    """Token bytes -> token ids, and the end-of-sequence id.

    >>> vocab = Vocabulary(eos_token_id=2, tokens={b"a": [4], "b": [5], b"ab": [6]})
    >>> len(vocab), vocab.eos_token_id, vocab.token_bytes(6)
    (4, 2, b'ab')

    ``len(vocab)`` counts the ids (the EOS one included), as outlines-core's does; ``size`` is
    one more than the largest id, the width of a mask over the model's logits.
    """

    def __init__(self, eos_token_id: int, tokens: Mapping[bytes | str, Sequence[int]]):
        self._eos_token_id = _check_id(eos_token_id, "eos_token_id")
        if not isinstance(tokens, Mapping):
            raise TypeError(f"tokens must be a mapping {{token: [ids]}}, got "
                            f"{type(tokens).__name__}")
        self._ids_of: dict[bytes, tuple[int, ...]] = {}
        self._bytes_of: dict[int, bytes] = {}
        for token, ids in tokens.items():
            self._add(token, ids)

    def _add(self, token: bytes | str, ids: Sequence[int]) -> None:
        if isinstance(token, str):
            token = token.encode("utf-8")
        if not isinstance(token, bytes):
            raise TypeError(f"a token must be bytes or str, got {type(token).__name__} "
                            f"({token!r})")
        if not token:
            raise ValueError("the empty token cannot be in a vocabulary: it spells nothing "
                             "(the EOS token is given as eos_token_id, not in the map)")
        if token in self._ids_of:
            raise ValueError(f"token {token!r} is given twice (as str and as bytes)")
        if isinstance(ids, (int, str, bytes)) or not isinstance(ids, Sequence) or not ids:
            raise TypeError(f"the ids of token {token!r} must be a non-empty list of ints, "
                            f"got {ids!r}")
        for token_id in ids:
            token_id = _check_id(token_id, f"an id of token {token!r}")
            if token_id == self._eos_token_id:
                raise ValueError(f"token {token!r} has the EOS id {token_id}: the EOS token "
                                 "must not be in the map")
            if token_id in self._bytes_of:
                raise ValueError(f"id {token_id} spells both {self._bytes_of[token_id]!r} "
                                 f"and {token!r}")
            self._bytes_of[token_id] = token
        self._ids_of[token] = tuple(int(i) for i in ids)

    # -- what it holds ------------------------------------------------------------------------

    @property
    def eos_token_id(self) -> int:
        return self._eos_token_id

    def __len__(self) -> int:
        return len(self._bytes_of) + 1

    @property
    def size(self) -> int:
        """One more than the largest id (EOS included): ids run 0 .. size - 1."""
        return max(self._eos_token_id, *self._bytes_of, 0) + 1

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes that ``token_id`` spells (the EOS id and special tokens spell none)."""
        if token_id not in self._bytes_of:
            what = "is the EOS id" if token_id == self._eos_token_id else "has no token"
            raise ValueError(f"token id {token_id!r} {what} in this vocabulary")
        return self._bytes_of[token_id]

    def token_ids(self, token: bytes | str) -> tuple[int, ...]:
        """The ids that spell ``token`` (KeyError if none does)."""
        return self._ids_of[token.encode("utf-8") if isinstance(token, str) else token]

    def items(self) -> Iterator[tuple[bytes, tuple[int, ...]]]:
        """(token bytes, its ids) pairs, in the order they were given."""
        return iter(self._ids_of.items())

    def __repr__(self) -> str:
        return f"Vocabulary(eos_token_id={self._eos_token_id}, {len(self._ids_of)} tokens)"

    # -- building one -------------------------------------------------------------------------

    @classmethod
    def from_tokenizer(cls, tokenizer, eos_token: str = "</s>") -> Vocabulary:
        """The vocabulary of a byte-level BPE tokenizer: a ``tokenizers.Tokenizer`` (such as
        ``tinylm.tokenizer.load_tokenizer()``) or a ``tinylm.bpe.BPETokenizer``.

        Every non-special token becomes its bytes; the id of ``eos_token`` becomes the EOS id;
        the other special tokens are left out.
        """
        from tinylm.bpe import BPETokenizer

        if isinstance(tokenizer, BPETokenizer):
            if eos_token not in tokenizer.special_ids:
                raise ValueError(f"the tokenizer has no {eos_token!r} token; its special "
                                 f"tokens are {list(tokenizer.special_ids)}")
            tokens = {tokenizer.vocab[i]: [i] for i in range(tokenizer.n_ordinary)}
            return cls(tokenizer.special_ids[eos_token], tokens)
        if not (hasattr(tokenizer, "get_vocab") and hasattr(tokenizer, "get_added_tokens_decoder")):
            raise TypeError("tokenizer must be a tokenizers.Tokenizer or a "
                            f"tinylm.bpe.BPETokenizer, got {type(tokenizer).__name__}")
        added = tokenizer.get_added_tokens_decoder()  # id -> AddedToken
        special = {t.content: i for i, t in added.items() if t.special}
        if eos_token not in special:
            raise ValueError(f"the tokenizer has no special token {eos_token!r}; its special "
                             f"tokens are {sorted(special)}")
        tokens: dict[bytes, list[int]] = {}
        for text, token_id in sorted(tokenizer.get_vocab(with_added_tokens=True).items(),
                                     key=lambda item: item[1]):
            if token_id in added:
                if added[token_id].special:
                    continue
                token = text.encode("utf-8")  # added tokens are plain text, not byte symbols
            else:
                if not set(text) <= _BYTE_SYMBOLS:
                    raise ValueError(f"token {token_id} ({text!r}) is not written in GPT-2's "
                                     "byte symbols: from_tokenizer reads byte-level BPE "
                                     "tokenizers only")
                token = symbols_to_bytes(text)
            tokens.setdefault(token, []).append(token_id)
        return cls(special[eos_token], tokens)

    def to_outlines(self):
        """The same vocabulary as an ``outlines_core.Vocabulary`` (to compare with it)."""
        import outlines_core

        return outlines_core.Vocabulary(self._eos_token_id,
                                        {token: list(ids) for token, ids in self._ids_of.items()})
