"""Ollama's Modelfile: parsing, rendering, and the parameters a model may carry.

Parameters have one set of names everywhere — a Modelfile's PARAMETER lines, /api/create's
`parameters`, a models.toml `[parameters]` table — and are checked here, so a typo is an
error that lists the valid names instead of a setting silently ignored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fireside.config import parse_duration
from fireside.engine.errors import InvalidRequest

LOAD_PARAMETERS = frozenset({"num_ctx", "num_batch", "num_gpu", "num_thread", "num_parallel"})
PARAMETER_TYPES: Mapping[str, type] = MappingProxyType({
    **dict.fromkeys(sorted(LOAD_PARAMETERS), int),
    "num_predict": int, "temperature": float, "top_k": int, "top_p": float, "min_p": float,
    "repeat_penalty": float, "repeat_last_n": int, "presence_penalty": float, "frequency_penalty": float,
    "seed": int, "stop": str, "keep_alive": str,
})  # fmt: skip
ROLES = ("system", "user", "assistant")
MAX_BYTES = 1 << 20
_INSTRUCTIONS = ("FROM", "ADAPTER", "PARAMETER", "TEMPLATE", "SYSTEM", "MESSAGE", "LICENSE")
_NOUNS = {int: "an integer", float: "a number", str: "a string"}
_WORD = re.compile(r"[^\S\n]*(\S+)[^\S\n]*")  # a word and the blanks around it, within one line
_TRIPLE = re.compile(r'"""(.*?)"""(?!")', re.DOTALL)  # the closing """ is the last of a run of quotes
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_ESCAPE = re.compile(r'\\(["\\])')


def _kind(key: str) -> type:
    kind = PARAMETER_TYPES.get(key)
    if kind is None:
        raise InvalidRequest(f'unknown parameter "{key}"; valid parameters: {", ".join(sorted(PARAMETER_TYPES))}')
    return kind


def _checked(key: str, value: float | str, shown: str) -> int | float | str:
    """`value` once it is known to be usable: NaN or infinite numbers and keep-alives that are
    not durations fail here, when the model is made, rather than when it is used."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"parameter {key} must be a finite number, got {shown}")
    if key == "keep_alive":
        try:
            parse_duration(value)
        except InvalidRequest as e:
            raise InvalidRequest(f"parameter keep_alive: {e.message}") from None
    return value


def parameter_value(key: str, raw: str) -> int | float | str:
    """One PARAMETER line's text as the parameter's type (for `stop`, one of its strings)."""
    kind = _kind(key)
    try:
        return _checked(key, kind(raw), f'"{raw}"')
    except ValueError:
        raise InvalidRequest(f'parameter {key} must be {_NOUNS[kind]}, got "{raw}"') from None


def parameters_from_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters given as JSON or TOML, checked and normalized as a Modelfile's are: floats
    as floats (an integer will do), `stop` always a list, `keep_alive` a string."""
    if not isinstance(values, Mapping):
        raise InvalidRequest("parameters must be an object")
    result: dict[str, Any] = {}
    for key, value in values.items():
        kind, shown = _kind(key), json.dumps(value, default=str)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if key == "stop":
            stops = [value] if isinstance(value, str) else value
            if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
                raise InvalidRequest(f"parameter stop must be a string or a list of strings, got {shown}")
            result[key] = list(stops)
        elif (kind is int and number and isinstance(value, int)) or (kind is str and isinstance(value, str)):
            result[key] = _checked(key, value, shown)
        elif kind is float and number and abs(value) < 1e308:  # float() of a larger integer overflows
            result[key] = _checked(key, float(value), shown)
        elif key == "keep_alive" and number:  # seconds, as Ollama's API takes them
            result[key] = _checked(key, str(value), shown)
        else:
            noun = 'a duration like "10m" or a number of seconds' if key == "keep_alive" else _NOUNS[kind]
            raise InvalidRequest(f"parameter {key} must be {noun}, got {shown}")
    return result


@dataclass(frozen=True)
class Message:
    """A MESSAGE line: a turn every conversation with the model starts with."""

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InvalidRequest(f'message role must be one of {", ".join(ROLES)}, got "{self.role}"')


@dataclass(frozen=True)
class Modelfile:
    """What a Modelfile says; `from_` (a model name or a file path) and `adapters` as written."""

    from_: str
    parameters: dict[str, Any] = field(default_factory=dict)
    template: str | None = None
    system: str | None = None
    messages: tuple[Message, ...] = ()
    license: tuple[str, ...] = ()
    adapters: tuple[str, ...] = ()

    def render(self) -> str:
        """The Modelfile's text; `parse` reads it back equal, whatever the strings hold."""
        lines = ["# Modelfile generated by Fireside", f"FROM {_quote(self.from_)}"]
        lines += [f"ADAPTER {_quote(adapter)}" for adapter in self.adapters]
        if self.template is not None:
            lines.append(f"TEMPLATE {_quote(self.template)}")
        if self.system is not None:
            lines.append(f"SYSTEM {_quote(self.system)}")
        for key, value in sorted(self.parameters.items()):
            lines += [f"PARAMETER {key} {_quote(str(v))}" for v in (value if isinstance(value, list) else [value])]
        lines += [f"MESSAGE {m.role} {_quote(m.content)}" for m in self.messages]
        lines += [f"LICENSE {_quote(text)}" for text in self.license]
        return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    """`value` as it reads back unchanged: bare where it can be, else in triple quotes, else
    (it holds \"\"\") in double quotes with escapes."""
    if value and value == value.strip() and '"' not in value and "\n" not in value:
        return value
    if '"""' not in value:
        return f'"""{value}"""'
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _value(text: str, pos: int) -> tuple[str, int]:
    """The value at `pos` and the end of its last line: bare (the rest of the line, stripped),
    \"\"\"verbatim\"\"\", or "quoted" with \\" and \\\\ escapes; quoted values may span lines."""
    if text.startswith('"""', pos):
        match = _TRIPLE.match(text, pos)
        if match is None:
            raise InvalidRequest('the """ that starts here is never closed')
        value = match[1]
    elif text.startswith('"', pos):
        match = _QUOTED.match(text, pos)
        if match is None:
            raise InvalidRequest("the quote that starts here is never closed")
        value = _ESCAPE.sub(r"\1", match[1])
    else:
        end = _line_end(text, pos)
        return text[pos:end].strip(), end
    end = _line_end(text, match.end())
    if extra := text[match.end() : end].strip():
        raise InvalidRequest(f"unexpected text after the closing quote: {extra}")
    return value, end


def parse(text: str) -> Modelfile:
    """A Modelfile's text, checked; syntax errors name the line their instruction starts on."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise InvalidRequest("a Modelfile may be at most 1 MiB")
    text = text.removeprefix("\ufeff")  # a byte order mark, as some editors write
    found: dict[str, Any] = {"parameters": {}, "messages": [], "license": [], "adapters": []}
    pos, line = 0, 1
    while pos < len(text):
        end = _line_end(text, pos)
        if (head := text[pos:end].strip()) and not head.startswith("#"):
            try:
                end = _instruction(found, text, pos)
            except InvalidRequest as e:
                raise InvalidRequest(f"line {line}: {e.message}") from None
        line += text.count("\n", pos, end + 1)
        pos = end + 1
    if "from_" not in found:
        raise InvalidRequest("a Modelfile needs a FROM line")
    return Modelfile(**{k: tuple(v) if isinstance(v, list) else v for k, v in found.items()})


def _instruction(found: dict[str, Any], text: str, pos: int) -> int:
    """Record the instruction starting at `pos` in `found`; returns the end of its last line."""
    word = _WORD.match(text, pos)
    assert word is not None  # the caller saw a word on this line
    name, pos = word[1].upper(), word.end()
    if name not in _INSTRUCTIONS:
        raise InvalidRequest(f'unknown instruction "{word[1]}"; use one of {", ".join(_INSTRUCTIONS)}')
    if name in ("PARAMETER", "MESSAGE"):
        return _keyed(found, name, text, pos)
    value, end = _value(text, pos)
    if name == "FROM":
        if "from_" in found:
            raise InvalidRequest("a second FROM line; a Modelfile has one")
        if not value:
            raise InvalidRequest("FROM needs a model name or a GGUF file")
        found["from_"] = value
    elif name in ("ADAPTER", "LICENSE"):
        found["adapters" if name == "ADAPTER" else "license"].append(value)
    else:  # TEMPLATE, SYSTEM: the last one wins
        found[name.lower()] = value
    return end


def _keyed(found: dict[str, Any], name: str, text: str, pos: int) -> int:
    """A PARAMETER or MESSAGE line: a name (a role), then the value."""
    key = _WORD.match(text, pos)
    if key is None:
        raise InvalidRequest(f"{name} needs {'a name' if name == 'PARAMETER' else 'a role'} and a value")
    if key.end() == _line_end(text, pos):
        raise InvalidRequest(f"{name} {key[1]} needs a value")
    value, end = _value(text, key.end())
    if name == "MESSAGE":
        found["messages"].append(Message(key[1].lower(), value))
    elif key[1] == "stop":  # the one parameter that may repeat
        found["parameters"].setdefault("stop", []).append(value)
    else:
        found["parameters"][key[1]] = parameter_value(key[1], value)
    return end
