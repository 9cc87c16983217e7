"""Ollama's native API, driven by the official `ollama` package against a real daemon on
a loopback port; error paths over raw HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import jsonschema
import ollama
import pytest

from fireside.engine import WorkerSpec
from tests.conftest import QWEN_CODER, SMOLLM2
from tests.daemon_process import DaemonProcess

GREEDY = {"temperature": 0, "num_predict": 12}
ASK = [{"role": "user", "content": "Name a color."}]


@pytest.fixture(scope="module")
def client(daemon: DaemonProcess) -> ollama.Client:
    return ollama.Client(host=daemon.url)


def assert_timed(r: ollama.GenerateResponse | ollama.ChatResponse) -> None:
    for name in ("total_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"):
        value = getattr(r, name)
        assert isinstance(value, int) and value > 0, (name, value)
    assert isinstance(r.load_duration, int) and 0 <= r.load_duration <= r.total_duration
    assert r.created_at and r.created_at.endswith("Z")


def test_generate(client: ollama.Client) -> None:
    r = client.generate(model=SMOLLM2, prompt="Name a color.", options=GREEDY)
    assert r.done and r.done_reason in ("stop", "length") and r.response
    assert 0 < r.eval_count <= 12  # type: ignore[operator]
    assert_timed(r)


def test_generate_stream_matches_non_stream(client: ollama.Client) -> None:
    whole = client.generate(model=SMOLLM2, prompt="Say something about the sea.", options=GREEDY)
    parts = list(client.generate(model=SMOLLM2, prompt="Say something about the sea.", options=GREEDY, stream=True))
    assert len(parts) > 2 and not any(p.done for p in parts[:-1]) and parts[-1].done
    assert "".join(p.response or "" for p in parts) == whole.response
    assert parts[-1].done_reason == whole.done_reason and parts[-1].eval_count == whole.eval_count
    assert_timed(parts[-1])


def test_generate_raw_and_system(client: ollama.Client) -> None:
    raw = client.generate(model=SMOLLM2, prompt="The capital of France is", raw=True, options=GREEDY)
    assert raw.response and raw.prompt_eval_count is not None and raw.prompt_eval_count < 10  # no chat template around it
    framed = client.generate(model=SMOLLM2, prompt="The capital of France is", system="Answer in one word.", options=GREEDY)
    assert framed.prompt_eval_count is not None and framed.prompt_eval_count > raw.prompt_eval_count


def test_generate_fill_in_the_middle(client: ollama.Client, qwen_spec: WorkerSpec) -> None:
    r = client.generate(model=QWEN_CODER, prompt="def add(a, b):\n    ", suffix="\n\nprint(add(1, 2))\n", options={"temperature": 0, "num_predict": 16})
    assert "return a + b" in (r.response or "")


def test_chat_stream_matches_non_stream(client: ollama.Client) -> None:
    whole = client.chat(model=SMOLLM2, messages=ASK, options=GREEDY)
    assert whole.message.role == "assistant" and whole.message.content and whole.done_reason in ("stop", "length")
    assert_timed(whole)
    parts = list(client.chat(model=SMOLLM2, messages=ASK, options=GREEDY, stream=True))
    assert not any(p.done for p in parts[:-1]) and parts[-1].done and parts[-1].message.content == ""
    assert "".join(p.message.content or "" for p in parts) == whole.message.content
    assert_timed(parts[-1])


def test_chat_history_with_tool_calls(client: ollama.Client) -> None:
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    messages = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "18 degrees and sunny", "tool_name": "get_weather"},
    ]
    r = client.chat(model=SMOLLM2, messages=messages, tools=[tool], options=GREEDY)
    assert r.done and r.message.role == "assistant"
    for call in r.message.tool_calls or []:  # if the model calls again, arguments are an object
        assert call.function.name == "get_weather" and isinstance(call.function.arguments, dict)


def test_chat_format_json_schema(client: ollama.Client) -> None:
    schema = {"type": "object", "properties": {"color": {"type": "string", "maxLength": 10}}, "required": ["color"], "additionalProperties": False}
    r = client.chat(model=SMOLLM2, messages=ASK, format=schema, options={"temperature": 0, "num_predict": 32})
    jsonschema.validate(json.loads(r.message.content or ""), schema)


def test_embed(client: ollama.Client) -> None:
    r = client.embed(model=SMOLLM2, input=["def add(a, b): return a + b", "a cat on a mat"])
    assert len(r.embeddings) == 2 and len(r.embeddings[0]) == len(r.embeddings[1]) > 0
    assert r.embeddings[0] != r.embeddings[1]
    legacy = client.embeddings(model=SMOLLM2, prompt="a cat on a mat")
    assert len(legacy.embedding) == len(r.embeddings[0])


def test_tags(client: ollama.Client) -> None:
    client.show(SMOLLM2)  # the embedded default installs itself on first use
    models = {m.model: m for m in client.list().models}
    smollm2 = models[SMOLLM2]
    assert smollm2.size and smollm2.size > 50_000_000 and smollm2.digest and len(smollm2.digest) == 64
    assert smollm2.details and smollm2.details.format == "gguf" and smollm2.details.family == "llama"
    assert smollm2.details.quantization_level == "Q4_1" and smollm2.details.parameter_size == "135M"


def test_ps_lists_a_loaded_model(client: ollama.Client) -> None:
    client.generate(model=SMOLLM2, prompt="Hi", options={"num_predict": 1})
    running = {m.model: m for m in client.ps().models}
    model = running[SMOLLM2]
    assert model.context_length and model.context_length > 0
    assert model.size and model.size > 50_000_000 and model.details and model.details.family == "llama"
    assert model.expires_at and model.expires_at > datetime.now(UTC)


def test_show(client: ollama.Client, qwen_spec: WorkerSpec) -> None:
    smollm2 = client.show(SMOLLM2)
    assert smollm2.capabilities and "completion" in smollm2.capabilities and "insert" not in smollm2.capabilities
    assert smollm2.modelinfo and smollm2.modelinfo["general.architecture"] == "llama" and smollm2.modelinfo["llama.context_length"] > 0
    assert smollm2.modelinfo["tokenizer.ggml.tokens"] is None  # the vocabulary is left out
    assert smollm2.template and "num_ctx" in (smollm2.parameters or "")
    assert ".gguf" not in json.dumps(smollm2.model_dump(mode="json"))  # no file paths
    qwen = client.show(QWEN_CODER)
    assert qwen.capabilities and {"completion", "insert", "tools"} <= set(qwen.capabilities)


def test_load_then_keep_alive_zero_unloads(client: ollama.Client) -> None:
    loaded = client.generate(model=SMOLLM2)
    assert loaded.done and loaded.done_reason == "load"
    assert SMOLLM2 in {m.model for m in client.ps().models}
    client.chat(model=SMOLLM2, messages=ASK, options={"num_predict": 2}, keep_alive=0)
    deadline = time.monotonic() + 10
    while SMOLLM2 in {m.model for m in client.ps().models}:
        assert time.monotonic() < deadline, "keep_alive 0 did not unload the model"
        time.sleep(0.1)
    assert client.chat(model=SMOLLM2, messages=[], keep_alive=0).done_reason == "unload"


async def post(url: str, raw: bytes) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.post(url, data=raw, headers={"Content-Type": "application/json"}) as r:
        return r.status, json.loads(await r.text())


GENERATE = {"model": SMOLLM2, "prompt": "Hi", "options": {"num_predict": 2}, "stream": False}
CHAT = {"model": SMOLLM2, "messages": ASK, "options": {"num_predict": 2}, "stream": False}


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/api/generate", {**GENERATE, "model": "no-such-model:7b"}, 404, "not found"),
        ("/api/chat", {**CHAT, "model": "no-such-model:7b"}, 404, "not found"),
        ("/api/show", {"model": "no-such-model:7b"}, 404, "not found"),
        ("/api/generate", {**GENERATE, "model": "../../etc/passwd"}, 400, "invalid model name"),
        ("/api/generate", {**GENERATE, "images": ["iVBORw0KGgo="]}, 400, "images"),
        ("/api/chat", {**CHAT, "messages": [{"role": "user", "content": "What is this?", "images": ["iVBORw0KGgo="]}]}, 400, "images"),
        ("/api/generate", {**GENERATE, "options": {"temperature": "hot"}}, 400, "temperature"),
        ("/api/generate", {**GENERATE, "options": {"num_predict": "many"}}, 400, "num_predict"),
        ("/api/chat", {**CHAT, "options": {"top_k": 1.5}}, 400, "top_k"),
        ("/api/chat", {**CHAT, "options": {"stop": 3}}, 400, "stop"),
        ("/api/chat", {**CHAT, "options": "fast"}, 400, "options"),
        ("/api/chat", {**CHAT, "stream": "yes"}, 400, "stream"),
        ("/api/chat", {**CHAT, "format": 7}, 400, "format"),
        ("/api/chat", {**CHAT, "keep_alive": "soon"}, 400, "keep_alive"),
        ("/api/chat", {**CHAT, "messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": {}}}]}]}, 400, "tool_calls"),
        ("/api/generate", {**GENERATE, "template": "{{ .Prompt }}"}, 400, "templates"),
        ("/api/generate", {**GENERATE, "suffix": "\n"}, 400, "insert"),
        ("/api/embed", {"model": SMOLLM2, "input": [1, 2]}, 400, "input"),
    ],
)
async def test_errors_are_ollama_shaped(daemon: DaemonProcess, path: str, body: dict[str, Any], status: int, needle: str) -> None:
    got, payload = await post(daemon.url + path, json.dumps(body).encode())
    assert got == status and set(payload) == {"error"}, payload
    assert needle in payload["error"].lower()


async def test_bad_json_is_400(daemon: DaemonProcess) -> None:
    for path in ("/api/generate", "/api/chat", "/api/embed", "/api/show"):
        status, payload = await post(daemon.url + path, b"{not json")
        assert status == 400 and "JSON" in payload["error"]
