"""Remote backends, with a second real daemon as "our cloud": daemon A serves models that
live on daemon B (behind an API key), through a fleet whose first server is dead."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from aiohttp import web

from fireside.api.answers import AnswerRequest, Delta, Finish
from fireside.api.remote import RemoteAnswer, RemoteRouter
from fireside.models.registry import Backend, ModelEntry
from tests.conftest import SMOLLM2, WEATHER
from tests.daemon_process import DaemonProcess, free_port, running_daemon

KEY = "secret"
ASK = [{"role": "user", "content": "Name a color."}]


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """Daemon B: the built-in models, behind an API key."""
    with running_daemon(tmp_path_factory.mktemp("cloud"), env={"FIRESIDE_API_KEY": KEY, "FIRESIDE_NUM_PARALLEL": "2"}) as d:
        yield d


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory, cloud: DaemonProcess) -> Iterator[DaemonProcess]:
    """Daemon A: models on B through a fleet whose first URL is dead, on B without its key,
    and on a backend whose servers are all dead."""
    config = tmp_path_factory.mktemp("front")
    (config / "models.toml").write_text(
        f"""
[backends.cloud]
base_urls = ["{_dead_url()}", "{cloud.url}"]
api_key_env = "CLOUD_KEY"

[backends.keyless]
base_url = "{cloud.url}"

[backends.gone]
base_urls = ["{_dead_url()}", "{_dead_url()}"]

[backends.claude]
base_url = "{cloud.url}"
api_key_env = "CLOUD_KEY"
api = "anthropic"

[models."cloud-smol"]
backend = "cloud"
remote_name = "{SMOLLM2}"

[models."claude-smol"]
backend = "claude"
remote_name = "{SMOLLM2}"

[models."cloud-missing"]
backend = "cloud"
remote_name = "no-such-model:1b"

[models."keyless-smol"]
backend = "keyless"
remote_name = "{SMOLLM2}"

[models."gone-smol"]
backend = "gone"
remote_name = "{SMOLLM2}"
"""
    )
    with running_daemon(config, env={"CLOUD_KEY": KEY}) as d:
        yield d


@pytest.fixture(scope="module")
def via_front(front: DaemonProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=front.url + "/v1", api_key="x", max_retries=0)


@pytest.fixture(scope="module")
def direct(cloud: DaemonProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=cloud.url + "/v1", api_key=KEY, max_retries=0)


def test_chat_fails_over_to_a_live_server_and_answers_as_it_does(via_front: openai.OpenAI, direct: openai.OpenAI, front: DaemonProcess) -> None:
    mine = direct.chat.completions.create(model=SMOLLM2, messages=ASK, temperature=0, max_tokens=12)
    theirs = via_front.chat.completions.create(model="cloud-smol", messages=ASK, temperature=0, max_tokens=12)
    assert theirs.choices[0].message.content == mine.choices[0].message.content
    assert theirs.choices[0].finish_reason == mine.choices[0].finish_reason
    assert theirs.usage is not None and mine.usage is not None
    assert (theirs.usage.prompt_tokens, theirs.usage.completion_tokens) == (mine.usage.prompt_tokens, mine.usage.completion_tokens)
    assert 'remote backend "cloud"' in front.log() and "set aside" in front.log()
    assert KEY not in front.log()


def test_an_anthropic_backend_answers_as_the_model_does(via_front: openai.OpenAI, direct: openai.OpenAI) -> None:
    """Daemon B's own Messages API stands in for Anthropic's: A translates to and from it."""
    mine = direct.chat.completions.create(model=SMOLLM2, messages=ASK, temperature=0, max_tokens=12)
    theirs = via_front.chat.completions.create(model="claude-smol", messages=ASK, temperature=0, max_tokens=12)
    assert theirs.choices[0].message.content == mine.choices[0].message.content
    assert theirs.usage is not None and mine.usage is not None
    assert (theirs.usage.prompt_tokens, theirs.usage.completion_tokens) == (mine.usage.prompt_tokens, mine.usage.completion_tokens)
    with pytest.raises(openai.BadRequestError, match="Messages API"):
        via_front.completions.create(model="claude-smol", prompt="Once", max_tokens=4)


def test_chat_streams_through_in_pieces_with_usage(via_front: openai.OpenAI) -> None:
    whole = via_front.chat.completions.create(model="cloud-smol", messages=ASK, temperature=0, max_tokens=12)
    chunks = list(via_front.chat.completions.create(model="cloud-smol", messages=ASK, temperature=0, max_tokens=12, stream=True, stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 3
    assert "".join(pieces) == whole.choices[0].message.content
    assert chunks[-1].usage is not None and whole.usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens > 0
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens > 0  # B reused its cached prefix


def test_tool_calls_come_back_as_calls(via_front: openai.OpenAI) -> None:
    ask = [{"role": "user", "content": "What is the weather in Paris right now?"}]
    r = via_front.chat.completions.create(model="cloud-smol", messages=ask, tools=[WEATHER], tool_choice="required", temperature=0, max_tokens=40)
    assert r.choices[0].finish_reason == "tool_calls"
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and isinstance(json.loads(call.function.arguments).get("city"), str)


def test_text_completion_and_embeddings_match_the_backend(via_front: openai.OpenAI, direct: openai.OpenAI) -> None:
    mine = direct.completions.create(model=SMOLLM2, prompt="1, 2, 3,", temperature=0, max_tokens=8)
    theirs = via_front.completions.create(model="cloud-smol", prompt="1, 2, 3,", temperature=0, max_tokens=8)
    assert theirs.choices[0].text == mine.choices[0].text
    mine_e = direct.embeddings.create(model=SMOLLM2, input=["hello world"])
    theirs_e = via_front.embeddings.create(model="cloud-smol", input=["hello world"])
    assert max(abs(a - b) for a, b in zip(mine_e.data[0].embedding, theirs_e.data[0].embedding, strict=True)) < 1e-5
    assert theirs_e.usage.prompt_tokens == mine_e.usage.prompt_tokens > 0


def test_backend_rejections_keep_their_status_and_message(via_front: openai.OpenAI) -> None:
    # SmolLM2 has no FIM tokens: B says 400, and so does A, with B's words.
    with pytest.raises(openai.BadRequestError) as bad:
        via_front.completions.create(model="cloud-smol", prompt="def f():", suffix="\n", max_tokens=4)
    assert 'remote backend "cloud"' in bad.value.message and "fill-in-the-middle" in bad.value.message.lower()
    with pytest.raises(openai.NotFoundError) as missing:
        via_front.chat.completions.create(model="cloud-missing", messages=ASK, max_tokens=4)
    assert "no-such-model" in missing.value.message


def test_a_backend_refusing_our_key_is_an_error(via_front: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        via_front.chat.completions.create(model="keyless-smol", messages=ASK, max_tokens=4)
    assert refused.value.status_code == 502
    assert 'remote backend "keyless"' in refused.value.message and "401" in refused.value.message


def test_all_servers_down_is_a_502_in_openai_shape(front: DaemonProcess) -> None:
    body = json.dumps({"model": "gone-smol", "messages": ASK, "max_tokens": 4}).encode()
    request = urllib.request.Request(front.url + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=30)
    assert e.value.code == 502
    error = json.loads(e.value.read())["error"]
    assert error["code"] == "remote_error" and error["type"] == "api_error"
    assert 'remote backend "gone"' in error["message"] and "127.0.0.1" not in error["message"]


def test_metrics_count_remote_tokens(via_front: openai.OpenAI, front: DaemonProcess) -> None:
    via_front.chat.completions.create(model="cloud-smol", messages=ASK, temperature=0, max_tokens=4)
    with urllib.request.urlopen(front.url + "/metrics", timeout=10) as r:
        metrics = r.read().decode()
    for kind in ("prompt", "completion"):
        line = re.search(rf'fireside_tokens_total\{{backend="remote",kind="{kind}",model="cloud-smol"\}} (\S+)', metrics)
        assert line is not None and float(line.group(1)) > 0, metrics


async def _fake_server(port: int, name: str, gate: asyncio.Event) -> web.AppRunner:
    """A minimal OpenAI-compatible server that answers its own name, then waits for `gate`."""

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": []})

    async def chat(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in ({"choices": [{"index": 0, "delta": {"content": name}, "finish_reason": None}]}, None,
                      {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}):
            if chunk is None:
                await gate.wait()
            else:
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def _first_words(answer: RemoteAnswer) -> str:
    async for event in answer.events():
        if isinstance(event, Delta):
            return event.content
    raise AssertionError("the answer had no text")


async def test_a_fleet_takes_a_server_back_when_it_answers_and_spreads_the_load() -> None:
    ports = (free_port(), free_port())
    backend = Backend("fleet", tuple(f"http://127.0.0.1:{p}" for p in ports))
    entry = ModelEntry("m:latest", backend="fleet")
    request = AnswerRequest(model=entry.name, messages=({"role": "user", "content": "hi"},))
    router, gate = RemoteRouter(), asyncio.Event()
    gate.set()
    runners = [await _fake_server(ports[1], "two", gate)]
    try:
        async with router.answer(backend, entry, request) as answer:  # "one" is down: "two" answers
            events = [e async for e in answer.events()]
        assert events[0] == Delta("two") and isinstance(events[-1], Finish) and events[-1].stats.prompt_tokens == 3
        runners.append(await _fake_server(ports[0], "one", gate))
        for _ in range(50):  # the probe finds "one" answering again within a few seconds
            async with router.answer(backend, entry, request) as answer:
                if await _first_words(answer) == "one":
                    break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("the revived server never came back into rotation")
        gate.clear()  # two answers at once: each server gets one
        async with router.answer(backend, entry, request) as a, router.answer(backend, entry, request) as b:
            assert {await _first_words(a), await _first_words(b)} == {"one", "two"}
            gate.set()
    finally:
        gate.set()
        await router.close()
        for runner in runners:
            await runner.cleanup()


def test_offline_refuses_remote_models_and_sends_nothing(tmp_path: Path, cloud: DaemonProcess) -> None:
    (tmp_path / "models.toml").write_text(f'[backends.cloud]\nbase_url = "{cloud.url}"\napi_key_env = "CLOUD_KEY"\n\n[models."cloud-smol"]\nbackend = "cloud"\nremote_name = "{SMOLLM2}"\n')
    before = cloud.log().count('"path":"/v1/chat/completions"')
    with running_daemon(tmp_path, env={"CLOUD_KEY": KEY, "FIRESIDE_OFFLINE": "1"}) as offline:
        client = openai.OpenAI(base_url=offline.url + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.PermissionDeniedError, match="FIRESIDE_OFFLINE"):
            client.chat.completions.create(model="cloud-smol", messages=ASK, max_tokens=4)
        assert client.chat.completions.create(model=SMOLLM2, messages=ASK, max_tokens=4).choices[0].message.content is not None  # local models still work
    assert cloud.log().count('"path":"/v1/chat/completions"') == before
