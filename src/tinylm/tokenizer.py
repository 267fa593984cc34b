"""The course tokenizer: byte-level BPE with a 4,096-token vocabulary, trained on the course corpus.

Byte-level BPE (GPT-2's scheme, trained here with Hugging Face's ``tokenizers`` library) works in
three stages:

1. Pre-tokenise: split the text into pieces (words with their leading space, runs of
   punctuation, single digits) and write each piece's UTF-8 bytes as 256 printable characters
   ("Ġ" stands for the space byte), so any text, in any script, is a string over 256 symbols.
2. Train: start from the 256 byte symbols and repeatedly merge the most frequent adjacent pair
   of symbols within pieces into a new symbol, until the vocabulary has ``vocab_size`` entries.
   The merges, in order, are the model.
3. Encode a new piece by applying the merges in that order; decode by joining the symbols and
   turning them back into bytes. No text is ever "unknown": every byte is in the vocabulary.

Digits are split one by one before the merges, as LLaMA does, so "1234" is always four tokens
and numbers line up digit by digit for the arithmetic of chapters 9 and 10.

Special tokens and ids follow LLaMA's layout, so ``LlamaConfig``'s defaults (bos 1, eos 2)
fit: ``<unk>`` = 0 (reserved; byte-level BPE never needs it), ``<s>`` = 1 (beginning of
sequence, which ``encode`` puts in front of every text, as LLaMA's tokenizer does), ``</s>`` = 2
(end of sequence: generation stops there) and ``<pad>`` = 3 (fills batches of prompts of
different lengths; LLaMA has none). Pass ``add_special_tokens=False`` to ``encode`` for the bare
tokens; ``decode`` drops special tokens unless told otherwise.

The trained tokenizer is in the package, ``tinylm/zoo/tokenizer.json``; ``load_tokenizer()``
reads it with no network access. ``train_course_tokenizer()`` is the command that made it.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

UNK, BOS, EOS, PAD = "<unk>", "<s>", "</s>", "<pad>"
SPECIAL_TOKENS = (UNK, BOS, EOS, PAD)
UNK_ID, BOS_ID, EOS_ID, PAD_ID = range(4)
VOCAB_SIZE = 4096
ZOO_TOKENIZER = "tokenizer.json"


def course_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """The course's pre-tokeniser (stage 1 above): ``Digits`` splits off every numeric
    character, then GPT-2's regular expression cuts words with their leading space,
    contractions, runs of punctuation and of whitespace, and ``ByteLevel`` writes the pieces in
    GPT-2's 256 byte symbols."""
    return pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])


def _empty_tokenizer() -> Tokenizer:
    """A byte-level BPE tokenizer with no merges yet: pre-tokeniser, decoder, post-processor."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = course_pre_tokenizer()
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def train_tokenizer(documents: Iterable[str], vocab_size: int = VOCAB_SIZE,
                    min_frequency: int = 2) -> Tokenizer:
    """Train byte-level BPE on ``documents``; the vocabulary holds the 4 special tokens, the
    256 byte symbols and ``vocab_size - 260`` merged symbols (fewer if the text runs out of
    pairs seen ``min_frequency`` times).

    Training has no randomness: the same documents give the same tokenizer, merge for merge
    (ties between equally frequent pairs go to the pair of smaller token ids).
    """
    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise ValueError(f"vocab_size must be at least 260 (4 special tokens + 256 bytes), "
                         f"got {vocab_size}")
    documents = list(documents)
    tokenizer = _empty_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, seen or not
    )
    tokenizer.train_from_iterator(documents, trainer=trainer, length=len(documents))
    ids = [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS]
    assert ids == [UNK_ID, BOS_ID, EOS_ID, PAD_ID], ids
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, BOS_ID)])
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, path: str | Path) -> Path:
    """Write the tokenizer as JSON (the format ``transformers`` reads as ``tokenizer.json``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tokenizer.to_str(pretty=True) + "\n", encoding="utf-8")
    return path


def zoo_path(name: str) -> Path:
    """Path of a file in the package's model zoo, ``tinylm/zoo``."""
    return Path(str(resources.files("tinylm") / "zoo" / name))


def load_tokenizer(path: str | Path | None = None) -> Tokenizer:
    """The course tokenizer from the zoo (or the tokenizer saved at ``path``), offline.

    >>> tok = load_tokenizer()
    >>> tok.decode(tok.encode("Once upon a time").ids)
    'Once upon a time'
    """
    path = zoo_path(ZOO_TOKENIZER) if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: reinstall tinylm, or rebuild it with "
                                "tinylm.tokenizer.build_zoo_tokenizer()")
    return Tokenizer.from_str(path.read_text(encoding="utf-8"))


def train_course_tokenizer(seed: int = 0, vocab_size: int = VOCAB_SIZE) -> Tokenizer:
    """The course tokenizer: trained on the training split of ``tinylm.synthetic.course_corpus``."""
    from tinylm.synthetic import course_corpus

    return train_tokenizer(course_corpus("train", seed=seed), vocab_size=vocab_size)


def build_zoo_tokenizer(path: str | Path | None = None) -> Path:
    """Train the course tokenizer from seed 0 and write it to the zoo (or to ``path``)."""
    return save_tokenizer(train_course_tokenizer(seed=0),
                          zoo_path(ZOO_TOKENIZER) if path is None else path)


def chars_per_token(tokenizer: Tokenizer, documents: Iterable[str]) -> float:
    """Compression: characters of text per token, special tokens not counted."""
    documents = list(documents)
    encodings = tokenizer.encode_batch(documents, add_special_tokens=False)
    return sum(map(len, documents)) / max(1, sum(len(e.ids) for e in encodings))


def to_transformers(tokenizer: Tokenizer | None = None):
    """The tokenizer as a ``transformers.PreTrainedTokenizerFast`` (the course tokenizer by
    default), with its bos, eos, pad and unk tokens set, for ``transformers`` models."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=load_tokenizer() if tokenizer is None else tokenizer,
        bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK)
