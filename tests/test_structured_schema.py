"""tinylm.structured.schema against outlines-core's build_regex_from_schema (0.2.14).

For every schema below but one the two regexes are the same text (asserted), and the same
language on sampled strings: random walks of the automaton of our regex (interegular), the
course's JSON records, and near-misses made by mutating those. Every accepted string parses
with json.loads and validates with jsonschema (against the schema without the value bounds
that neither regex expresses). Where this module departs from outlines-core on purpose
(schema.DIFFERENCES_FROM_OUTLINES), the tests pin the difference down exactly.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import struct

import interegular
import jsonschema
import outlines_core.json_schema as outlines_json
import pytest
from interegular.fsm import anything_else
from outlines_core.json_schema import build_regex_from_schema

from tinylm.structured import schema as schema_module
from tinylm.structured.schema import (
    DIFFERENCES_FROM_OUTLINES,
    IGNORED_KEYWORDS,
    VALUE_BOUND_KEYWORDS,
    json_scalar_text,
    regex_escape,
    regex_from_schema,
)
from tinylm.synthetic import json_record_schema, json_records

ADDRESS = {"type": "object", "properties": {"street": {"type": "string", "maxLength": 30},
                                            "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
           "required": ["street", "zip"]}
SCHEMAS = {
    "records": json_record_schema(),
    "person": json_record_schema("person"),
    "product": json_record_schema("product"),
    "event": json_record_schema("event"),
    "pydantic_user": {  # the shape pydantic's model_json_schema() writes
        "$defs": {"Address": ADDRESS}, "title": "User", "type": "object",
        "properties": {"name": {"title": "Name", "type": "string", "minLength": 1},
                       "age": {"anyOf": [{"type": "integer"}, {"type": "null"}],
                               "default": None},
                       "address": {"$ref": "#/$defs/Address"},
                       "tags": {"type": "array", "items": {"type": "string", "maxLength": 8},
                                "maxItems": 3}},
        "required": ["name", "address"]},
    "all_optional": {"type": "object", "properties": {
        "a": {"type": "integer"}, "b": {"type": "boolean"}, "c": {"enum": ["x", "y"]}}},
    "middle_required": {"type": "object", "required": ["b"], "properties": {
        "a": {"type": "number"}, "b": {"type": "null"}, "c": {"type": "string", "maxLength": 3}}},
    "enum_const": {"type": "object", "required": ["status", "version", "flags"], "properties": {
        "status": {"enum": ["ok", "error", None, 1, 2.5, "a.b*"]}, "version": {"const": 3},
        "flags": {"const": {"a": [True, False]}}}},
    "tuple": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"},
                                               {"type": "boolean"}]},
    "formats": {"type": "object", "required": ["day", "at", "id", "code"], "properties": {
        "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "id": {"type": "string", "format": "uuid"},
        "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"}}},
    "digits": {"type": "object", "required": ["n", "x"], "properties": {
        "n": {"type": "integer", "minDigits": 2, "maxDigits": 4},
        "x": {"type": "number", "maxDigitsFraction": 2, "minDigitsExponent": 1}}},
    "map": {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 1},
    "nullable_list": {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 1,
                      "maxItems": 3},
    "recursive": {"type": "object", "properties": {"value": {"type": "integer"},
                                                   "next": {"$ref": "#"}},
                  "required": ["value"]},
}
WHITESPACES = (None, r"[\n ]{0,2}")


def outlines_regex(schema, whitespace=None) -> str:
    text = json.dumps(schema)
    return (build_regex_from_schema(text) if whitespace is None
            else build_regex_from_schema(text, whitespace))


def without_bounds(schema):
    """The schema without the keywords neither regex expresses (minimum, uniqueItems, ...)."""
    if isinstance(schema, dict):
        return {k: without_bounds(v) for k, v in schema.items()
                if k not in VALUE_BOUND_KEYWORDS}
    if isinstance(schema, list):
        return [without_bounds(v) for v in schema]
    return schema


# ---------------------------------------------------------------------------------------------
# Sampling strings: random walks of a regex's automaton, JSON records, near-misses
# ---------------------------------------------------------------------------------------------

# Characters a walk may pick for interegular's "anything else" transition
EXTRA_CHARACTERS = "abcXYZ019 _-é中€😀\t"


class RandomWalker:
    """Random strings of a regular language: walk its interegular automaton from the initial
    state, only through states from which a final one can be reached, stopping at final
    states with probability ``stop``; past ``max_length`` characters, head for the nearest
    final state."""

    def __init__(self, regex: str):
        self.fsm = interegular.parse_pattern(regex).to_fsm()
        self.characters = {}
        known = {c for c in self.fsm.alphabet.keys() if c is not anything_else}
        for transition, chars in self.fsm.alphabet.by_transition.items():
            options = [c for c in chars if c is not anything_else]
            if anything_else in chars:
                options += [c for c in EXTRA_CHARACTERS if c not in known]
                options += [next(chr(i) for i in itertools.count(0x4E01) if chr(i) not in known)]
            self.characters[transition] = options
        self.distance = self._distance_to_final()

    def _distance_to_final(self) -> dict:
        parents = {}
        for state, moves in self.fsm.map.items():
            for nxt in moves.values():
                parents.setdefault(nxt, set()).add(state)
        distance = {s: 0 for s in self.fsm.finals}
        frontier = list(distance)
        while frontier:
            nxt_frontier = []
            for s in frontier:
                for p in parents.get(s, ()):
                    if p not in distance:
                        distance[p] = distance[s] + 1
                        nxt_frontier.append(p)
            frontier = nxt_frontier
        return distance

    def sample(self, rng: random.Random, stop: float = 0.2, max_length: int = 200) -> str:
        state, out = self.fsm.initial, []
        while True:
            if state in self.fsm.finals and (rng.random() < stop or len(out) >= max_length):
                return "".join(out)
            moves = [(t, n) for t, n in self.fsm.map.get(state, {}).items()
                     if n in self.distance and self.characters[t]]
            if not moves:  # a final state with no way on
                return "".join(out)
            if len(out) >= max_length:
                moves = [(t, n) for t, n in moves if self.distance[n] < self.distance[state]]
            transition, state = rng.choice(moves)
            out.append(rng.choice(self.characters[transition]))


def near_misses(text: str, rng: random.Random, n: int) -> list[str]:
    """Small edits of ``text``: delete, insert, replace or duplicate a character."""
    noise = '{}[]",:. 0159-+eEaz\\/n'
    out = []
    for _ in range(n):
        if not text:
            out.append(rng.choice(noise))
            continue
        i = rng.randrange(len(text))
        edit = rng.randrange(4)
        if edit == 0:
            out.append(text[:i] + text[i + 1:])
        elif edit == 1:
            out.append(text[:i] + rng.choice(noise) + text[i:])
        elif edit == 2:
            out.append(text[:i] + rng.choice(noise) + text[i + 1:])
        else:
            out.append(text[:i] + text[i] + text[i:])
    return out


def record_texts(schema_name: str, rng: random.Random) -> list[str]:
    """The course's records, written with each of the separators the regex allows."""
    kind = None if schema_name == "records" else schema_name
    texts = []
    for text in json_records(20, seed=rng.randrange(1000), kind=kind):
        value = json.loads(text)
        item, key = rng.choice([(", ", ": "), (",", ":"), (", ", ":")])
        texts.append(json.dumps(value, separators=(item, key), ensure_ascii=False))
    return texts


_WALKERS: dict[str, RandomWalker] = {}


def walker(name: str) -> RandomWalker:
    if name not in _WALKERS:
        _WALKERS[name] = RandomWalker(regex_from_schema(SCHEMAS[name]))
    return _WALKERS[name]


def parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# The same text, the same language
# ---------------------------------------------------------------------------------------------


# outlines-core lets "1." and "1e+" through for these (DIFFERENCES_FROM_OUTLINES)
DIFFERENT_TEXT = {"digits"}


@pytest.mark.parametrize("whitespace", WHITESPACES, ids=["default_ws", "newline_ws"])
@pytest.mark.parametrize("name", SCHEMAS)
def test_regex_text_equals_outlines_core(name, whitespace):
    ours = regex_from_schema(SCHEMAS[name], whitespace)
    assert (ours == outlines_regex(SCHEMAS[name], whitespace)) == (name not in DIFFERENT_TEXT)


@pytest.mark.parametrize("name", SCHEMAS)
def test_same_language_on_samples_and_accepted_strings_validate(name):
    schema = SCHEMAS[name]
    ours = re.compile(regex_from_schema(schema))
    theirs = re.compile(outlines_regex(schema))
    rng = random.Random(hash(name) % 1000)
    positives = [walker(name).sample(rng) for _ in range(60)]
    if name in ("records", "person", "product", "event"):
        positives += record_texts(name, rng)
    samples = positives + [m for p in positives for m in near_misses(p, rng, 4)]
    validator = jsonschema.Draft202012Validator(without_bounds(schema))
    accepted = 0
    for text in samples:
        ours_accepts = ours.fullmatch(text) is not None
        # the same language, except where outlines-core's lets non-JSON text through
        assert ours_accepts == (theirs.fullmatch(text) is not None and parses(text)), text
        if ours_accepts:
            accepted += 1
            validator.validate(json.loads(text))
    for text in positives:
        assert ours.fullmatch(text), text
    assert len(positives) < accepted < len(samples)  # some near-misses pass, most do not


def test_record_schema_validates_every_course_record():
    """The course's records themselves are in the record schema's language."""
    ours = re.compile(regex_from_schema(json_record_schema()))
    for text in json_records(200, seed=3):
        assert ours.fullmatch(text), text


def test_any_value_schema_on_random_json():
    """{} is any JSON value, objects and arrays nested two levels deep."""
    ours = re.compile(regex_from_schema({}))
    theirs = re.compile(outlines_regex({}))
    rng = random.Random(1)

    def value(depth):
        kind = rng.randrange(7 if depth < 2 else 5)
        if kind == 0:
            return rng.choice([True, False, None])
        if kind == 1:
            return rng.randint(-10**6, 10**6)
        if kind == 2:
            return round(rng.uniform(-100, 100), 3)
        if kind in (3, 4):
            return "".join(rng.choice("ab é\"\\/\n") for _ in range(rng.randrange(5)))
        if kind == 5:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        return {f"k{i}": value(depth + 1) for i in range(rng.randrange(3))}

    for _ in range(150):
        text = json.dumps(value(0), ensure_ascii=False)
        for sample in [text, *near_misses(text, rng, 3)]:
            assert (ours.fullmatch(sample) is None) == (theirs.fullmatch(sample) is None)
        assert ours.fullmatch(text), text


# ---------------------------------------------------------------------------------------------
# Pieces written as outlines-core writes them
# ---------------------------------------------------------------------------------------------


def test_building_blocks_equal_outlines_core():
    for name in ("STRING", "STRING_INNER", "INTEGER", "NUMBER", "BOOLEAN", "NULL",
                 "WHITESPACE", "DATE", "DATE_TIME", "UUID"):
        assert getattr(schema_module, name) == getattr(outlines_json, name), name


def test_regex_escape_is_rusts():
    """Rust's regex::escape escapes -, #, &, ~ but not spaces (unlike Python's re.escape)."""
    text = "a b.c-d#e&f~g*h"
    assert regex_escape(text) == r"a b\.c\-d\#e\&f\~g\*h"
    assert regex_from_schema({"const": text}) == outlines_regex({"const": text})
    assert re.fullmatch(regex_escape(text), text)


def test_numbers_are_written_as_serde_json_writes_them():
    rng = random.Random(0)
    values = [1.5, 1e20, 1e21, 1e-5, 1e-6, 2.5e-10, 123e18, -0.0, 1e15, 1e16, 100.0, 0.1,
              12345678901234567890, -3, 0, 5e-324, 1.7976931348623157e308]
    values += [round(rng.uniform(-1e6, 1e6), rng.randint(0, 6)) for _ in range(300)]
    values += [float(f"{rng.choice([1, 2, 5, 9, 123])}e{rng.randint(-22, 22)}")
               for _ in range(300)]
    for v in values:
        schema = {"const": v}
        assert regex_from_schema(schema) == outlines_regex(schema), v


def test_long_decimals_keep_their_exact_value():
    """serde_json (without float_roundtrip) may round a 17-digit decimal to a neighbouring
    float; this module writes the number that Python reads, so it always reads back."""
    rng = random.Random(2)
    for _ in range(500):
        v = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        if v != v or v in (float("inf"), float("-inf")):
            continue
        assert float(json_scalar_text(v)) == v
        assert float(re.sub(r"\\(.)", r"\1", regex_from_schema({"const": v}))) == v


def test_json_text_and_dict_give_the_same_regex():
    schema = SCHEMAS["pydantic_user"]
    assert regex_from_schema(json.dumps(schema)) == regex_from_schema(schema)


def test_ignored_keywords_change_nothing():
    bare = {"type": "object", "properties": {"n": {"type": "integer"},
                                             "xs": {"type": "array", "items": {"type": "number"}}},
            "required": ["n"]}
    decorated = json.loads(json.dumps(bare))
    decorated.update(title="T", description="d", default={}, examples=[{}])
    decorated["properties"]["n"].update(minimum=1, maximum=9, multipleOf=2)
    decorated["properties"]["xs"].update(uniqueItems=True, exclusiveMinimum=0)
    assert regex_from_schema(decorated) == regex_from_schema(bare)
    assert {"minimum", "title", "uniqueItems"} <= IGNORED_KEYWORDS


# ---------------------------------------------------------------------------------------------
# Where this module departs from outlines-core, on purpose
# ---------------------------------------------------------------------------------------------


def fsm(regex):
    return interegular.parse_pattern(regex).to_fsm()


@pytest.mark.parametrize("name", ["EMAIL", "URI"])
def test_email_and_uri_are_outlines_core_without_non_json_text(name):
    """Exactly outlines-core's language intersected with quote-, backslash- and
    control-free strings (equal automata)."""
    plain_strings = fsm(r'"[^"\\\x00-\x1F\x7F-\x9F]*"')
    ours, theirs = fsm(getattr(schema_module, name)), fsm(getattr(outlines_json, name))
    assert ours.equivalent(theirs & plain_strings)
    assert not theirs.issubset(plain_strings)  # outlines-core's own lets non-JSON text in
    fmt = name.lower()
    assert regex_from_schema({"type": "string", "format": fmt}) == getattr(schema_module, name)


def test_email_accepts_course_addresses_and_rejects_a_quoted_local_part():
    email = re.compile(regex_from_schema({"type": "string", "format": "email"}))
    theirs = re.compile(outlines_json.EMAIL)
    for text in json_records(30, seed=1, kind="person"):
        address = json.dumps(json.loads(text)["email"])
        assert email.fullmatch(address) and theirs.fullmatch(address)
    quoted = '""a.b"@example.com"'  # matches outlines-core's, but it is not a JSON string
    assert theirs.fullmatch(quoted) and not email.fullmatch(quoted)


def test_time_fraction_is_a_dot():
    ours = re.compile(regex_from_schema({"type": "string", "format": "time"}))
    theirs = re.compile(outlines_json.TIME)
    assert ours.fullmatch('"12:30:05"') and theirs.fullmatch('"12:30:05"')
    assert ours.fullmatch('"12:30:05.25Z"') and not theirs.fullmatch('"12:30:05.25Z"')
    assert theirs.fullmatch('"12:30:05\\x25"') and not ours.fullmatch('"12:30:05\\x25"')
    assert fsm(schema_module.TIME).equivalent(fsm(outlines_json.TIME.replace(r"(\\.", r"(\.")))


def test_property_names_and_const_keys_are_json_strings():
    quoted = {"type": "object", "properties": {'say "hi"': {"type": "integer"}},
              "required": ['say "hi"']}
    ours, theirs = re.compile(regex_from_schema(quoted)), re.compile(outlines_regex(quoted))
    assert ours.fullmatch(json.dumps({'say "hi"': 1}))
    assert theirs.fullmatch('{"say "hi"":1}') and not ours.fullmatch('{"say "hi"":1}')
    dotted = {"const": {"a.b": 1}}
    ours, theirs = re.compile(regex_from_schema(dotted)), re.compile(outlines_regex(dotted))
    assert ours.fullmatch('{"a.b": 1}') and theirs.fullmatch('{"a.b": 1}')
    assert theirs.fullmatch('{"aXb": 1}') and not ours.fullmatch('{"aXb": 1}')


def test_fraction_and_exponent_have_digits():
    schema = {"type": "number", "maxDigitsFraction": 2, "maxDigitsExponent": 2}
    ours, theirs = re.compile(regex_from_schema(schema)), re.compile(outlines_regex(schema))
    for text in ("1.", "1e+", "-2.e-"):
        assert theirs.fullmatch(text) and not ours.fullmatch(text)
    for text in ("1.25e+7", "-0.5e-12", "3e+1", "7"):
        assert theirs.fullmatch(text) and ours.fullmatch(text)


def test_all_of():
    one = {"allOf": [{"type": "integer"}]}
    assert regex_from_schema(one) == outlines_regex(one)
    two = {"allOf": [{"type": "integer"}, {"type": "null"}]}
    assert re.fullmatch(outlines_regex(two), "5null")  # outlines-core concatenates
    with pytest.raises(ValueError, match="allOf with 2 subschemas"):
        regex_from_schema(two)


def test_additional_properties_false_without_properties_is_the_empty_object():
    assert regex_from_schema({"type": "object", "additionalProperties": False}) == r"\{[ ]?\}"
    with pytest.raises(ValueError):
        outlines_regex({"type": "object", "additionalProperties": False})


def test_differences_are_documented():
    assert len(DIFFERENCES_FROM_OUTLINES) >= 6


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schema, message", [
    ({"type": "string", "not": {"const": ""}}, "unsupported JSON Schema keyword 'not' at #"),
    ({"properties": {"a": {"if": {}, "type": "null"}}},
     "keyword 'if' at #/properties/a"),
    ({"type": "string", "format": "hostname"}, "unsupported string format 'hostname'"),
    ({"type": "decimal"}, "unsupported type 'decimal'"),
    ({"title": "only a title"}, "says nothing about the value's type"),
    ({"$ref": "#/$defs/missing"}, "'\\$defs' not found"),
    ({"$ref": "https://example.com/s.json#/a"}, "points outside this schema"),
    ({"type": "array", "items": [{"type": "integer"}]}, "expected a schema"),
    ({"type": "string", "minLength": 3, "maxLength": 2}, "minLength 3 > maxLength 2"),
    (False, "no value is allowed"),
    ("{not json", "schema is not valid JSON"),
])
def test_errors_say_what_is_wrong(schema, message):
    with pytest.raises(ValueError, match=message):
        regex_from_schema(schema)


def test_type_errors():
    with pytest.raises(TypeError, match="schema must be a dict"):
        regex_from_schema(["type", "string"])
    with pytest.raises(TypeError, match="whitespace_pattern"):
        regex_from_schema({"type": "null"}, whitespace_pattern=1)


def test_recursion_is_unrolled_three_levels_as_outlines_core_does():
    schema = SCHEMAS["recursive"]
    ours = re.compile(regex_from_schema(schema))
    nested = {"value": 1}
    for depth in range(6):
        accepted = ours.fullmatch(json.dumps(nested)) is not None
        assert accepted == (depth <= 4), depth
        nested = {"value": depth, "next": nested}
    assert list(itertools.islice(walker("recursive").fsm.strings(), 1))
