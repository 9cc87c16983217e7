"""`POST /api/infill`, the editors' fill-in-the-middle endpoint, on the FIM-capable model."""

from __future__ import annotations

import json

import aiohttp

from tests.conftest import QWEN_CODER, SMOLLM2
from tests.daemon_process import DaemonProcess

ADD = {"model": QWEN_CODER, "prefix": "def add(a, b):\n    ", "suffix": "\n\nprint(add(1, 2))\n", "options": {"temperature": 0, "num_predict": 16}}


async def infill(url: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as s, s.post(url + "/api/infill", json=body) as r:
        return r.status, await r.json()


async def test_infill_fills_the_hole_and_reuses_the_cache(daemon: DaemonProcess) -> None:
    status, first = await infill(daemon.url, ADD)
    assert status == 200 and "return a + b" in str(first["content"])
    assert first["done"] is True and first["done_reason"] in ("stop", "length")
    # The editor asks again after a keystroke in the suffix: the prefix is already cached.
    status, again = await infill(daemon.url, {**ADD, "suffix": "\n\nprint(add(1, 3))\n"})
    assert status == 200 and int(again["cached_tokens"]) >= 8  # type: ignore[call-overload]
    assert int(again["prompt_tokens"]) > int(again["cached_tokens"])  # type: ignore[call-overload]


async def test_infill_takes_other_files_and_llama_cpp_names(daemon: DaemonProcess) -> None:
    body = {
        "model": QWEN_CODER,
        "input_prefix": "from util import double\n\ndef quadruple(x):\n    return ",
        "input_suffix": "\n",
        "input_extra": [{"filename": "util.py", "text": "def double(x):\n    return 2 * x\n"}],
        "filename": "main.py",
        "repo_name": "demo",
        "n_predict": 12,
        "temperature": 0,
        "stop": ["\n"],
    }
    status, answer = await infill(daemon.url, body)
    assert status == 200 and answer["content"] and "\n" not in str(answer["content"])
    status, alone = await infill(daemon.url, {**body, "input_extra": []})
    assert status == 200
    # util.py (about 15 tokens with its file separator) was part of the prompt.
    assert int(answer["prompt_tokens"]) >= int(alone["prompt_tokens"]) + 12  # type: ignore[call-overload]


async def test_infill_streams_ndjson(daemon: DaemonProcess) -> None:
    async with aiohttp.ClientSession() as s, s.post(daemon.url + "/api/infill", json={**ADD, "stream": True}) as r:
        assert r.headers["Content-Type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in (await r.text()).splitlines()]
    assert all(not x["done"] for x in lines[:-1]) and lines[-1]["done"] is True
    assert "return a + b" in "".join(x["content"] for x in lines)
    assert lines[-1]["completion_tokens"] >= 3


async def test_infill_errors(daemon: DaemonProcess) -> None:
    status, answer = await infill(daemon.url, {**ADD, "model": SMOLLM2})
    assert status == 400 and "fill-in-the-middle" in str(answer["error"])
    status, answer = await infill(daemon.url, {**ADD, "extra": "not a list"})
    assert status == 400 and "extra" in str(answer["error"])
    status, answer = await infill(daemon.url, {**ADD, "prefix": "", "suffix": ""})
    assert status == 400
