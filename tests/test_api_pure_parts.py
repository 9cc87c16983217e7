"""Golden tests for the daemon's pure parts: durations, hosts, reasoning and tool-call
recovery, error scrubbing, origin rules."""

from __future__ import annotations

import pytest

from fireside.api.errors import HttpError, scrub
from fireside.api.reasoning import ThinkSplitter
from fireside.api.security import Guard
from fireside.api.tools import CallDetector, ToolPolicy, chat_messages, parse_calls
from fireside.config import FOREVER, DaemonSettings, parse_duration, parse_host
from fireside.engine.errors import InvalidRequest, ModelUnavailable
from tests.conftest import WEATHER



@pytest.mark.parametrize(
    ("value", "seconds"),
    [(0, 0.0), (30, 30.0), ("10m", 600.0), ("1h30m", 5400.0), ("500ms", 0.5), ("-1", FOREVER), (-5, FOREVER), ("2.5", 2.5), ("1m30s", 90.0), ("99999999h", FOREVER), (1e12, FOREVER)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "10 minutes", "", "5x", True, None, [1]])
def test_bad_durations(value: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_duration(value)


def test_hosts() -> None:
    assert parse_host("") == ("127.0.0.1", 11435)
    assert parse_host("0.0.0.0") == ("0.0.0.0", 11435)
    assert parse_host(":8080") == ("127.0.0.1", 8080)
    assert parse_host("http://localhost:9000/") == ("localhost", 9000)
    assert parse_host("[::1]:7000") == ("::1", 7000)
    with pytest.raises(InvalidRequest):
        parse_host("host:notaport")


def test_non_loopback_bind_needs_a_key() -> None:
    DaemonSettings(host="127.0.0.1").check_bind()
    DaemonSettings(host="0.0.0.0", api_key="k").check_bind()
    with pytest.raises(InvalidRequest, match="FIRESIDE_API_KEY"):
        DaemonSettings(host="0.0.0.0").check_bind()


def split(pieces: list[str]) -> tuple[str, str]:
    s = ThinkSplitter()
    content, reasoning = "", ""
    for piece in pieces:
        c, r = s.feed(piece)
        content, reasoning = content + c, reasoning + r
    c, r = s.finish()
    return content + c, reasoning + r


def test_thinking_is_kept_apart_from_the_answer_even_split_mid_tag() -> None:
    assert split(["<th", "ink>\nLet me ", "see.</thi", "nk>\n\nIt is 4."]) == ("It is 4.", "Let me see.")
    assert split(["Just an answer"]) == ("Just an answer", "")
    assert split(["<", "b>bold</b>"]) == ("<b>bold</b>", "")
    assert split(["<think>never closed"]) == ("", "never closed")


def test_tool_calls_are_recovered_from_the_forms_models_write() -> None:
    policy = ToolPolicy.parse([WEATHER], "auto")
    assert policy is not None
    for text in (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        '{"name": "get_weather", "arguments": {"city": "Paris"}}',
        '{"name": "get_weather", "parameters": {"city": "Paris"}}',
        '```json\n{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}\n```',
    ):
        (call,) = parse_calls(text, policy)
        assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    assert parse_calls('{"name": "launch_rockets", "arguments": {}}', policy) == []
    assert parse_calls("The weather is nice.", policy) == []


def test_streaming_holds_only_what_may_be_a_call() -> None:
    policy = ToolPolicy.parse([WEATHER], "auto")
    detector = CallDetector(policy)
    assert detector.feed("  <tool") == "" and detector.feed("_call>{") == ""
    assert CallDetector(policy).feed("Sure, ") == "Sure, "
    assert CallDetector(policy).feed("```python\nprint(1)") == "```python\nprint(1)"
    assert CallDetector(None).feed("{") == "{"


def test_tool_choice_forms() -> None:
    assert ToolPolicy.parse([WEATHER], {"type": "function", "function": {"name": "get_weather"}}).mode == "named"  # type: ignore[union-attr]
    assert ToolPolicy.parse([WEATHER], {"type": "tool", "name": "get_weather"}).mode == "named"  # type: ignore[union-attr]
    assert ToolPolicy.parse([WEATHER], {"type": "any"}).mode == "required"  # type: ignore[union-attr]
    assert ToolPolicy.parse(None, None) is None
    none = ToolPolicy.parse([WEATHER], "none")
    assert none is not None and none.offered == ()
    with pytest.raises(InvalidRequest):
        ToolPolicy.parse([WEATHER], "sometimes")


def test_templates_without_tools_get_instructions_and_earlier_calls_as_text() -> None:
    policy = ToolPolicy.parse([WEATHER], "auto")
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "cold"},
    ]
    out = chat_messages(messages, policy, template_knows_tools=False)
    assert out[0]["role"] == "system" and "get_weather" in out[0]["content"]
    assert out[1] == {"role": "user", "content": "Weather?"}
    assert out[2]["content"] == '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    known = chat_messages(messages, policy, template_knows_tools=True)
    assert known[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Oslo"}
    with pytest.raises(InvalidRequest, match="only reads text"):
        chat_messages([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], None, False)


def test_error_messages_never_carry_paths() -> None:
    assert scrub('model "m": no file at /home/alice/.cache/fireside/m.gguf') == 'model "m": no file at <path>'
    assert scrub("use a duration like 1h30m or 10/20") == "use a duration like 1h30m or 10/20"
    error = HttpError.of(ModelUnavailable("cannot read /var/lib/models/x.gguf: denied"))
    assert error.status == 404 and "/var" not in error.message


def test_origins() -> None:
    guard = Guard(DaemonSettings(origins=("https://*.corp.example",)))
    for origin in ("http://localhost:3000", "http://127.0.0.1", "https://app.localhost", "vscode-webview://abc", "https://x.corp.example"):
        assert guard.origin_allowed(origin), origin
    for origin in ("https://evil.example", "http://localhost.evil.example", "null", "https://corp.example.evil"):
        assert not guard.origin_allowed(origin), origin
