"""The OpenAI-compatible API, driven by the official `openai` package against a real
daemon on a loopback port."""

from __future__ import annotations

import base64
import json
import struct

import jsonschema
import openai
import pytest

from tests.conftest import ASK_WEATHER, QWEN_CODER, SMOLLM2, WEATHER
from tests.daemon_process import DaemonProcess

TIME = {
    "type": "function",
    "function": {"name": "get_time", "description": "Get the time in a timezone", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}},
}


@pytest.fixture(scope="module")
def client(daemon: DaemonProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=daemon.url + "/v1", api_key="unused", max_retries=0)


def test_chat_answers_with_usage(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=SMOLLM2, messages=[{"role": "user", "content": "Name a color."}], temperature=0, max_tokens=12)
    choice = r.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert r.usage is not None and r.usage.prompt_tokens > 5 and 0 < r.usage.completion_tokens <= 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_stream_matches_non_stream(client: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say something about the sea."}]
    whole = client.chat.completions.create(model=SMOLLM2, messages=messages, temperature=0, max_tokens=16)
    chunks = list(
        client.chat.completions.create(model=SMOLLM2, messages=messages, temperature=0, max_tokens=16, stream=True, stream_options={"include_usage": True})
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishing) == 1 and finishing[0].choices[0].delta.content in (None, "")
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens > 0  # same prompt again


def test_stop_seed_and_penalties_are_honoured(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=SMOLLM2, messages=[{"role": "user", "content": "Count from 1 to 10 with commas."}], temperature=0, max_tokens=40, stop=["5"])
    assert "5" not in r.choices[0].message.content and r.choices[0].finish_reason == "stop"
    a, b = (
        client.chat.completions.create(model=SMOLLM2, messages=[{"role": "user", "content": "Tell me a story."}], temperature=1.0, seed=7, max_tokens=12, presence_penalty=0.5, frequency_penalty=0.5)
        for _ in range(2)
    )
    assert a.choices[0].message.content == b.choices[0].message.content


def test_json_schema_response_format(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 24}, "age": {"type": "integer", "minimum": 0, "maximum": 130}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    r = client.chat.completions.create(
        model=SMOLLM2,
        messages=[{"role": "user", "content": "Make up a person."}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
        temperature=0,
        max_tokens=100,
    )
    assert r.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(r.choices[0].message.content), schema)
    r = client.chat.completions.create(model=QWEN_CODER, messages=[{"role": "user", "content": "Reply with a JSON object whose key ok is true."}], response_format={"type": "json_object"}, temperature=0, max_tokens=100)
    assert r.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(r.choices[0].message.content), dict)


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_forced_tool_choice_calls_a_tool(client: openai.OpenAI, choice: object) -> None:
    r = client.chat.completions.create(model=SMOLLM2, messages=ASK_WEATHER, tools=[TIME, WEATHER], tool_choice=choice, temperature=0, max_tokens=40)
    choice0 = r.choices[0]
    assert choice0.finish_reason == "tool_calls"
    (call,) = choice0.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function"
    if isinstance(choice, dict):
        assert call.function.name == "get_weather"
    schema = {"get_weather": WEATHER, "get_time": TIME}[call.function.name]["function"]["parameters"]
    jsonschema.validate(json.loads(call.function.arguments), schema)


def test_tool_choice_none_never_calls(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=QWEN_CODER, messages=ASK_WEATHER, tools=[WEATHER], tool_choice="none", temperature=0, max_tokens=16)
    assert r.choices[0].message.tool_calls is None and r.choices[0].message.content
    assert r.choices[0].finish_reason != "tool_calls"


def test_tool_choice_auto_lets_the_model_call_and_read_results(client: openai.OpenAI) -> None:
    # Qwen2.5-Coder's template shows tools; asked about the weather, it calls the tool.
    r = client.chat.completions.create(model=QWEN_CODER, messages=ASK_WEATHER, tools=[WEATHER], tool_choice="auto", temperature=0, max_tokens=40)
    assert r.choices[0].message.tool_calls, r.choices[0].message.content
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    stream = client.chat.completions.create(model=QWEN_CODER, messages=ASK_WEATHER, tools=[WEATHER], temperature=0, max_tokens=40, stream=True)
    chunks = list(stream)
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert [d.function.name for d in deltas] == ["get_weather"]
    assert not "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # The tool's result goes back as a tool message; told not to call again, the model answers from it.
    follow = client.chat.completions.create(
        model=QWEN_CODER,
        messages=[*ASK_WEATHER, r.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": "18 C and sunny"}],
        tools=[WEATHER],
        tool_choice="none",
        temperature=0,
        max_tokens=30,
    )
    assert "18" in follow.choices[0].message.content


def test_completions_with_suffix_fill_the_middle(client: openai.OpenAI) -> None:
    r = client.completions.create(model=QWEN_CODER, prompt="def add(a, b):\n    ", suffix="\n\nprint(add(1, 2))\n", temperature=0, max_tokens=16)
    assert "return a + b" in r.choices[0].text
    streamed = "".join(c.choices[0].text for c in client.completions.create(model=QWEN_CODER, prompt="def add(a, b):\n    ", suffix="\n\nprint(add(1, 2))\n", temperature=0, max_tokens=16, stream=True) if c.choices)
    assert streamed == r.choices[0].text


def test_completions_raw_text_echo_and_stop(client: openai.OpenAI) -> None:
    r = client.completions.create(model=SMOLLM2, prompt="1, 2, 3,", temperature=0, max_tokens=12, stop=["7"], echo=True)
    assert r.choices[0].text.startswith("1, 2, 3,") and "7" not in r.choices[0].text


def test_suffix_on_a_model_without_fim_is_a_clear_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=SMOLLM2, prompt="def f():", suffix="\n", max_tokens=4)
    assert e.value.body["code"] == "insert_not_supported"


def test_embeddings_float_and_base64(client: openai.OpenAI) -> None:
    floats = client.embeddings.create(model=SMOLLM2, input=["hello world", "goodbye"])
    assert [d.index for d in floats.data] == [0, 1]
    vector = floats.data[0].embedding
    assert len(vector) == 576 and abs(sum(x * x for x in vector) - 1.0) < 1e-3
    raw = client.embeddings.with_raw_response.create(model=SMOLLM2, input="hello world", encoding_format="base64").http_response.json()
    decoded = struct.unpack(f"<{len(vector)}f", base64.b64decode(raw["data"][0]["embedding"]))
    assert max(abs(a - b) for a, b in zip(decoded, vector, strict=True)) < 1e-5
    assert floats.usage.prompt_tokens > 0


def test_models_list_and_get(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert SMOLLM2 in ids and QWEN_CODER in ids
    assert client.models.retrieve(SMOLLM2).id == SMOLLM2
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model:1b")
