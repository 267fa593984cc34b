"""Regexes shared by the tests of tinylm.structured: JSON Schemas turned into regexes by
outlines-core (the regexes the index must handle), each with instances that match it."""

import json

from outlines_core.json_schema import build_regex_from_schema

from tinylm.synthetic import json_record_schema, json_records

NESTED_ENUMS = {
    "type": "object",
    "properties": {
        "status": {"enum": ["draft", "published", 3, None]},
        "meta": {"type": "object",
                 "properties": {"version": {"const": 2},
                                "tags": {"type": "array", "items": {"type": "string",
                                                                    "maxLength": 8},
                                         "minItems": 1, "maxItems": 3}},
                 "required": ["version", "tags"]},
    },
    "required": ["status", "meta"],
}
FORMATS = {
    "type": "object",
    "properties": {
        "day": {"type": "string", "format": "date"},
        "id": {"type": "string", "format": "uuid"},
        "at": {"type": "string", "format": "time"},
        "code": {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"},
        "name": {"type": "string", "minLength": 2, "maxLength": 6},
    },
    "required": ["day", "id", "at", "code", "name"],
}
NUMBERS = {
    "type": "object",
    "properties": {
        "n": {"type": "integer"},
        "x": {"type": "number"},
        "ok": {"type": "boolean"},
        "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "ints": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 4},
    },
    "required": ["n", "x", "ok", "maybe", "ints"],
}


def _regex(schema) -> str:
    return build_regex_from_schema(json.dumps(schema))


SCHEMA_REGEXES = {  # name -> (regex, instances)
    "records": (_regex(json_record_schema()), json_records(3, seed=0)),
    "person": (_regex(json_record_schema("person")), json_records(2, seed=1, kind="person")),
    "nested_enums": (_regex(NESTED_ENUMS), [
        json.dumps({"status": "draft", "meta": {"version": 2, "tags": ["a", "naïve"]}},
                   ensure_ascii=False),
        json.dumps({"status": None, "meta": {"version": 2, "tags": ["x", "y", "zé日"]}},
                   ensure_ascii=False)]),
    "formats": (_regex(FORMATS), [json.dumps(
        {"day": "2025-03-14", "id": "0f8fad5b-d9cb-469f-a165-70867728950e", "at": "09:30:00",
         "code": "AB-123", "name": "Zoë"}, ensure_ascii=False)]),
    "numbers": (_regex(NUMBERS), [
        json.dumps({"n": -12, "x": 3.25, "ok": True, "maybe": None, "ints": [1, 2, 3]}),
        json.dumps({"n": 0, "x": -1.5e+3, "ok": False, "maybe": 7, "ints": [10, 0]})]),
}
