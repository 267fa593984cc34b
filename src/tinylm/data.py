"""Real text for the course, read from files that installed packages ship: nothing is downloaded.

gensim's test data holds three small corpora we use:

- the Lee background corpus: 300 Australian news stories (``lee_background.cor``, ~360 kB);
- a sample of English Wikipedia: 206 pages of wiki markup in a ``.bz2`` (106 real articles once
  redirects are dropped, ~0.5 M words); we strip the markup with gensim's own ``filter_wiki``;
- 200 movie-review snippets labelled positive or negative (``pang_lee_polarity.cor``).

Text becomes sentences of lower-cased tokens with ``tokenize`` and ``split_sentences``.
Splits are deterministic: the same seed always gives the same train and test articles.
"""

from __future__ import annotations

import bz2
import functools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE_FILE = "lee_background.cor"
POLARITY_FILE = "pang_lee_polarity.cor"


def gensim_data(name: str) -> Path:
    """Path of a file in gensim's test data, with a clear error if gensim is missing."""
    try:
        from gensim.test.utils import datapath
    except ImportError as e:  # pragma: no cover - gensim is a declared dependency
        raise ImportError("tinylm.data needs gensim, which ships the corpora") from e
    path = Path(datapath(name))
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: reinstall gensim, which ships this file")
    return path


# ---------------------------------------------------------------------------------------------
# Tokens and sentences
# ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def tokenize(text: str) -> list[str]:
    """Lower-cased words (with inner apostrophes: "don't") and single punctuation marks."""
    return _TOKEN.findall(text.lower())


def split_sentences(text: str) -> list[str]:
    """Split after . ! or ? when the next word starts with a capital letter or a digit."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def sentences_of(texts: Sequence[str]) -> list[list[str]]:
    """Tokenised sentences of several texts."""
    return [tokenize(s) for text in texts for s in split_sentences(text)]


# ---------------------------------------------------------------------------------------------
# The corpora
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def lee_documents() -> tuple[str, ...]:
    """The 300 news stories of the Lee background corpus, one string each."""
    lines = gensim_data(LEE_FILE).read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip())


def lee_sentences() -> list[list[str]]:
    """The Lee corpus as tokenised sentences."""
    return sentences_of(lee_documents())


_WIKI_QUOTES = re.compile(r"'{2,}")
_WIKI_HEADING = re.compile(r"^=+.*=+$")
# What filter_wiki leaves of galleries ("File:x.jpg|caption") and of image links whose caption
# holds nested links ("...|thumb", "|alt=...", "|264x264px"): captions, not prose.
_WIKI_IMAGE = re.compile(r"^(File|Image):|\.(jpe?g|png|svg|gif|ogg|ogv)\s*\||\balt=|"
                         r"\|\s*(thumb|thumbnail|frameless|upright|left|right|center)\b|\d+px\b",
                         flags=re.IGNORECASE)


def _plain_wiki_text(markup: str) -> str:
    """Wiki markup -> prose: gensim's filter_wiki, then drop headings, bold/italic quotes,
    image captions, and the short lines that remain of tables and lists."""
    from gensim.corpora.wikicorpus import filter_wiki

    paragraphs = []
    for line in filter_wiki(markup).splitlines():
        line = _WIKI_QUOTES.sub("", line).strip()
        if _WIKI_HEADING.match(line) or _WIKI_IMAGE.search(line) or len(line.split()) < 8:
            continue
        paragraphs.append(re.sub(r"\s+", " ", line))
    return "\n".join(paragraphs)


@functools.lru_cache(maxsize=1)
def wiki_articles() -> tuple[tuple[str, str], ...]:
    """The Wikipedia sample as (title, plain text) pairs, redirects dropped, sorted by title."""
    from gensim.corpora.wikicorpus import extract_pages

    with bz2.open(gensim_data(WIKI_FILE)) as f:
        pages = list(extract_pages(f, filter_namespaces=("0",)))
    articles = []
    for title, markup, _page_id in pages:
        if markup.lstrip().lower().startswith("#redirect"):
            continue
        text = _plain_wiki_text(markup)
        if text:
            articles.append((title, text))
    return tuple(sorted(articles))


def train_test_split(items: Sequence, test_fraction: float = 0.1, seed: int = 0):
    """Shuffle with a fixed seed and cut: the same seed always gives the same two lists."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if len(items) < 2:
        raise ValueError(f"need at least 2 items to split, got {len(items)}")
    order = np.random.default_rng(seed).permutation(len(items))
    n_test = min(max(1, round(test_fraction * len(items))), len(items) - 1)  # both sides non-empty
    test = [items[i] for i in sorted(order[:n_test])]
    train = [items[i] for i in sorted(order[n_test:])]
    return train, test


def wiki_sentences(split: str = "train", test_fraction: float = 0.1,
                   seed: int = 0) -> list[list[str]]:
    """Tokenised sentences of the Wikipedia sample; ``split`` is "train", "test" or "all".

    Whole articles go to one side of the split, so no test sentence has a neighbour in training.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f'split must be "train", "test" or "all", got {split!r}')
    articles = wiki_articles()
    if split != "all":
        train, test = train_test_split(articles, test_fraction, seed)
        articles = train if split == "train" else test
    return sentences_of([text for _title, text in articles])


@functools.lru_cache(maxsize=1)
def polarity_snippets() -> tuple[tuple[str, str], ...]:
    """200 movie-review snippets as (label, text), label "pos" or "neg" (Pang and Lee, 2005)."""
    out = []
    # the file is Windows-1252 (its em dashes are byte 0x97), not UTF-8
    for line in gensim_data(POLARITY_FILE).read_text(encoding="cp1252").splitlines():
        label, _, text = line.partition(" ")
        if label.startswith("__label__"):
            out.append((label.removeprefix("__label__"), text.strip()))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Word-embedding benchmarks (gensim's test data) and the embedding corpus
# ---------------------------------------------------------------------------------------------


def analogy_questions_path() -> Path:
    """Mikolov et al.'s 19,544 analogy questions ("Athens Greece Baghdad Iraq") in 14 sections."""
    return gensim_data("questions-words.txt")


def wordsim353_path() -> Path:
    """WordSim353: 353 word pairs with human relatedness scores (0-10), tab-separated."""
    return gensim_data("wordsim353.tsv")


def simlex999_path() -> Path:
    """SimLex-999: 999 word pairs scored for similarity (not relatedness) by people (0-10)."""
    return gensim_data("simlex999.txt")


def embedding_corpus() -> list[list[str]]:
    """The corpus chapter 2 trains word vectors on: the Wikipedia training split followed by
    the Lee news corpus (about 0.5 M tokens), as tokenised sentences."""
    return wiki_sentences("train") + lee_sentences()
