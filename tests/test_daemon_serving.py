"""The daemon as a server: security, errors on every path, the model scheduler
(keep-alive, eviction, queue), metrics and shutdown. Raw HTTP against real daemons."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import QWEN_CODER, SMOLLM2
from tests.daemon_process import DaemonProcess, free_port, running_daemon

CHAT = {"model": SMOLLM2, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "temperature": 0}


async def post(url: str, body: object, headers: dict[str, str] | None = None, raw: bytes | None = None) -> tuple[int, dict[str, str], object]:
    async with aiohttp.ClientSession() as s:
        data = raw if raw is not None else json.dumps(body).encode()
        async with s.post(url, data=data, headers={"Content-Type": "application/json", **(headers or {})}) as r:
            text = await r.text()
            try:
                payload: object = json.loads(text)
            except json.JSONDecodeError:
                payload = text
            return r.status, dict(r.headers), payload


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers or {}) as r:
        return r.status, dict(r.headers), await r.text()


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def logged(d: DaemonProcess) -> list[dict[str, object]]:
    """The daemon's per-request log records, in order."""
    return [json.loads(line.split(" fireside.requests ", 1)[1]) for line in d.log().splitlines() if " fireside.requests " in line]


def openai_error(payload: object) -> dict[str, object]:
    assert isinstance(payload, dict) and set(payload) == {"error"}, payload
    error = payload["error"]
    assert isinstance(error, dict) and set(error) == {"message", "type", "param", "code"}, error
    return error


# -- errors on every path --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({**CHAT, "model": "no-such-model:7b"}, 404, "not found"),
        ({**CHAT, "model": "../../etc/passwd"}, 400, "invalid model name"),
        ({**CHAT, "max_tokens": -5}, 400, "max_tokens"),
        ({**CHAT, "max_tokens": 10**9}, 400, "max_tokens"),
        ({**CHAT, "temperature": "hot"}, 400, "temperature"),
        ({**CHAT, "temperature": -1}, 400, "temperature"),
        ({**CHAT, "top_p": 7}, 400, "top_p"),
        ({**CHAT, "messages": []}, 400, "messages"),
        ({**CHAT, "messages": [{"role": "wizard", "content": "x"}]}, 400, "role"),
        ({**CHAT, "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "bogus-type"}}}}, 400, "schema"),
        ({**CHAT, "tool_choice": "required"}, 400, "no tools"),
        ({**CHAT, "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}}, 400, "not among"),
        ({**CHAT, "n": 3}, 400, "n=3"),
        ({**CHAT, "options": {"keep_alive": "soon"}}, 400, "keep_alive"),
        ({**CHAT, "messages": [{"role": "user", "content": "x" * 40000}]}, 400, "context"),
        ({**CHAT, "tools": [{"type": "function", "function": "get_weather"}]}, 400, "function must be an object"),
        ({**CHAT, "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": "f"}}, 400, "tool_choice"),
        ({**CHAT, "response_format": {"type": "json_schema", "json_schema": "person"}}, 400, "json_schema"),
        ({**CHAT, "max_tokens": 1e300}, 400, "max_tokens"),
        ({**CHAT, "seed": 10**30}, 400, "seed"),
    ],
)
async def test_openai_errors_are_shaped_and_named(daemon: DaemonProcess, body: dict[str, object], status: int, needle: str) -> None:
    got, _, payload = await post(daemon.url + "/v1/chat/completions", body)
    error = openai_error(payload)
    assert got == status, payload
    assert needle in str(error["message"]).lower()
    assert "/" not in str(error["message"]).replace("../../etc/passwd", "") or status != 404  # no filesystem paths


async def test_malformed_bodies_and_unknown_routes(daemon: DaemonProcess) -> None:
    status, _, payload = await post(daemon.url + "/v1/chat/completions", None, raw=b"{not json")
    assert status == 400 and "JSON" in str(openai_error(payload)["message"])
    status, _, payload = await post(daemon.url + "/v1/chat/completions", None, raw=os.urandom(256))
    assert status == 400
    status, _, payload = await post(daemon.url + "/v1/chat/completions", [1, 2])
    assert status == 400 and openai_error(payload)
    status, _, payload = await post(daemon.url + "/v1/nowhere", {})
    assert status == 404 and openai_error(payload)
    status, _, text = await get(daemon.url + "/api/nowhere")
    assert status == 404 and "error" in json.loads(text)
    # The daemon is still healthy after all that.
    status, _, payload = await post(daemon.url + "/v1/chat/completions", CHAT)
    assert status == 200 and payload["choices"][0]["message"]["content"]  # type: ignore[index]


async def test_error_after_streaming_began_is_in_band(daemon: DaemonProcess) -> None:
    # The prompt is accepted, then generation hits the context's end: the stream must
    # still finish well-formed ("length"), never a broken connection.
    body = {**CHAT, "stream": True, "max_tokens": 8}
    async with aiohttp.ClientSession() as s, s.post(daemon.url + "/v1/chat/completions", json=body) as r:
        lines = [line for line in (await r.text()).splitlines() if line.startswith("data: ")]
    assert r.status == 200 and lines[-1] == "data: [DONE]"


# -- security --------------------------------------------------------------------------


def test_non_loopback_bind_without_key_refuses(tmp_path: Path) -> None:
    env = {**os.environ, "FIRESIDE_CONFIG_DIR": str(tmp_path), "FIRESIDE_API_KEY": ""}
    run = subprocess.run([sys.executable, "-m", "fireside", "serve", "--host", "0.0.0.0", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "FIRESIDE_API_KEY" in run.stderr


async def test_api_key_is_required_and_checked(tmp_path: Path) -> None:
    with running_daemon(tmp_path, env={"FIRESIDE_API_KEY": "s3cret"}, args=("--host", "0.0.0.0")) as d:
        status, _, payload = await post(d.url + "/v1/chat/completions", CHAT)
        assert status == 401 and openai_error(payload)["type"] == "authentication_error"
        status, _, payload = await post(d.url + "/v1/chat/completions", CHAT, headers={"Authorization": "Bearer wrong"})
        assert status == 401
        status, _, payload = await post(d.url + "/api/chat", CHAT, headers={"Authorization": "Bearer wrong"})
        assert status == 401 and "API key" in payload["error"]  # type: ignore[index]
        status, _, payload = await post(d.url + "/v1/chat/completions", CHAT, headers={"Authorization": "Bearer s3cret"})
        assert status == 200
        status, _, _ = await get(d.url + "/metrics", headers={"X-Api-Key": "s3cret"})
        assert status == 200


async def test_host_header_and_origins(daemon: DaemonProcess) -> None:
    status, _, text = await get(daemon.url + "/", headers={"Host": "attacker.example:11435"})
    assert status == 403 and "localhost" in text
    status, headers, _ = await get(daemon.url + "/v1/models", headers={"Origin": "http://localhost:5173"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    status, headers, _ = await get(daemon.url + "/v1/models", headers={"Origin": "vscode-webview://abc123"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "vscode-webview://abc123"
    status, headers, _ = await get(daemon.url + "/v1/models", headers={"Origin": "https://evil.example"})
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    async with aiohttp.ClientSession() as s:
        async with s.options(daemon.url + "/v1/chat/completions", headers={"Origin": "http://127.0.0.1:3000", "Access-Control-Request-Method": "POST"}) as r:
            assert r.status == 204 and "POST" in r.headers["Access-Control-Allow-Methods"]


async def test_configured_origins_and_body_limit(tmp_path: Path) -> None:
    with running_daemon(tmp_path, env={"FIRESIDE_ORIGINS": "https://*.example.org", "FIRESIDE_MAX_BODY": "4096"}) as d:
        status, headers, _ = await get(d.url + "/v1/models", headers={"Origin": "https://app.example.org"})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://app.example.org"
        status, _, payload = await post(d.url + "/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": "x" * 10000}]})
        assert status == 413 and openai_error(payload)
        status, _, payload = await post(d.url + "/api/chat", {**CHAT, "messages": [{"role": "user", "content": "x" * 10000}]})
        assert status == 413 and "error" in payload  # type: ignore[operator]


# -- scheduler ---------------------------------------------------------------------------


async def test_keep_alive_zero_unloads_and_options_do_not_reload(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as d:
        for options in ({"num_ctx": 1024}, {"num_ctx": 512, "top_k": 5}, {"temperature": 0.3, "seed": 1}):
            status, _, _ = await post(d.url + "/v1/chat/completions", {**CHAT, "options": options})
            assert status == 200
        assert [r.get("load_ms", 0) > 0 for r in logged(d) if r.get("model")] == [True, False, False]  # one load, no reloads
        _, _, text = await get(d.url + "/metrics")
        assert metric(text, "fireside_loaded_models") == 1
        status, _, _ = await post(d.url + "/v1/chat/completions", {**CHAT, "options": {"keep_alive": 0}})
        assert status == 200
        deadline = time.monotonic() + 10
        while metric((await get(d.url + "/metrics"))[2], "fireside_loaded_models") != 0:
            assert time.monotonic() < deadline, "keep_alive 0 did not unload the model"
            await asyncio.sleep(0.1)


async def test_least_recently_used_idle_model_is_evicted(tmp_path: Path) -> None:
    with running_daemon(tmp_path, env={"FIRESIDE_MAX_LOADED_MODELS": "1"}) as d:
        for model in (SMOLLM2, QWEN_CODER, SMOLLM2):
            status, _, payload = await post(d.url + "/v1/chat/completions", {**CHAT, "model": model})
            assert status == 200, payload
            assert metric((await get(d.url + "/metrics"))[2], "fireside_loaded_models") == 1


async def test_requests_waiting_for_room_for_the_same_model_share_one_worker(tmp_path: Path) -> None:
    with running_daemon(tmp_path, env={"FIRESIDE_MAX_LOADED_MODELS": "1"}) as d:
        async with aiohttp.ClientSession() as s:
            running = await s.post(d.url + "/v1/chat/completions", json={**CHAT, "max_tokens": 60, "stream": True})
            await running.content.readline()  # SmolLM2 is busy, so Qwen must wait for room
            waiting = [asyncio.ensure_future(post(d.url + "/v1/chat/completions", {**CHAT, "model": QWEN_CODER})) for _ in range(2)]
            await asyncio.sleep(0.5)
            await running.read()
            results = await asyncio.gather(*waiting)
        assert [status for status, _, _ in results] == [200, 200]
        assert [r["model"] for r in logged(d) if r.get("load_ms")] == [SMOLLM2, QWEN_CODER]  # Qwen loaded once
        assert len(_children(d.process.pid)) == 1
        assert metric((await get(d.url + "/metrics"))[2], "fireside_loaded_models") == 1


async def test_a_client_that_hangs_up_frees_its_sequence(tmp_path: Path) -> None:
    # One sequence and no queue: if the abandoned request kept generating, the next
    # request would find the model busy and get 503.
    with running_daemon(tmp_path, env={"FIRESIDE_NUM_PARALLEL": "1", "FIRESIDE_MAX_QUEUE": "0"}) as d:
        assert (await post(d.url + "/v1/chat/completions", CHAT))[0] == 200
        long = {**CHAT, "max_tokens": 2000, "messages": [{"role": "user", "content": "Write a very long story."}]}
        with pytest.raises(TimeoutError):
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as s:
                await s.post(d.url + "/v1/chat/completions", json=long)
        await asyncio.sleep(0.5)
        status, _, payload = await post(d.url + "/v1/chat/completions", CHAT)
        assert status == 200, payload


async def test_queue_overflow_gets_503_with_retry_after(tmp_path: Path) -> None:
    with running_daemon(tmp_path, env={"FIRESIDE_NUM_PARALLEL": "1", "FIRESIDE_MAX_QUEUE": "1"}) as d:
        long = {**CHAT, "max_tokens": 400, "stream": True, "messages": [{"role": "user", "content": "Write a long story."}]}
        async with aiohttp.ClientSession() as s:
            running = await s.post(d.url + "/v1/chat/completions", json=long)
            await running.content.readline()  # generating: holds the only sequence
            waiting = asyncio.ensure_future(s.post(d.url + "/v1/chat/completions", json=long))
            await asyncio.sleep(0.5)  # the second request is queued behind it
            status, headers, payload = await post(d.url + "/v1/chat/completions", CHAT)
            assert status == 503 and headers["Retry-After"] and openai_error(payload)["code"] == "busy"
            running.close()
            (await waiting).close()


async def test_metrics_count_requests_and_tokens(daemon: DaemonProcess) -> None:
    await post(daemon.url + "/v1/chat/completions", CHAT)
    status, headers, text = await get(daemon.url + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert 'fireside_requests_total{endpoint="/v1/chat/completions",status="200"}' in text
    assert 'fireside_tokens_total{backend="local",kind="completion",model="smollm2:135m"}' in text
    for name in ("fireside_request_duration_seconds_bucket", "fireside_queue_depth", "fireside_device_seconds_total"):
        assert name in text


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


async def test_sigterm_shuts_down_cleanly_with_a_stream_in_flight(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as d:
        await post(d.url + "/v1/chat/completions", CHAT)
        workers = _children(d.process.pid)
        assert workers, "the model worker should be running"
        async with aiohttp.ClientSession() as s:
            stream = await s.post(d.url + "/v1/chat/completions", json={**CHAT, "max_tokens": 2000, "stream": True})
            await stream.content.readline()
            d.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(d.process.wait, 30)
            stream.close()
        assert d.process.returncode == 0
        time.sleep(0.5)
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "model workers outlived the daemon"
