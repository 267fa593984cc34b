"""NGramLM.to_arpa against KenLM: KenLM reads our ARPA file and must score text as we do.

The oracle is the ``kenlm`` package (the query side of KenLM, Heafield 2011), which reads an
ARPA backoff model and scores a sentence from a single <s> with its own lookup and backoff
code. We fit Kneser-Ney on most of the Lee corpus, write the ARPA file, and compare log10
sentence probabilities on the held-out sentences, whose unseen words both map to <unk>.
KenLM's ``score`` adds the word scores in float32, so we sum ``full_scores`` in double.
"""

import math
import re
from collections import Counter

import kenlm
import numpy as np
import pytest

from tinylm import data
from tinylm.ngram import NGramLM

LOG10 = math.log(10)


@pytest.fixture(scope="module")
def corpus():
    sents = data.lee_sentences()
    held_out = sents[2300:] + [["zzqq", "the", "qwertyuiop", "zzqq"], ["the"], []]
    return sents[:2300], held_out


@pytest.fixture(scope="module", params=[2, 3, 4])
def written(request, corpus, tmp_path_factory):
    """(our model, the path of its ARPA file) for orders 2, 3 and 4."""
    train, _ = corpus
    lm = NGramLM(request.param, "kneser_ney").fit(train)
    path = tmp_path_factory.mktemp("arpa") / f"order{request.param}.arpa"
    lm.to_arpa(path)
    return lm, path


def kenlm_log10(model: kenlm.Model, sentences) -> np.ndarray:
    """KenLM's log10 P(sentence) (from one <s>, with </s>), the word scores summed in double."""
    return np.array([sum(p for p, _, _ in model.full_scores(" ".join(s))) for s in sentences])


def read_arpa(path):
    """Header counts {n: count} and sections {n: [line fields]} of an ARPA file."""
    header, sections, n = {}, {}, None
    for line in open(path, encoding="utf-8").read().splitlines():
        if m := re.fullmatch(r"ngram (\d+)=(\d+)", line):
            header[int(m[1])] = int(m[2])
        elif m := re.fullmatch(r"\\(\d+)-grams:", line):
            n = int(m[1])
            sections[n] = []
        elif line and n is not None and not line.startswith("\\"):
            sections[n].append(line.split("\t"))
    return header, sections


def test_kenlm_scores_held_out_sentences_as_we_do(written, corpus):
    lm, path = written
    train, held_out = corpus
    seen = {w for s in train for w in s}
    assert sum(w not in seen for s in held_out for w in s) > 50  # <unk> is really exercised
    ours = lm.sentence_logprobs(held_out) / LOG10
    theirs = kenlm_log10(kenlm.Model(str(path)), held_out)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)


def test_kenlm_scores_every_word_as_we_do(written, corpus):
    """Word by word on a few sentences: the padding is where the two readings could part."""
    lm, path = written
    model = kenlm.Model(str(path))
    for sent in corpus[1][:15] + corpus[1][-3:]:
        padded = ["<s>"] * (lm.order - 1) + sent + ["</s>"]
        ours = [lm.logprob(w, padded[i - lm.order + 1 : i]) / LOG10
                for i, w in enumerate(padded) if i >= lm.order - 1]
        theirs = [p for p, _, _ in model.full_scores(" ".join(sent))]
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("change", ["backoffs", "unk"])
def test_a_perturbed_arpa_file_scores_differently(written, corpus, tmp_path, change):
    """The oracle can fail: nudge the backoff weights, or <unk>'s probability, by 0.01 (log10)."""
    lm, path = written
    train, held_out = corpus
    lines = open(path, encoding="utf-8").read().splitlines()
    for i, line in enumerate(lines):
        fields = line.split("\t")
        if change == "backoffs" and len(fields) == 3:
            fields[2] = f"{float(fields[2]) + 0.01:.7f}"
        if change == "unk" and fields[1:2] == ["<unk>"]:
            fields[0] = f"{float(fields[0]) + 0.01:.7f}"
        lines[i] = "\t".join(fields)
    perturbed = tmp_path / "perturbed.arpa"
    perturbed.write_text("\n".join(lines) + "\n", encoding="utf-8")

    diff = np.abs(lm.sentence_logprobs(held_out) / LOG10
                  - kenlm_log10(kenlm.Model(str(perturbed)), held_out))
    assert diff.max() > 1e-3
    if change == "unk":  # exactly the sentences with an unseen word move
        seen = {w for s in train for w in s}
        has_unk = np.array([any(w not in seen for w in s) for s in held_out])
        assert (diff[has_unk] > 1e-3).all() and (diff[~has_unk] < 1e-4).all()


def test_arpa_counts_are_the_distinct_ngrams_of_the_training_text(written, corpus):
    """As KenLM's own estimator writes them: every word, then every distinct n-gram of the
    training sentences with one <s> in front and </s> at the end; the header says so."""
    lm, path = written
    train, _ = corpus
    header, sections = read_arpa(path)
    assert sorted(header) == sorted(sections) == list(range(1, lm.order + 1))
    assert {n: len(lines) for n, lines in sections.items()} == header

    expected = {1: len({w for s in train for w in s}) + 3}  # + <unk>, <s>, </s>
    for n in range(2, lm.order + 1):
        grams = Counter()
        for s in train:
            padded = ["<s>", *s, "</s>"]
            grams.update(tuple(padded[i : i + n]) for i in range(len(padded) - n + 1))
        expected[n] = len(grams)
    assert header == expected

    for n, lines in sections.items():  # log10 probability, n words, a backoff below the top
        assert all(len(f) == (2 if n == lm.order else 3) for f in lines)
        assert all(len(f[1].split()) == n and float(f[0]) < 0 for f in lines)
    assert {"<unk>", "<s>", "</s>"} <= {f[1] for f in sections[1]}
