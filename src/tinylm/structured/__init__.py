"""Structured generation: constrain a model's output to a regex, a JSON Schema or JSON.

- ``Vocabulary``: every token of a tokenizer as the bytes it spells.
- ``Index``: for a regex, the tokens allowed in each state of its automaton and where each
  one leads (built from ``automaton.py``'s byte-level DFA by ``index_kernels.py``).
- ``regex_from_schema``: a JSON Schema as a regex (``schema.py``, outlines-core's language).
- ``JsonGrammar``: any JSON, any depth, as a pushdown automaton over bytes with token masks.
- ``ConstrainedLogitsProcessor``, ``generate_regex``, ``generate_json``: constrained decoding
  with ``tinylm.generation`` (``generate.py``).
"""

from tinylm.structured.generate import (
    ConstrainedLogitsProcessor,
    IncompleteGenerationError,
    generate_json,
    generate_regex,
)
from tinylm.structured.index import Index
from tinylm.structured.json_grammar import JsonGrammar, JsonState
from tinylm.structured.schema import regex_from_schema
from tinylm.structured.vocabulary import Vocabulary

__all__ = [
    "ConstrainedLogitsProcessor",
    "IncompleteGenerationError",
    "Index",
    "JsonGrammar",
    "JsonState",
    "Vocabulary",
    "generate_json",
    "generate_regex",
    "regex_from_schema",
]
