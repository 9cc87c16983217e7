"""Chat templates: the GGUF's `tokenizer.chat_template` (or an override), rendered in a
Jinja sandbox, since a template is code that came with a downloaded file."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from fireside.engine.errors import InvalidRequest

# Used when a model ships no template; ChatML is what most small instruct models expect.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _raise(message: str) -> None:
    raise InvalidRequest(f"chat template: {message}")


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False, sort_keys: bool = False) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys)


class ChatTemplate:
    """A compiled template with the globals Hugging Face templates rely on."""

    def __init__(self, source: str, bos_token: str, eos_token: str) -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        try:
            self._template = env.from_string(source)
        except TemplateError as e:
            raise InvalidRequest(f"chat template does not compile: {e}") from e
        self._bos = bos_token
        self._eos = eos_token

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        for m in messages:
            if not isinstance(m, dict) or "role" not in m:
                raise InvalidRequest("each message needs a role")
        try:
            return self._template.render(
                messages=messages,
                tools=tools or None,
                add_generation_prompt=True,
                bos_token=self._bos,
                eos_token=self._eos,
            )
        except InvalidRequest:
            raise
        except Exception as e:  # a template is third-party code: any failure is the request's
            raise InvalidRequest(f"chat template failed on these messages: {e}") from e
