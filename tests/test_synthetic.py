"""tinylm.synthetic: seeded stories, JSON records, arithmetic problems and the course corpus.

JSON records are checked against their schema with ``jsonschema``; arithmetic answers are
recomputed here from the numbers in each question and the calculations in each step.
"""

import json
import re

import jsonschema
import numpy as np
import pytest

from tinylm import synthetic
from tinylm.synthetic import (
    arithmetic_problems,
    course_corpus,
    course_documents,
    extract_answer,
    json_record_schema,
    json_records,
    stories,
)

GENERATORS = {
    "stories": stories,
    "json": json_records,
    "arithmetic": lambda n, seed: [p.text for p in arithmetic_problems(n, seed)],
}


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", GENERATORS)
def test_same_seed_same_text_different_seed_different_text(kind):
    make = GENERATORS[kind]
    assert make(50, 7) == make(50, 7)
    assert make(50, np.random.default_rng(7)) == make(50, 7)  # a Generator works like its seed
    a, b = make(50, 7), make(50, 8)
    assert sum(x != y for x, y in zip(a, b, strict=True)) > 45


@pytest.mark.parametrize("kind", GENERATORS)
def test_prefix_stable(kind):
    """The first k items of f(n, seed) are f(k, seed): each item is drawn after the previous."""
    make = GENERATORS[kind]
    assert make(40, 3)[:10] == make(10, 3)


def test_generator_advances():
    rng = np.random.default_rng(0)
    assert stories(5, rng) != stories(5, rng)


@pytest.mark.parametrize("bad", [-1, 2.0, "3", None, True])
def test_bad_n(bad):
    with pytest.raises(ValueError):
        stories(bad, 0)


@pytest.mark.parametrize("bad", [1.5, "0", None])
def test_bad_seed(bad):
    with pytest.raises(TypeError):
        json_records(1, bad)


def test_zero_items():
    assert stories(0) == json_records(0) == arithmetic_problems(0) == []


# ---------------------------------------------------------------------------------------------
# Stories
# ---------------------------------------------------------------------------------------------


def test_stories_are_stories():
    texts = stories(300, 0)
    assert len(set(texts)) == 300
    names = {name for name, _ in synthetic.NAMES}
    for text in texts:
        words = len(text.split())
        assert 50 <= words <= 160, text
        assert text[0].isupper() and text.endswith("."), text
        assert text.count('"') % 2 == 0 and text.count('"') >= 2, text  # dialogue, paired quotes
        assert "{" not in text and "}" not in text and "  " not in text, text
        # the moral ends the story
        assert re.search(r"(knew|learned|understood) that [^.]+\.$", text), text
        # the hero is named at least three times
        hero = re.search(r"named (\w+)", text)[1]
        assert hero in names and text.count(hero) >= 3, text


def test_stories_cover_every_theme_and_vary():
    texts = stories(400, 1)
    markers = {"sharing": "Let's play together|You can have a turn",
               "courage": "monster|found only",
               "honesty": "truth|glad you told me", "teamwork": "I can help!",
               "patience": "Good things take time", "kindness": "What is wrong",
               "lost": "I will help you look"}
    for theme, pattern in markers.items():
        share = np.mean([bool(re.search(pattern, t)) for t in texts])
        assert 0.07 < share < 0.25, (theme, share)  # about 1/7 each
    sentences = {s for t in texts for s in re.split(r"(?<=[.!?])\s+", t)}
    assert len(sentences) > 2000  # combinations, not a handful of fixed sentences


def test_pronouns_agree_with_the_hero():
    checked = 0
    for text in stories(300, 2):
        hero = re.search(r"named (\w+)", text)[1]
        he = dict(synthetic.NAMES)[hero]
        his = "his" if he == "he" else "her"
        m = re.search(r"named \w+\. (He|She) lived .* with (his|her) family", text)
        if m:
            assert (m[1].lower(), m[2]) == (he, his), text
            checked += 1
        m = re.search(r"monster in there\?\" (he|she) whispered", text)
        if m:
            assert m[1] == he, text
            checked += 1
    assert checked > 50


def test_every_grammar_symbol_is_reachable_and_defined():
    referenced = {s for alts in synthetic.STORY_GRAMMAR.values() for a in alts
                  for s in re.findall(r"\{(\w+)\}", a)}
    bindings = synthetic._story_bindings(np.random.default_rng(0))
    assert referenced <= set(synthetic.STORY_GRAMMAR) | set(bindings)
    assert set(synthetic.STORY_GRAMMAR) - {"story"} <= referenced


# ---------------------------------------------------------------------------------------------
# JSON records
# ---------------------------------------------------------------------------------------------


def test_json_records_valid_against_schema():
    schema = json_record_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    records = [json.loads(r) for r in json_records(600, 0)]
    for record in records:
        errors = list(validator.iter_errors(record))
        assert not errors, (record, errors[0].message)
    kinds = {r["kind"] for r in records}
    assert kinds == set(synthetic.RECORD_KINDS)


@pytest.mark.parametrize("kind", synthetic.RECORD_KINDS)
def test_json_records_of_one_kind(kind):
    validator = jsonschema.Draft202012Validator(json_record_schema(kind))
    for line in json_records(100, 5, kind=kind):
        record = json.loads(line)
        assert record["kind"] == kind
        validator.validate(record)
        assert line == json.dumps(record)  # plain json.dumps, keys in the schema's order
        assert list(record) == json_record_schema(kind)["required"]


def test_json_records_use_every_type():
    types = set()

    def walk(value):
        types.add(type(value).__name__)
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for line in json_records(200, 0):
        walk(json.loads(line))
    assert types == {"dict", "list", "str", "int", "float", "bool", "NoneType"}


def test_schema_rejects_wrong_records():
    validator = jsonschema.Draft202012Validator(json_record_schema())
    good = json.loads(json_records(1, 0, kind="person")[0])
    for change in ({"age": "forty"}, {"role": "astronaut"}, {"extra": 1}, {"height_m": True},
                   {"address": {"street": "1 Main Street", "city": "Paris"}}):
        assert not validator.is_valid({**good, **change}), change
    assert not validator.is_valid({k: v for k, v in good.items() if k != "email"})


def test_schema_is_a_copy():
    json_record_schema("event")["properties"].clear()
    assert json_record_schema("event")["properties"]
    with pytest.raises(ValueError):
        json_record_schema("animal")


# ---------------------------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------------------------

_STEP = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")
_PY = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__}


def test_arithmetic_answers_are_right():
    problems = arithmetic_problems(500, 0)
    for p in problems:
        question_numbers = [int(x) for x in re.findall(r"\d+", p.question)]
        expression_numbers = [int(x) for x in re.findall(r"\d+", p.expression)]
        # the formula uses the question's numbers (and the 2 of a perimeter), nothing else
        assert set(expression_numbers) - {2} <= set(question_numbers), p
        # evaluated independently of the package
        assert eval(p.expression, {"__builtins__": {}}) == p.answer, p  # noqa: S307
        # every step's calculation is right, and the last one gives the answer
        calcs = [_STEP.search(s) for s in p.steps[:-1]]
        assert all(calcs), p.steps
        for m in calcs:
            a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
            assert (a // b if op == "/" else _PY[op](a, b)) == c, m[0]
            if op == "/":
                assert a % b == 0, m[0]
        assert int(calcs[-1][4]) == p.answer
        assert p.answer >= 0
        assert extract_answer(p.text) == p.answer
        assert p.text.startswith(f"Question: {p.question}\nSolution: ")


def test_arithmetic_templates_all_used():
    questions = [p.question for p in arithmetic_problems(300, 1)]
    for key in ("gives", "boxes", "equally", "change", "pages", "years", "fence", "trips",
                "saves"):
        assert any(key in q for q in questions), key


@pytest.mark.parametrize("text, answer", [
    ("Answer: 42", 42), ("blah\nAnswer: 7\n", 7), ("Answer: -3", -3), ("Answer: 1\nAnswer: 2", 2),
    ("The answer is 42.", None), ("Answer: 42 apples", None), ("", None),
])
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


def test_evaluate_refuses_anything_but_arithmetic():
    assert synthetic.evaluate("2 * (3 + 4) - 10 // 5") == 12
    for bad in ("__import__('os')", "2 ** 3", "1.5 + 1", "x + 1"):
        with pytest.raises(ValueError):
            synthetic.evaluate(bad)


# ---------------------------------------------------------------------------------------------
# The course corpus
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus():
    return {split: course_documents(split) for split in ("train", "validation", "all")}


def test_corpus_sizes(corpus):
    everything = corpus["all"]
    sizes = {kind: sum(map(len, docs)) for kind, docs in everything.items()}
    counts = {kind: len(docs) for kind, docs in everything.items()}
    assert counts == {"wiki": 106, "lee": 300, **synthetic.CORPUS_SIZES}
    assert 2.5e6 < sizes["wiki"] < 3.2e6 and 0.3e6 < sizes["lee"] < 0.4e6
    assert 2.0e6 < sizes["stories"] < 3.0e6
    assert 0.6e6 < sizes["json"] < 1.0e6 and 0.6e6 < sizes["arithmetic"] < 1.0e6
    assert 6e6 < sum(sizes.values()) < 9e6  # a few MB


def test_corpus_split(corpus):
    for kind, docs in corpus["all"].items():
        train, validation = corpus["train"][kind], corpus["validation"][kind]
        assert len(train) + len(validation) == len(docs)
        assert sorted(train + validation) == sorted(docs)
        assert 0.04 <= len(validation) / len(docs) <= 0.06, kind
    flat = course_corpus("train")
    assert flat == [d for kind in synthetic.CORPUS_KINDS for d in corpus["train"][kind]]
    assert course_corpus("validation", kinds=["stories"]) == corpus["validation"]["stories"]


def test_corpus_deterministic_and_seeded(corpus):
    synthetic._corpus.cache_clear()
    assert course_documents("train") == corpus["train"]
    other = course_documents("all", seed=1)
    assert other["wiki"] == corpus["all"]["wiki"]  # the real text does not depend on the seed
    assert other["stories"] != corpus["all"]["stories"]


def test_corpus_bad_arguments():
    with pytest.raises(ValueError):
        course_corpus("test")
    with pytest.raises(ValueError):
        course_corpus(kinds=["tweets"])
