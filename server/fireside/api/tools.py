"""Function calling for local models: tools offered to the model, `tool_choice` honoured,
and tool calls recovered from the generated text.

- `none`: tools are not shown to the model and nothing is parsed as a call.
- `auto`: tools are shown; the answer is content unless it is a tool call
  (`<tool_call>{...}</tool_call>`, or a bare `{"name": ..., "arguments": ...}` object).
- `required` / a named function: a grammar forces one call to one of the offered
  functions (or to the named one) with arguments valid under its JSON Schema.

A chat template that knows tools gets them as `tools`; for one that does not, the
functions and the expected call format are described in a system message.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from fireside.engine.errors import InvalidRequest

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
FENCE = "```"


@dataclass(frozen=True)
class Function:
    name: str
    description: str
    parameters: dict[str, Any]

    def as_tool(self) -> dict[str, Any]:
        return {"type": "function", "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, ensure_ascii=False)


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


@dataclass(frozen=True)
class ToolPolicy:
    functions: tuple[Function, ...]
    mode: Literal["auto", "none", "required", "named"] = "auto"
    name: str | None = None

    @classmethod
    def parse(cls, tools: Any, choice: Any = None) -> ToolPolicy | None:
        """From OpenAI/Ollama `tools` (or Anthropic's, with `input_schema`) and a tool choice
        in OpenAI, Responses or Anthropic form. None when no tools are offered."""
        if tools is None or tools == []:
            if choice not in (None, "none", "auto") and not (isinstance(choice, dict) and choice.get("type") in ("auto", "none")):
                raise InvalidRequest("tool_choice was given but no tools were offered", param="tool_choice")
            return None
        if not isinstance(tools, list):
            raise InvalidRequest("tools must be a list", param="tools")
        functions = tuple(_function(t, i) for i, t in enumerate(tools))
        names = [f.name for f in functions]
        if len(set(names)) != len(names):
            raise InvalidRequest("tool names must be unique", param="tools")
        mode, name = _choice(choice)
        if name is not None and name not in names:
            raise InvalidRequest(f'tool_choice names "{name}", which is not among the offered tools', param="tool_choice")
        return cls(functions, mode, name)

    @property
    def offered(self) -> tuple[Function, ...]:
        """What the model is shown."""
        if self.mode == "none":
            return ()
        if self.mode == "named":
            return tuple(f for f in self.functions if f.name == self.name)
        return self.functions

    @property
    def forced(self) -> bool:
        return self.mode in ("required", "named")

    def call_schema(self) -> dict[str, Any]:
        """The JSON Schema a forced call must match: one of the offered functions."""
        variants = [
            {
                "type": "object",
                "properties": {"name": {"const": f.name}, "arguments": f.parameters or {"type": "object"}},
                "required": ["name", "arguments"],
            }
            for f in self.offered
        ]
        return variants[0] if len(variants) == 1 else {"anyOf": variants}

    def instructions(self) -> str:
        """A system message describing the tools, for templates that cannot show them."""
        listing = "\n".join(json.dumps(f.as_tool()["function"], ensure_ascii=False) for f in self.offered)
        return (
            "You can call these functions:\n"
            f"{listing}\n"
            "To call one, answer only with "
            f'{CALL_OPEN}{{"name": <function name>, "arguments": <arguments object>}}{CALL_CLOSE}'
        )


def _function(tool: Any, index: int) -> Function:
    if not isinstance(tool, dict):
        raise InvalidRequest(f"tools[{index}] must be an object", param="tools")
    spec = tool.get("function", tool) if tool.get("type", "function") == "function" else tool
    if not isinstance(spec, dict):
        raise InvalidRequest(f"tools[{index}].function must be an object", param="tools")
    if "input_schema" in spec:  # Anthropic
        spec = {**spec, "parameters": spec["input_schema"]}
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"tools[{index}] has no function name", param="tools")
    parameters = spec.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(parameters, dict):
        raise InvalidRequest(f"tools[{index}].parameters must be a JSON Schema object", param="tools")
    return Function(name, str(spec.get("description") or ""), parameters)


def _choice(choice: Any) -> tuple[Literal["auto", "none", "required", "named"], str | None]:
    if choice in (None, "auto"):
        return "auto", None
    if choice in ("none", "required"):
        return choice, None
    if choice == "any":
        return "required", None
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("auto", "none"):
            return kind, None
        if kind == "any":
            return "required", None
        function = choice.get("function")
        name = function.get("name") if kind == "function" and isinstance(function, dict) else None
        name = name or choice.get("name")
        if kind in ("function", "tool") and isinstance(name, str):
            return "named", name
    raise InvalidRequest(
        'tool_choice must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}}',
        param="tool_choice",
    )


def parse_calls(text: str, policy: ToolPolicy) -> list[ToolCall]:
    """The tool calls in a finished answer, or [] if it is plain content."""
    if policy.mode == "none":
        return []
    names = {f.name for f in policy.offered}
    body = _unfenced(text.strip())
    pieces: list[str] = []
    if CALL_OPEN in body:
        for chunk in body.split(CALL_OPEN)[1:]:
            pieces.append(chunk.split(CALL_CLOSE)[0])
    else:
        pieces.append(body)
    calls: list[ToolCall] = []
    for piece in pieces:
        try:
            value = json.loads(piece)
        except json.JSONDecodeError:
            return []
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, dict):
                return []
            name = item.get("name")
            arguments = item.get("arguments", item.get("parameters", {}))
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments)
                except json.JSONDecodeError:
                    return []
            if name not in names or not isinstance(arguments, dict):
                return []
            calls.append(ToolCall(new_call_id(), name, arguments))
    return calls


class CallDetector:
    """Streams content until the answer looks like a tool call, then holds the rest
    for `parse_calls` at the end."""

    def __init__(self, policy: ToolPolicy | None) -> None:
        self._active = policy is not None and policy.mode != "none"
        self._held = ""
        self._holding = self._active

    def feed(self, text: str) -> str:
        if not self._holding:
            return text
        self._held += text
        if _may_be_call(self._held.lstrip()):
            return ""
        self._holding = False
        out, self._held = self._held, ""
        return out

    @property
    def held(self) -> str:
        return self._held


def _may_be_call(head: str) -> bool:
    """Whether an answer that begins with `head` may still turn out to be a tool call:
    a call tag, bare JSON, or JSON in a code fence (small models like to fence it)."""
    if not head or head.startswith(("{", "[", CALL_OPEN)) or CALL_OPEN.startswith(head) or FENCE.startswith(head):
        return True
    if head.startswith(FENCE):
        language, newline, rest = head[len(FENCE) :].partition("\n")
        if not newline:
            return "json".startswith(language.strip())
        return language.strip() in ("", "json") and (not rest.strip() or rest.lstrip().startswith(("{", "[")))
    return False


def _unfenced(body: str) -> str:
    if body.startswith(FENCE) and body.endswith(FENCE) and len(body) > 2 * len(FENCE):
        return body[len(FENCE) : -len(FENCE)].removeprefix("json").strip()
    return body


def chat_messages(messages: list[dict[str, Any]], policy: ToolPolicy | None, template_knows_tools: bool) -> list[dict[str, Any]]:
    """Messages as a chat template can render them: text content, earlier tool calls
    written as the model would have written them, and tool instructions if needed."""
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(f"messages[{i}] needs a role", param="messages")
        role = message["role"]
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise InvalidRequest(f'messages[{i}] has unknown role "{role}"', param="messages")
        rendered = {"role": "system" if role == "developer" else role, "content": message_text(message.get("content"), i)}
        calls = [
            {"id": c.get("id", ""), "type": "function", "function": {"name": c["function"].get("name", ""), "arguments": _arguments(c["function"].get("arguments"))}}
            for c in message.get("tool_calls") or []
            if isinstance(c, dict) and isinstance(c.get("function"), dict)
        ]
        if calls and template_knows_tools:
            rendered["tool_calls"] = calls  # templates expect arguments as objects, not JSON text
        elif calls:
            rendered["content"] += "".join(CALL_OPEN + json.dumps({k: c["function"][k] for k in ("name", "arguments")}) + CALL_CLOSE for c in calls)
        for key in ("tool_call_id", "name"):
            if key in message:
                rendered[key] = message[key]
        out.append(rendered)
    if policy is not None and policy.offered and not template_knows_tools:
        if out and out[0]["role"] == "system":
            out[0] = {**out[0], "content": out[0]["content"] + "\n\n" + policy.instructions()}
        else:
            out.insert(0, {"role": "system", "content": policy.instructions()})
    return out


def message_text(content: Any, index: int, field: str = "messages") -> str:
    """Text of a message's content: a string, or OpenAI/Anthropic/Responses content parts.
    `field` names the request's list in errors (`messages`, or `input` for Responses)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in ("text", "input_text", "output_text"):
                texts.append(str(part.get("text", "")))
            elif kind in ("image_url", "image", "input_image", "input_audio", "input_file", "file"):
                raise InvalidRequest(f"{field}[{index}] has {kind} content, but this model only reads text", param=field)
            else:
                raise InvalidRequest(f"{field}[{index}] has a content part of unknown type {kind!r}", param=field)
        return "".join(texts)
    raise InvalidRequest(f"{field}[{index}].content must be a string or a list of parts", param=field)


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
