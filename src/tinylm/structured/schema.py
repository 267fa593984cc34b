"""JSON Schema -> regular expression: the language of every JSON text the schema allows.

A constraint on generation must be something the token index can walk: a regular expression,
hence a finite automaton. Most schemas that people write for extraction and tool calls are
regular once whitespace is fixed: an object with known properties is a fixed sequence of
``"name": value`` pairs, an enum is an alternation, a string is a run of allowed characters
between quotes. ``regex_from_schema`` builds that regular expression piece by piece, exactly as
``outlines_core.json_schema.build_regex_from_schema`` (outlines-core 0.2.14) does, so that the
two give the same language (the tests check it; most of the time even the same text):

- a schema is read by the FIRST of these keys it holds, the rest of its keys are not looked at:
  ``properties``, ``allOf``, ``anyOf``, ``oneOf``, ``prefixItems``, ``enum``, ``const``,
  ``$ref``, ``type``; the empty schema ``{}`` means any JSON value;
- objects with ``properties`` list them in the schema's order, required ones always, optional
  ones maybe; no other property may appear (``additionalProperties`` is not looked at: the
  language only ever holds the declared properties). Objects without ``properties`` take any
  string keys whose values follow ``additionalProperties`` (any value, two levels deep, if
  absent); ``maxProperties: 0`` allows only ``{}`` and ``minProperties >= 1`` forbids it, but
  counts are not bounded otherwise;
- ``anyOf`` and ``oneOf`` are alternations: a regular expression cannot say "exactly one";
- ``$ref`` follows local references (``#/$defs/name``, ``#``), recursion three levels deep;
- strings: ``minLength``/``maxLength``, ``pattern``, or a ``format`` among date-time, date,
  time, uuid, uri and email; integers and numbers: outlines' digit-count bounds (``minDigits``,
  ``maxDigitsFraction``, ...); arrays: ``items`` with ``minItems``/``maxItems``, ``prefixItems``.

Value bounds (``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``,
``multipleOf``) and ``uniqueItems`` are NOT expressed, as in outlines-core: a regex of every
integer between 1 and 99999 is possible but large, and uniqueness is not regular. They are
ignored (``IGNORED_KEYWORDS``); validate the parsed result if they matter. Any other keyword
raises a ValueError that names it, rather than being silently dropped.

Where outlines-core's regex lets through text that is not JSON, this module does not follow it
(``DIFFERENCES_FROM_OUTLINES`` lists each case): property names and const keys are written as
JSON strings, the time format's fraction is ``\\.[0-9]+`` (outlines-core's has a doubled
backslash), the email and uri formats leave out quotes, backslashes and control characters,
a bounded fraction or exponent keeps at least one digit, and ``allOf`` with several subschemas
is refused (outlines-core concatenates them).
"""

from __future__ import annotations

import json
import math

# ---------------------------------------------------------------------------------------------
# The building blocks: one regular expression per JSON type (outlines-core's types.rs)
# ---------------------------------------------------------------------------------------------

# One character of a JSON string: anything but the quote, the backslash and control characters,
# or one of the two-character escapes. (``\uXXXX`` escapes are not generated, as in outlines.)
STRING_INNER = r'([^"\\\x00-\x1F\x7F-\x9F]|\\["\\/bfnrt])'
STRING = rf'"{STRING_INNER}*"'
INTEGER = r"(-)?(0|[1-9][0-9]*)"  # no leading zeros, as JSON says
NUMBER = rf"({INTEGER})(\.[0-9]+)?([eE][+-][0-9]+)?"  # the exponent's sign is required
BOOLEAN = r"(true|false)"
NULL = r"null"
WHITESPACE = r"[ ]?"  # between tokens: at most one space, so the model cannot ramble in blanks

# String formats. date, date-time and uuid are outlines-core's text; time, uri and email are
# outlines-core's with the parts that are not valid inside a JSON string taken out.
DATE_TIME = (r'"(-?(?:[1-9][0-9]*)?[0-9]{4})-(1[0-2]|0[1-9])-(3[01]|0[1-9]|[12][0-9])'
             r'T(2[0-3]|[01][0-9]):([0-5][0-9]):([0-5][0-9])(\.[0-9]{3})?(Z)?"')
DATE = r'"(?:\d{4})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[1-2][0-9]|3[0-1])"'
TIME = r'"(2[0-3]|[01][0-9]):([0-5][0-9]):([0-5][0-9])(\.[0-9]+)?(Z)?"'
UUID = r'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"'
_NOT_JSON = r'"\\\x00-\x1F\x7F-\x9F'  # what a free-text class must also leave out
URI = (rf'"(?:(https?|ftp):\/\/([^\s:@{_NOT_JSON}]+(:[^\s:@{_NOT_JSON}]*)?@)?'
       r'([a-zA-Z\d.-]+\.[a-zA-Z]{2,}|localhost)(:\d+)?'
       rf'(\/[^\s?#{_NOT_JSON}]*)?(\?[^\s#{_NOT_JSON}]*)?(#[^\s{_NOT_JSON}]*)?'
       rf'|urn:[a-zA-Z\d][a-zA-Z\d\-]{{0,31}}:[^\s{_NOT_JSON}]+)"')
_OCTET = r"(2(5[0-5]|[0-4][0-9])|1[0-9][0-9]|[1-9]?[0-9])"
EMAIL = (r'"(?:[a-z0-9!#$%&' + "'" + r'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&' + "'"
         + r'*+/=?^_`{|}~-]+)*)@(?:(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+'
         + r'[a-z0-9](?:[a-z0-9-]*[a-z0-9])?|\[(?:(?:' + _OCTET + r')\.){3}(?:' + _OCTET
         + r'|[a-z0-9-]*[a-z0-9]:(?:[\x21\x23-\x5b\x5d-\x7e])+)\])"')
FORMATS = {"date-time": DATE_TIME, "date": DATE, "time": TIME, "uuid": UUID, "uri": URI,
           "email": EMAIL}

DIFFERENCES_FROM_OUTLINES = {
    "property names": "outlines-core regex-escapes a property name but does not JSON-escape "
                      "it (a name holding a quote gives invalid JSON); here it is JSON-escaped",
    "const/enum object keys": "outlines-core writes them raw (not even regex-escaped, so 'a.b' "
                              "matches 'aXb'); here they are JSON strings, regex-escaped",
    "format time": "outlines-core's fraction is '(\\\\.[0-9]+)?', a literal backslash then any "
                   "character; here '(\\.[0-9]+)?', a dot then digits",
    "format uri, email": "outlines-core's regexes allow quotes, backslashes and control "
                         "characters (RFC 5322 quoted local parts); here those are left out: "
                         "the language is outlines-core's intersected with STRING",
    "numbers in const/enum": "outlines-core reads them with serde_json, which rounds some "
                             "long decimals (16+ digits, integers beyond 64 bits) to a "
                             "neighbouring float; here the number is written as Python reads it",
    "maxDigitsFraction, maxDigitsExponent": "outlines-core writes '{0,max}' digits, so '1.' "
                                            "and '1e+' match; here '{1,max}'",
    "allOf": "outlines-core concatenates the subschemas' regexes, which is not their "
             "intersection; here allOf with one subschema is that subschema, more is an error",
    "additionalProperties: false without properties": "outlines-core raises; here the only "
                                                       "such object is {}",
    "boolean schemas": "outlines-core raises on true/false as a schema; here true is {} (any "
                       "value) and false raises",
}

# ---------------------------------------------------------------------------------------------
# Which keywords mean what
# ---------------------------------------------------------------------------------------------

# Read by some branch of the translation.
SUPPORTED_KEYWORDS = frozenset({
    "properties", "required", "allOf", "anyOf", "oneOf", "prefixItems", "enum", "const",
    "$ref", "type", "items", "minItems", "maxItems", "minLength", "maxLength", "pattern",
    "format", "additionalProperties", "minProperties", "maxProperties", "depth", "$defs",
    "definitions", "minDigits", "maxDigits", "minDigitsInteger", "maxDigitsInteger",
    "minDigitsFraction", "maxDigitsFraction", "minDigitsExponent", "maxDigitsExponent",
})
# Accepted and not looked at: annotations change nothing, value bounds are not expressed.
ANNOTATION_KEYWORDS = frozenset({
    "$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated",
    "readOnly", "writeOnly", "contentMediaType", "contentEncoding",
})
VALUE_BOUND_KEYWORDS = frozenset({
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "uniqueItems",
})
IGNORED_KEYWORDS = ANNOTATION_KEYWORDS | VALUE_BOUND_KEYWORDS
MAX_REF_DEPTH = 3  # how many $ref levels deep recursion unrolls (outlines-core's default)
_ANY_VALUE_DEPTH = 2  # how deep "any object" / "any array" nest (outlines-core's default)


class _RefRecursionLimit(ValueError):
    """A recursive $ref went deeper than MAX_REF_DEPTH (an optional property then drops it)."""


# ---------------------------------------------------------------------------------------------
# Writing JSON values as regular expressions (const, enum)
# ---------------------------------------------------------------------------------------------

# The characters Rust's ``regex::escape`` escapes (Python's ``re.escape`` also escapes spaces).
_REGEX_META = set("\\.+*?()|[]{}^$#&-~")


def regex_escape(text: str) -> str:
    """``text`` as a regular expression that matches exactly it."""
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


def json_scalar_text(value) -> str:
    """A JSON scalar written as outlines-core writes it (Rust's serde_json): strings with
    non-ASCII characters kept, integers that fit 64 bits as digits, other numbers as the
    shortest float that reads back, in ``ryu``'s layout (``1e+20``, ``0.00001``, ``1e-6``)."""
    if value is None or isinstance(value, (bool, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int) and -2**63 <= value < 2**64:
        return str(value)
    if isinstance(value, (int, float)):
        return _ryu_text(float(value))
    raise TypeError(f"expected a JSON scalar, got {type(value).__name__}")


def _ryu_text(x: float) -> str:
    """A float as Rust's ryu prints it: Python's shortest round-trip digits, then decimal
    notation for 1e-5 <= |x| < 1e16 and ``d.ddde+N`` / ``de-N`` otherwise."""
    if not math.isfinite(x):
        raise ValueError(f"JSON has no {x}")
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    mantissa, _, exponent = repr(abs(x)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0") or "0"
    # the value is 0.DIGITS * 10**point
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(
        (whole + fraction).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    if digits == "0":
        return sign + "0.0"
    if 0 < point <= 16:  # decimal point inside or after the digits
        if point >= len(digits):
            return sign + digits + "0" * (point - len(digits)) + ".0"
        return sign + digits[:point] + "." + digits[point:]
    if -5 < point <= 0:  # 0.000ddd
        return sign + "0." + "0" * -point + digits
    exp = point - 1
    exp_text = f"e{'+' if exp >= 0 else '-'}{abs(exp)}"
    if len(digits) == 1:
        return sign + digits + exp_text
    return sign + digits[0] + "." + digits[1:] + exp_text


# ---------------------------------------------------------------------------------------------
# The translation
# ---------------------------------------------------------------------------------------------


def regex_from_schema(schema: dict | str | bool, whitespace_pattern: str | None = None) -> str:
    """The regular expression of every JSON text that ``schema`` allows (see the module doc).

    schema: a JSON Schema as a dict (or bool), or as JSON text.
    whitespace_pattern: what may stand between JSON tokens (default ``[ ]?``: one space or
        none). Pass e.g. ``r"[ \\n]*"`` to allow newlines.

    >>> regex_from_schema({"type": "object", "properties": {"ok": {"type": "boolean"}},
    ...                    "required": ["ok"]})
    '\\\\{[ ]?"ok"[ ]?:[ ]?(true|false)[ ]?\\\\}'
    """
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as error:
            raise ValueError(f"schema is not valid JSON: {error}") from None
    if not isinstance(schema, (dict, bool)):
        raise TypeError(f"schema must be a dict (or JSON text of one), got "
                        f"{type(schema).__name__}")
    if whitespace_pattern is not None and not isinstance(whitespace_pattern, str):
        raise TypeError(f"whitespace_pattern must be a str or None, got "
                        f"{type(whitespace_pattern).__name__}")
    translator = _SchemaTranslator(schema, WHITESPACE if whitespace_pattern is None
                                   else whitespace_pattern)
    return translator.to_regex(schema, "#")


class _SchemaTranslator:
    """Walks a schema, as outlines-core's ``Parser``: ``root`` for references, ``ws`` the
    whitespace pattern, ``ref_depth`` how many $ref are being followed."""

    def __init__(self, root, whitespace: str):
        self.root = root
        self.ws = whitespace
        self.ref_depth = 0

    def to_regex(self, schema, path: str) -> str:
        """The regex of one (sub)schema; ``path`` locates it in error messages."""
        if schema is True:
            schema = {}
        if schema is False:
            raise ValueError(f"the schema at {path} is false: no value is allowed")
        if not isinstance(schema, dict):
            raise ValueError(f"expected a schema (a JSON object) at {path}, got {schema!r}")
        _check_keywords(schema, path)
        if not schema:
            return self.any_value()
        for key, translate in (("properties", self.properties), ("allOf", self.all_of),
                               ("anyOf", self.any_of), ("oneOf", self.one_of),
                               ("prefixItems", self.prefix_items), ("enum", self.enum),
                               ("const", self.const), ("$ref", self.ref), ("type", self.type)):
            if key in schema:
                return translate(schema, path)
        raise ValueError(f"the schema at {path} says nothing about the value's type (no "
                         f"properties, allOf, anyOf, oneOf, prefixItems, enum, const, $ref or "
                         f"type; keys: {sorted(schema)}); use {{}} for any value")

    def any_value(self) -> str:
        """{}: a boolean, null, number, integer, string, array or object."""
        kinds = ("boolean", "null", "number", "integer", "string", "array", "object")
        return "|".join(f"({self.to_regex({'type': k}, '#')})" for k in kinds)

    # --- objects with properties ---------------------------------------------------------

    def properties(self, schema, path) -> str:
        """Properties in the schema's order; each required one present, each optional one
        perhaps. Commas: the properties before the last required one carry a comma after
        them, those after it a comma before them, so any choice of optional ones is valid."""
        properties = _expect(schema["properties"], dict, "properties", path)
        required = schema.get("required")
        required = [r for r in required if isinstance(r, str)] if isinstance(required, list) \
            else []
        ws = self.ws
        pieces = []  # (position, is_required, '"name": value') of each property kept
        for position, (name, subschema) in enumerate(properties.items()):
            key = regex_escape(json.dumps(name, ensure_ascii=False))
            try:
                value = self.to_regex(subschema, f"{path}/properties/{name}")
            except _RefRecursionLimit:
                continue  # a recursion too deep: leave this property out
            pieces.append((position, name in required, f"{ws}{key}{ws}:{ws}{value}"))
        required_positions = [i for i, name in enumerate(properties) if name in required]
        regex = r"\{"
        if required_positions:
            last_required = required_positions[-1]
            for position, is_required, piece in pieces:
                if position < last_required:
                    piece = f"{piece}{ws},"
                elif position > last_required:
                    piece = f"{ws},{piece}"
                regex += piece if is_required else f"({piece})?"
        else:  # all optional: pick the first one present; each one before it may be there too
            alternatives = []
            for i, (_, _, piece) in enumerate(pieces):
                before = "".join(f"({p}{ws},)?" for _, _, p in pieces[:i])
                alternatives.append(before + piece)
            regex += f"({'|'.join(alternatives)})?"
        return regex + rf"{ws}\}}"

    # --- combinations --------------------------------------------------------------------

    def all_of(self, schema, path) -> str:
        subschemas = _expect(schema["allOf"], list, "allOf", path)
        if len(subschemas) != 1:
            raise ValueError(f"allOf with {len(subschemas)} subschemas at {path} is not "
                             "supported: a value must match all of them, and a regex cannot "
                             "intersect them simply (outlines-core concatenates them, which is "
                             "wrong); merge them into one schema")
        return f"({self.to_regex(subschemas[0], f'{path}/allOf/0')})"

    def any_of(self, schema, path) -> str:
        subschemas = _expect(schema["anyOf"], list, "anyOf", path)
        return "(" + "|".join(self.to_regex(s, f"{path}/anyOf/{i}")
                              for i, s in enumerate(subschemas)) + ")"

    def one_of(self, schema, path) -> str:
        """As anyOf: a regular expression cannot forbid matching two branches at once."""
        subschemas = _expect(schema["oneOf"], list, "oneOf", path)
        return "(" + "|".join(f"(?:{self.to_regex(s, f'{path}/oneOf/{i}')})"
                              for i, s in enumerate(subschemas)) + ")"

    # --- fixed values ----------------------------------------------------------------------

    def prefix_items(self, schema, path) -> str:
        """A tuple: exactly these items, in this order."""
        subschemas = _expect(schema["prefixItems"], list, "prefixItems", path)
        items = [self.to_regex(s, f"{path}/prefixItems/{i}") for i, s in enumerate(subschemas)]
        return rf"\[{self.ws}{f'{self.ws},{self.ws}'.join(items)}{self.ws}\]"

    def enum(self, schema, path) -> str:
        values = _expect(schema["enum"], list, "enum", path)
        return "(" + "|".join(self.json_value(v) for v in values) + ")"

    def const(self, schema, path) -> str:
        return self.json_value(schema["const"])

    def json_value(self, value) -> str:
        """Exactly this JSON value, with whitespace allowed between its tokens."""
        ws = self.ws
        if isinstance(value, list):
            inner = f"{ws},{ws}".join(self.json_value(v) for v in value)
            return rf"\[{ws}{inner}{ws}\]"
        if isinstance(value, dict):
            inner = f"{ws},{ws}".join(
                f"{regex_escape(json.dumps(k, ensure_ascii=False))}{ws}:{ws}"
                f"{self.json_value(v)}" for k, v in value.items())
            return rf"\{{{ws}{inner}{ws}\}}"
        return regex_escape(json_scalar_text(value))

    # --- references ------------------------------------------------------------------------

    def ref(self, schema, path) -> str:
        """A local reference: ``#/a/b`` is root["a"]["b"], ``#`` the root itself."""
        if self.ref_depth > MAX_REF_DEPTH:
            raise _RefRecursionLimit(f"$ref at {path} recurses deeper than {MAX_REF_DEPTH} "
                                     "levels")
        reference = schema["$ref"]
        if not isinstance(reference, str):
            raise ValueError(f"$ref must be a string at {path}, got {reference!r}")
        self.ref_depth += 1
        try:
            base, hash_mark, fragment = reference.partition("#")
            if not hash_mark:
                base, fragment = "", reference
            if "#" in fragment:
                raise ValueError(f"invalid $ref {reference!r} at {path}")
            root_id = self.root.get("$id") if isinstance(self.root, dict) else None
            if base and base != root_id:
                raise ValueError(f"$ref {reference!r} at {path} points outside this schema; "
                                 "only local references (#/...) are supported")
            target = self.root
            for part in (p for p in fragment.split("/") if p):
                if not isinstance(target, dict) or part not in target:
                    raise ValueError(f"$ref {reference!r} at {path}: {part!r} not found")
                target = target[part]
            return self.to_regex(target, reference)
        finally:
            self.ref_depth -= 1

    # --- types -----------------------------------------------------------------------------

    def type(self, schema, path) -> str:
        kind = schema["type"]
        if isinstance(kind, str):
            return self.one_type(kind, schema, path)
        if isinstance(kind, list):
            return "(" + "|".join(f"(?:{self.one_type(k, schema, path)})" for k in kind) + ")"
        raise ValueError(f"type must be a string or a list of strings at {path}, got {kind!r}")

    def one_type(self, kind, schema, path) -> str:
        translate = {"string": self.string, "number": self.number, "integer": self.integer,
                     "array": self.array, "object": self.object}
        if kind == "boolean":
            return BOOLEAN
        if kind == "null":
            return NULL
        if kind not in translate:
            raise ValueError(f"unsupported type {kind!r} at {path}: expected one of string, "
                             "number, integer, boolean, null, array, object")
        return translate[kind](schema, path)

    def string(self, schema, path) -> str:
        """Length bounds come first, then pattern, then format (only one is used)."""
        if "minLength" in schema or "maxLength" in schema:
            low, high = schema.get("minLength"), schema.get("maxLength")
            if _is_number(low) and _is_number(high) and low > high:
                raise ValueError(f"minLength {low} > maxLength {high} at {path}")
            low_text = str(low) if _is_count(low) else "0"
            high_text = str(high) if _is_count(high) else ""
            return f'"{STRING_INNER}{{{low_text},{high_text}}}"'
        if isinstance(schema.get("pattern"), str):
            pattern = schema["pattern"]
            if pattern.startswith("^") and pattern.endswith("$"):
                pattern = pattern[1:-1]
            return f'("{pattern}")'
        if isinstance(schema.get("format"), str):
            if schema["format"] not in FORMATS:
                raise ValueError(f"unsupported string format {schema['format']!r} at {path}: "
                                 f"expected one of {sorted(FORMATS)}")
            return FORMATS[schema["format"]]
        return STRING

    def number(self, schema, path) -> str:
        """outlines' digit counts: integer part, fraction and exponent."""
        keys = ("minDigitsInteger", "maxDigitsInteger", "minDigitsFraction",
                "maxDigitsFraction", "minDigitsExponent", "maxDigitsExponent")
        if not any(k in schema for k in keys):
            return NUMBER
        whole = _digit_bounds(schema, "minDigitsInteger", "maxDigitsInteger", 1, path)
        fraction = _digit_bounds(schema, "minDigitsFraction", "maxDigitsFraction", 0, path)
        exponent = _digit_bounds(schema, "minDigitsExponent", "maxDigitsExponent", 0, path)
        # A fraction or an exponent has at least one digit (outlines-core allows "1." and "1e+")
        return (rf"((-)?(0|[1-9][0-9]{_quantifier(*whole, '*', 1)}))"
                rf"(\.[0-9]{_quantifier(*fraction, '+', 1)})?"
                rf"([eE][+-][0-9]{_quantifier(*exponent, '+', 1)})?")

    def integer(self, schema, path) -> str:
        if "minDigits" not in schema and "maxDigits" not in schema:
            return INTEGER
        low, high = _digit_bounds(schema, "minDigits", "maxDigits", 1, path)
        return rf"(-)?(0|[1-9][0-9]{_quantifier(low, high, '*', 0)})"

    def object(self, schema, path) -> str:
        """An object without ``properties``: string keys, values of ``additionalProperties``."""
        ws = self.ws
        low, high = schema.get("minProperties"), schema.get("maxProperties")
        low = low if _is_count(low) else None
        high = high if _is_count(high) else None
        extra = schema.get("additionalProperties", True)
        if (high is not None and high < 1) or extra is False:
            return rf"\{{{ws}\}}"
        allow_empty = "?" if not low else ""
        if extra is True:
            depth = schema.get("depth", _ANY_VALUE_DEPTH)
            depth = depth if _is_count(depth) else _ANY_VALUE_DEPTH
            kinds = [{"type": k} for k in ("string", "number", "boolean", "null")]
            if depth > 0:
                kinds += [{"type": "object", "depth": depth - 1},
                          {"type": "array", "depth": depth - 1}]
            value = self.to_regex({"anyOf": kinds}, path)
        else:
            value = self.to_regex(extra, f"{path}/additionalProperties")
        pair = f"{STRING}{ws}:{ws}{value}"
        return rf"\{{{ws}({pair}({ws},{ws}{pair}){{0,}}){allow_empty}{ws}\}}"

    def array(self, schema, path) -> str:
        """``[item, item, ...]``: ``items`` (any value, two levels deep, if absent)."""
        ws = self.ws
        low, high = schema.get("minItems"), schema.get("maxItems")
        low = low if _is_count(low) else None
        high = high if _is_count(high) else None
        if high is not None and high < 1:
            return rf"\[{ws}\]"
        low_more = max((low or 0) - 1, 0)
        repeats = f"{{{low_more},}}" if high is None else f"{{{low_more},{high - 1}}}"
        allow_empty = "?" if not low else ""
        if "items" in schema:
            item = self.to_regex(schema["items"], f"{path}/items")
        else:
            depth = schema.get("depth", _ANY_VALUE_DEPTH)
            depth = depth if _is_count(depth) else _ANY_VALUE_DEPTH
            kinds = [{"type": k} for k in ("boolean", "null", "number", "integer", "string")]
            if depth > 0:
                kinds += [{"type": "object", "depth": depth - 1},
                          {"type": "array", "depth": depth - 1}]
            item = "|".join(self.to_regex(k, path) for k in kinds)
        return rf"\[{ws}(({item})(,{ws}({item})){repeats}){allow_empty}{ws}\]"


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _check_keywords(schema: dict, path: str) -> None:
    for key in schema:
        if key not in SUPPORTED_KEYWORDS and key not in IGNORED_KEYWORDS:
            raise ValueError(f"unsupported JSON Schema keyword {key!r} at {path}: it cannot be "
                             "turned into a regular expression here (supported: "
                             f"{', '.join(sorted(SUPPORTED_KEYWORDS))}; ignored: "
                             f"{', '.join(sorted(IGNORED_KEYWORDS))})")


def _expect(value, kind, name, path):
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be a {'JSON object' if kind is dict else 'list'} at "
                         f"{path}, got {value!r}")
    return value


def _is_count(value) -> bool:
    """A non-negative integer (what serde's ``as_u64`` accepts)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _digit_bounds(schema, low_key, high_key, offset, path):
    """outlines' digit-count bounds, minus ``offset`` (the integer part's first digit is
    written separately); a bound that becomes 0 counts as absent."""
    low, high = schema.get(low_key), schema.get(high_key)
    low = max(low - offset, 0) if _is_count(low) else None
    high = max(high - offset, 0) if _is_count(high) else None
    if low is not None and high is not None and high < low:
        raise ValueError(f"{high_key} is smaller than {low_key} at {path}")
    return low or None, high or None


def _quantifier(low, high, unbounded: str, low_default: int) -> str:
    if low is not None and high is not None:
        return f"{{{low},{high}}}"
    if low is not None:
        return f"{{{low},}}"
    if high is not None:
        return f"{{{low_default},{high}}}"
    return unbounded
