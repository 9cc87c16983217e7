"""Anthropic's Messages API and OpenAI's Responses API, driven by the official `anthropic`
and `openai` packages against a real daemon on a loopback port."""

from __future__ import annotations

import json

import anthropic
import httpx
import jsonschema
import openai
import pydantic
import pytest
from anthropic.types import RawMessageStreamEvent
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from fireside.api import anthropic as messages_api
from fireside.api import responses as responses_api
from fireside.api.answers import Delta, Finish
from fireside.api.tools import ToolCall
from fireside.engine import Stats
from tests.conftest import ASK_WEATHER, CITY, SMOLLM2, WEATHER
from tests.daemon_process import DaemonProcess

_FUNCTION = WEATHER["function"]
WEATHER_TOOL = {"name": _FUNCTION["name"], "description": _FUNCTION["description"], "input_schema": CITY}
WEATHER_FUNCTION = {"type": "function", **_FUNCTION}
COLOR = {"type": "object", "properties": {"color": {"type": "string", "maxLength": 12}}, "required": ["color"], "additionalProperties": False}
# This anthropic package's messages.create takes no temperature; older clients send one, so it goes as extra_body.
GREEDY = {"temperature": 0}
COLOR_FORMAT = {"format": {"type": "json_schema", "name": "color", "schema": COLOR, "strict": True}}


@pytest.fixture(scope="module")
def claude(daemon: DaemonProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=daemon.url, api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def client(daemon: DaemonProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=daemon.url + "/v1", api_key="unused", max_retries=0)


def test_messages_answer_with_usage(claude: anthropic.Anthropic) -> None:
    m = claude.messages.create(model=SMOLLM2, system="You are terse.", messages=[{"role": "user", "content": "Name a color."}], max_tokens=12, extra_body=GREEDY)
    assert m.id.startswith("msg_") and m.role == "assistant" and m.model == SMOLLM2
    (block,) = m.content
    assert block.type == "text" and block.text
    assert m.stop_reason in ("end_turn", "max_tokens")
    assert 0 < m.usage.output_tokens <= 12
    assert m.usage.input_tokens + (m.usage.cache_read_input_tokens or 0) > 5


def test_messages_stream_matches_create(claude: anthropic.Anthropic, daemon: DaemonProcess) -> None:
    request = {"model": SMOLLM2, "system": [{"type": "text", "text": "You are terse."}], "messages": [{"role": "user", "content": "Say something about the sea."}], "max_tokens": 16, "extra_body": GREEDY}
    whole = claude.messages.create(**request)
    with claude.messages.stream(**request) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == whole.content[0].text == final.content[0].text
    assert final.stop_reason == whole.stop_reason and final.usage.output_tokens == whole.usage.output_tokens
    assert final.usage.input_tokens + final.usage.cache_read_input_tokens == whole.usage.input_tokens + whole.usage.cache_read_input_tokens
    # On the wire, each event's name is its data's type, in Anthropic's order.
    raw = {**{k: v for k, v in request.items() if k != "extra_body"}, **GREEDY, "stream": True}
    with httpx.stream("POST", daemon.url + "/v1/messages", json=raw) as r:
        events = [line[len("event: ") :] for line in r.iter_lines() if line.startswith("event: ")]
    assert events[:3] == ["message_start", "ping", "content_block_start"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[3:-3]) == {"content_block_delta"}


def test_forced_tool_use_then_tool_result(claude: anthropic.Anthropic) -> None:
    request = {"model": SMOLLM2, "messages": ASK_WEATHER, "tools": [WEATHER_TOOL], "tool_choice": {"type": "tool", "name": "get_weather"}, "max_tokens": 40, "extra_body": GREEDY}
    m = claude.messages.create(**request)
    assert m.stop_reason == "tool_use"
    (use,) = [b for b in m.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.id
    jsonschema.validate(use.input, CITY)
    with claude.messages.stream(**request) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and [b.input for b in final.content if b.type == "tool_use"] == [use.input]
    follow = claude.messages.create(
        model=SMOLLM2,
        messages=[*ASK_WEATHER, m.to_param(), {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 C and sunny"}]}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "none"},
        max_tokens=8,
        extra_body=GREEDY,
    )
    assert follow.content and follow.content[0].type == "text"


def test_messages_output_format_json_schema(claude: anthropic.Anthropic) -> None:
    m = claude.messages.create(
        model=SMOLLM2, messages=[{"role": "user", "content": "Name a color."}], output_config={"format": {"type": "json_schema", "schema": COLOR}}, max_tokens=40, extra_body=GREEDY
    )
    assert m.stop_reason == "end_turn"
    jsonschema.validate(json.loads(m.content[0].text), COLOR)


def test_bad_messages_requests_are_anthropic_errors(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.create(model=SMOLLM2, messages=[{"role": "user", "content": "Hi"}], max_tokens=anthropic.omit, timeout=30)
    assert e.value.body == {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens is required (a positive integer)"}}
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    with pytest.raises(anthropic.BadRequestError, match="only reads text"):
        claude.messages.create(model=SMOLLM2, messages=[{"role": "user", "content": [image]}], max_tokens=4)
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="no-such-model:1b", messages=[{"role": "user", "content": "Hi"}], max_tokens=4)


def test_responses_answer_with_usage(client: openai.OpenAI) -> None:
    r = client.responses.create(model=SMOLLM2, instructions="You are terse.", input="Name a color.", temperature=0, max_output_tokens=12)
    assert r.id.startswith("resp_") and r.object == "response" and r.output_text
    assert r.status in ("completed", "incomplete")
    assert (r.incomplete_details is not None and r.incomplete_details.reason == "max_output_tokens") == (r.status == "incomplete")
    assert r.usage is not None and r.usage.input_tokens > 5 and 0 < r.usage.output_tokens <= 12
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


def test_responses_stream_events(client: openai.OpenAI) -> None:
    request = {"model": SMOLLM2, "input": [{"role": "user", "content": [{"type": "input_text", "text": "Tell me a long story."}]}], "temperature": 0, "max_output_tokens": 8}
    whole = client.responses.create(**request)
    events = list(client.responses.create(**request, stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events[:4]] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == whole.output_text
    # Cut short by max_output_tokens, as OpenAI ends such a stream.
    assert events[-1].type == "response.incomplete" and events[-1].response.output_text == whole.output_text
    with client.responses.stream(model=SMOLLM2, input="Name a color.", text=COLOR_FORMAT, temperature=0, max_output_tokens=40) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert kinds[-1] == "response.completed" and final.status == "completed"
    jsonschema.validate(json.loads(final.output_text), COLOR)


def test_responses_json_schema_format(client: openai.OpenAI) -> None:
    r = client.responses.create(model=SMOLLM2, input="Name a color.", text=COLOR_FORMAT, temperature=0, max_output_tokens=40)
    assert r.status == "completed"
    jsonschema.validate(json.loads(r.output_text), COLOR)


def test_responses_function_call_then_output(client: openai.OpenAI) -> None:
    request = {"model": SMOLLM2, "input": ASK_WEATHER, "tools": [WEATHER_FUNCTION], "tool_choice": "required", "temperature": 0, "max_output_tokens": 40}
    r = client.responses.create(**request)
    (call,) = [item for item in r.output if item.type == "function_call"]
    assert call.name == "get_weather" and call.call_id and call.status == "completed"
    jsonschema.validate(json.loads(call.arguments), CITY)
    with client.responses.stream(**request) as stream:
        final = stream.get_final_response()
    assert [(i.name, i.arguments) for i in final.output if i.type == "function_call"] == [(call.name, call.arguments)]
    follow = client.responses.create(
        model=SMOLLM2,
        input=[*ASK_WEATHER, call.model_dump(exclude_none=True), {"type": "function_call_output", "call_id": call.call_id, "output": "18 C and sunny"}],
        tools=[WEATHER_FUNCTION],
        temperature=0,
        max_output_tokens=8,
    )
    assert follow.output_text or any(item.type == "function_call" for item in follow.output)


def test_responses_are_stateless(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=SMOLLM2, input="Hi", previous_response_id="resp_123", max_output_tokens=4)
    assert e.value.body["param"] == "previous_response_id" and "stateless" in e.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model:1b", input="Hi", max_output_tokens=4)


def test_reasoning_streams_as_thinking_blocks_and_reasoning_items() -> None:
    """SmolLM2 never thinks, so the framing is fed made-up events and checked against
    the SDKs' own types: every frame must validate, its SSE name being its type."""
    events = [Delta(reasoning="It is in France."), Delta(content="Sunny."), Finish("tool_calls", Stats(30, 10, 5), (ToolCall("call_1", "get_weather", {"city": "Paris"}),))]
    head = {"id": "msg_1", "type": "message", "role": "assistant", "model": SMOLLM2}
    blocks = messages_api._Blocks(head)
    frames = [f for e in events for f in blocks.frames(e)]
    assert all(name == data["type"] for data, name in frames)
    parsed = [pydantic.TypeAdapter(RawMessageStreamEvent).validate_python(data) for data, name in frames if name != "ping"]
    starts = [p.content_block.type for p in parsed if p.type == "content_block_start"]
    assert starts == ["thinking", "text", "tool_use"]
    assert parsed[-2].delta.stop_reason == "tool_use" and parsed[-2].usage.input_tokens == 20

    stream = responses_api._Events(responses_api._head({"model": SMOLLM2}, SMOLLM2))
    frames = [f for e in events for f in stream.frames(e)]
    assert all(name == data["type"] for data, name in frames)
    state = ResponseStreamState(input_tools=openai.omit, text_format=openai.omit)
    handled = [e for data, _ in frames for e in state.handle_event(pydantic.TypeAdapter(ResponseStreamEvent).validate_python(data))]
    assert handled[-1].type == "response.completed"
    final = handled[-1].response
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call"]
    assert final.output[0].content[0].text == "It is in France." and final.output_text == "Sunny."
