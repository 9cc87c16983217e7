"""Structured output: a JSON Schema becomes a GBNF grammar the sampler enforces."""

from __future__ import annotations

import json
from typing import Any

from llama_cpp.llama_grammar import json_schema_to_gbnf

from fireside.engine.errors import InvalidGrammar


def json_schema_grammar(schema: dict[str, Any]) -> str:
    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as e:  # the converter raises bare Exceptions and KeyErrors on bad schemas
        raise InvalidGrammar(f"cannot turn this JSON Schema into a grammar: {e!r}") from e
