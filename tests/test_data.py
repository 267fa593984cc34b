"""tinylm.data: tokenising, sentence splitting, the three corpora and the train/test split.

Counts are checked against the raw files that gensim ships, read here independently of the
functions under test.
"""

import bz2
import re

import pytest

from tinylm import data

# ---------------------------------------------------------------------------------------------
# Tokens and sentences
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("Hello World", ["hello", "world"]),
    ("Don't stop, it's late!", ["don't", "stop", ",", "it's", "late", "!"]),
    ("Pi is 3.14 (roughly).", ["pi", "is", "3", ".", "14", "(", "roughly", ")", "."]),
    ("Café naïve ÜBER", ["café", "naïve", "über"]),
    ("rock'n'roll", ["rock'n", "'", "roll"]),  # one inner apostrophe per word
    ("'quoted'", ["'", "quoted", "'"]),
    ("a--b", ["a", "-", "-", "b"]),
    ("", []),
    ("  \n\t ", []),
])
def test_tokenize(text, expected):
    assert data.tokenize(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("It rained. Then it stopped! Did it? Yes.",
     ["It rained.", "Then it stopped!", "Did it?", "Yes."]),
    ("See the value 3.5 in e.g. the table. It is small.",
     ["See the value 3.5 in e.g. the table.", "It is small."]),
    ("He left. \"Why?\" she asked.", ["He left.", "\"Why?\" she asked."]),
    ("Born in 1990. 2000 was later.", ["Born in 1990.", "2000 was later."]),
    ("no capital. so no split", ["no capital. so no split"]),
    ("  One.   Two.  ", ["One.", "Two."]),
    ("", []),
])
def test_split_sentences(text, expected):
    assert data.split_sentences(text) == expected


def test_sentences_of_tokenises_every_sentence_of_every_text():
    texts = ["A cat sat. It purred.", "Dogs bark!"]
    assert data.sentences_of(texts) == [["a", "cat", "sat", "."], ["it", "purred", "."],
                                        ["dogs", "bark", "!"]]


# ---------------------------------------------------------------------------------------------
# Lee corpus and polarity snippets
# ---------------------------------------------------------------------------------------------


def test_lee_documents_are_the_300_stories_of_the_file():
    docs = data.lee_documents()
    raw = data.gensim_data(data.LEE_FILE).read_text(encoding="utf-8")
    stories = [line.strip() for line in raw.splitlines() if line.strip()]
    assert len(docs) == 300 == len(stories)
    assert list(docs) == stories
    assert all(len(d.split()) > 20 for d in docs)  # real stories, not fragments
    assert len(data.lee_sentences()) > 2500


def polarity_file_text():
    """The snippets file is Windows-1252, not UTF-8: "\x97" is an em dash, "\xe9" an e-acute."""
    return data.gensim_data(data.POLARITY_FILE).read_bytes().decode("cp1252")


def test_polarity_file_has_100_positive_and_100_negative_snippets():
    raw = data.gensim_data(data.POLARITY_FILE).read_bytes()
    n_pos = len(re.findall(rb"^__label__pos ", raw, flags=re.M))
    n_neg = len(re.findall(rb"^__label__neg ", raw, flags=re.M))
    assert (n_pos, n_neg) == (100, 100)
    assert len(raw.splitlines()) == n_pos + n_neg


def test_polarity_snippets_match_the_labels_in_the_file():
    raw = polarity_file_text()
    snippets = data.polarity_snippets()
    labels = [label for label, _ in snippets]
    assert labels.count("pos") == len(re.findall(r"^__label__pos ", raw, flags=re.M)) == 100
    assert labels.count("neg") == len(re.findall(r"^__label__neg ", raw, flags=re.M)) == 100
    assert all(text and text == text.strip() and "__label__" not in text
               for _, text in snippets)
    lines = [re.match(r"__label__(\w+) (.*)$", line) for line in raw.splitlines()]
    assert list(snippets) == [(m.group(1), m.group(2).strip()) for m in lines]
    assert any("\u2014" in text for _, text in snippets)  # the em dashes survive


# ---------------------------------------------------------------------------------------------
# Wikipedia sample
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_pages():
    """(title, namespace, is_redirect) of every page in the dump, read with plain string ops."""
    text = bz2.open(data.gensim_data(data.WIKI_FILE)).read().decode("utf-8")
    pages = []
    for page in text.split("<page>")[1:]:
        title = re.search(r"<title>(.*?)</title>", page).group(1)
        ns = re.search(r"<ns>(\d+)</ns>", page).group(1)
        redirect = "<redirect" in page or re.search(r"<text[^>]*>\s*#redirect", page, re.I)
        pages.append((title, ns, bool(redirect)))
    return pages


@pytest.fixture(scope="module")
def articles():
    return data.wiki_articles()


def test_wiki_articles_drop_redirects_and_keep_real_articles(raw_pages, articles):
    import html

    redirects = {html.unescape(t) for t, ns, red in raw_pages if ns == "0" and red}
    real = {html.unescape(t) for t, ns, red in raw_pages if ns == "0" and not red}
    assert len(raw_pages) == 206 and len(redirects) > 50  # the dump is mostly redirects
    titles = [t for t, _ in articles]
    assert not set(titles) & redirects
    assert set(titles) <= real
    assert len(titles) >= 100
    assert not any(text.lstrip().lower().startswith("#redirect") for _, text in articles)


def test_wiki_titles_unique_and_sorted(articles):
    titles = [t for t, _ in articles]
    assert len(set(titles)) == len(titles)
    assert titles == sorted(titles)


MARKUP = ["[[", "]]", "{{", "}}", "'''", "''", "==", "<ref", "</ref", "|}", "{|", "|-", "<!--",
          "-->", "<br", "&nbsp;", "&amp;", "&quot;", "&lt;", "&gt;", "[http", "Category:",
          "__TOC__", "__NOTOC__"]


def test_wiki_text_has_no_markup_residue(articles):
    found = {m: [t for t, text in articles if m in text] for m in MARKUP}
    assert {m: ts for m, ts in found.items() if ts} == {}
    for _, text in articles:
        assert text == text.strip() and "\n\n" not in text
        assert not re.search(r"^=+.*=+$", text, flags=re.M)  # headings dropped


# Galleries (<gallery> blocks: "File:x.jpg|caption" lines) and image links whose parameters
# follow a caption with nested links ("...|thumb]]", "|alt=...", "|264x264px]]") survive
# gensim's filter_wiki.
IMAGE_RESIDUE = re.compile(r"^(File|Image):|\.(jpe?g|png|svg|gif|ogg|ogv)\s*\||\balt=|"
                           r"\|\s*thumb\b|\d+px\b", flags=re.I | re.M)


def test_wiki_text_has_no_image_or_gallery_residue(articles):
    hits = [(t, m.group(0)) for t, text in articles for m in IMAGE_RESIDUE.finditer(text)]
    assert hits == []


@pytest.fixture(scope="module")
def splits():
    return data.wiki_sentences("train"), data.wiki_sentences("test")


def test_wiki_split_is_by_article(articles, splits):
    train_a, test_a = data.train_test_split(articles, 0.1, 0)
    train_titles, test_titles = {t for t, _ in train_a}, {t for t, _ in test_a}
    assert not train_titles & test_titles
    assert train_titles | test_titles == {t for t, _ in articles}
    assert len(test_a) == round(0.1 * len(articles))
    train, test = splits
    assert train == data.sentences_of([text for _, text in train_a])
    assert test == data.sentences_of([text for _, text in test_a])
    # every test article's own sentences are absent from the training sentences (almost: a
    # short stock phrase may occur in two articles)
    train_set = {tuple(s) for s in train}
    long_test = [tuple(s) for s in test if len(s) >= 12]
    assert len(long_test) > 200
    assert sum(s in train_set for s in long_test) <= 0.01 * len(long_test)


def test_wiki_split_deterministic_and_seeded(articles, splits):
    train, test = splits
    assert data.wiki_sentences("test") == test
    assert data.wiki_sentences("train", seed=0) == train
    assert data.wiki_sentences("test", seed=1) != test
    titles = {seed: {t for t, _ in data.train_test_split(articles, 0.1, seed)[1]}
              for seed in range(4)}
    assert len({frozenset(ts) for ts in titles.values()}) == 4  # four seeds, four test sets
    assert len(data.wiki_sentences("all")) == len(train) + len(test)


def test_wiki_train_split_is_big_enough_for_the_benchmark(splits):
    train, _ = splits
    tokens = sum(len(s) + 1 for s in train)  # one </s> per sentence
    assert tokens >= 500_000
    assert all(s for s in train)  # no empty sentences


def test_wiki_sentences_rejects_unknown_split():
    with pytest.raises(ValueError, match="split"):
        data.wiki_sentences("validation")


# ---------------------------------------------------------------------------------------------
# train_test_split
# ---------------------------------------------------------------------------------------------


def test_train_test_split_partitions_in_original_order():
    items = list(range(50))
    train, test = data.train_test_split(items, test_fraction=0.2, seed=3)
    assert len(test) == 10 and len(train) == 40
    assert sorted(train + test) == items
    assert train == sorted(train) and test == sorted(test)
    assert data.train_test_split(items, 0.2, 3) == (train, test)
    assert data.train_test_split(items, 0.2, 4) != (train, test)


def test_train_test_split_puts_at_least_one_item_in_test():
    train, test = data.train_test_split(["a", "b"], test_fraction=0.01)
    assert train == ["a"] or train == ["b"]
    assert len(test) == 1


def test_train_test_split_puts_at_least_one_item_in_train():
    train, test = data.train_test_split(list(range(3)), test_fraction=0.99)
    assert len(train) >= 1 and len(test) == 3 - len(train)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_train_test_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        data.train_test_split(list(range(10)), test_fraction=fraction)


@pytest.mark.parametrize("items", [[], ["only"]])
def test_train_test_split_rejects_too_few_items(items):
    with pytest.raises(ValueError, match="at least 2"):
        data.train_test_split(items)
