"""`fireside lsp` over stdio with a real daemon and real models, driven by pygls' client."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import pytest
from lsprotocol import types

from tests.conftest import QWEN_CODER, SMOLLM2
from tests.daemon_process import DaemonProcess, free_port
from tests.lsp_session import lsp_session

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _env(daemon_url: str) -> dict[str, str]:
    return {**os.environ, "FIRESIDE_HOST": daemon_url.removeprefix("http://")}


def _options(model: str, **completion: object) -> dict[str, object]:
    return {"daemon": {"start": False}, "models": {"completion": model}, "completion": {"debounceMs": 0, **completion}}


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


GREET = 'def greet(name):\n    """Say hello 👋 to 世界 and to name."""\n    message = "Hello 👋, " + name\n    return mess'


async def test_fim_completion_replaces_the_typed_word_with_a_utf16_range(daemon: DaemonProcess, tmp_path: Path) -> None:
    async with lsp_session(tmp_path / "ws", _options(QWEN_CODER), _env(daemon.url)) as lsp:
        uri = lsp.open("greet.py", GREET + "\n")
        last = GREET.splitlines()[-1]
        cursor = types.Position(line=3, character=_utf16(last))
        result = await lsp.inline(uri, cursor)
        assert result is not None and result.items, lsp.log()
        item = result.items[0]
        assert isinstance(item.insert_text, str) and item.insert_text.startswith("message"), item
        assert item.range == types.Range(types.Position(3, cursor.character - len("mess")), cursor)
        assert "\n" not in item.insert_text  # mid-line: one line
        # The cursor line has no wide characters, so also one with emoji and CJK before the cursor:
        line = '    print("👋 世界", mes'
        uri2 = lsp.open("wide.py", GREET.rsplit("\n", 1)[0] + "\n" + line + "\n")
        at = types.Position(line=3, character=_utf16(line))
        assert at.character != len(line.encode()) and at.character == len(line) + 1  # the emoji is two UTF-16 units
        wide = await lsp.inline(uri2, at)
        assert wide is not None and wide.items, lsp.log()
        assert wide.items[0].range == types.Range(types.Position(3, at.character - 3), at)
        assert str(wide.items[0].insert_text).startswith("message")


FIB = "def fib(n):\n    if n < 2:\n        return n\n"


async def test_a_blank_line_in_a_body_gets_a_suggestion_indented_into_the_body(daemon: DaemonProcess, tmp_path: Path) -> None:
    """At column 0 of a blank line the prompt would end in a bare line break, which the
    model reads as the end of the hole; healed, it writes the body's next line."""
    async with lsp_session(tmp_path / "ws", _options(QWEN_CODER, prefetch=False), _env(daemon.url)) as lsp:
        uri = lsp.open("fib.py", FIB + "\n\nprint(fib(10))\n")
        result = await lsp.inline(uri, types.Position(3, 0))
        assert result is not None and result.items, lsp.log()
        first_line = str(result.items[0].insert_text).split("\n")[0]
        assert first_line.startswith("    ") and first_line.strip(), result.items


async def test_typing_through_a_suggestion_is_answered_from_the_cache(daemon: DaemonProcess, tmp_path: Path) -> None:
    async with lsp_session(tmp_path / "ws", _options(QWEN_CODER, prefetch=False), _env(daemon.url)) as lsp:
        uri = lsp.open("greet.py", GREET + "\n")
        cursor = types.Position(line=3, character=_utf16(GREET.splitlines()[-1]))
        first = await lsp.inline(uri, cursor)
        assert first is not None and first.items
        suggestion = str(first.items[0].insert_text)
        assert suggestion.startswith("message") and len(suggestion) > len("mess")
        lsp.insert(uri, 2, cursor, suggestion[4])  # the user types the next character of it
        moved = types.Position(3, cursor.character + 1)
        second = await lsp.inline(uri, moved, invoked=False)
        assert second is not None and second.items
        assert second.items[0].insert_text == suggestion  # same text, replacing one more typed character
        assert second.items[0].range == types.Range(types.Position(3, cursor.character - 4), moved)
        stats = await lsp.stats()
        assert stats["from_cache"] == 1 and stats["generated"] == 1, stats


async def test_prefix_only_model_completes_and_reports_status(daemon: DaemonProcess, tmp_path: Path) -> None:
    async with lsp_session(tmp_path / "ws", _options(SMOLLM2, prefetch=False), _env(daemon.url)) as lsp:
        text = 'import math\n\n\ndef circle_area(radius):\n    """Return the area of a circle."""\n    return math.'
        uri = lsp.open("area.py", text + "\n")
        result = await lsp.inline(uri, types.Position(5, len(text.splitlines()[-1])))
        assert result is not None and result.items, lsp.log()
        assert str(result.items[0].insert_text).startswith("pi"), result.items
        states = [s["state"] for s in lsp.statuses]
        assert "busy" in states and states[-1] == "idle", lsp.statuses


async def test_superseded_request_stops_the_generation_in_the_engine(daemon: DaemonProcess, tmp_path: Path) -> None:
    """A newer keystroke aborts the older request and the model stops generating: a
    400-token answer is cut short, as the daemon's log says."""
    async with lsp_session(tmp_path / "ws", _options(SMOLLM2, maxTokens=400, prefetch=False), _env(daemon.url)) as lsp:
        line = "numbers = [" + ", ".join(str(n) for n in range(1, 61)) + ", "  # a line the model keeps counting on
        warm = lsp.open("warm.py", "x = 1\ny = \n")
        await lsp.inline(warm, types.Position(1, 4))  # the model is loaded before the clock starts
        uri = lsp.open("numbers.py", line + "\n")
        at = types.Position(0, len(line))
        writing = lsp.log().count("the model is writing")
        older = asyncio.create_task(lsp.inline(uri, at, invoked=False))
        for _ in range(600):  # until the model is writing numbers
            if lsp.log().count("the model is writing") > writing:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        lsp.insert(uri, 2, at, "1")
        result = await asyncio.wait_for(older, 10)
        assert result is None or not result.items  # superseded: nothing to show for it
        for _ in range(100):
            cancelled = re.findall(r"generation \d+ cancelled after (\d+) tokens", daemon.log())
            if cancelled:
                break
            await asyncio.sleep(0.1)
        assert cancelled, daemon.log()[-3000:]
        assert int(cancelled[-1]) < 400
        stats = await lsp.stats()
        assert stats["superseded"] >= 1, stats
        # and the next request is answered
        newer = await lsp.inline(uri, types.Position(0, len(line) + 1))
        assert newer is not None and newer.items, lsp.log()


async def test_invalid_settings_are_reported_by_name_and_defaults_used(daemon: DaemonProcess, tmp_path: Path) -> None:
    options = {"daemon": {"start": False}, "models": {"completion": QWEN_CODER}, "completion": {"debounceMs": "fast", "maxTokens": 0, "exclude": "*.pem"}}
    async with lsp_session(tmp_path / "ws", options, _env(daemon.url)) as lsp:
        uri = lsp.open("greet.py", GREET + "\n")
        result = await lsp.inline(uri, types.Position(3, _utf16(GREET.splitlines()[-1])))
        assert result is not None and result.items  # the defaults work
        text = " | ".join(m.message for m in lsp.messages)
        for key in ("completion.debounceMs", "completion.maxTokens", "completion.exclude"):
            assert key in text, text
        assert all(m.type == types.MessageType.Warning for m in lsp.messages)
        # a bad value sent later is reported too
        lsp.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"fireside": {"completion": {"contextTokens": -5}}}))
        for _ in range(50):
            if any("completion.contextTokens" in m.message for m in lsp.messages):
                break
            await asyncio.sleep(0.05)
        assert any("completion.contextTokens" in m.message for m in lsp.messages), lsp.messages


async def test_secrets_and_disabled_languages_get_no_completion(daemon: DaemonProcess, tmp_path: Path) -> None:
    async with lsp_session(tmp_path / "ws", _options(QWEN_CODER, languages={"markdown": False}), _env(daemon.url)) as lsp:
        env_uri = lsp.open(".env", "API_KEY=sk-", "dotenv")
        assert await lsp.inline(env_uri, types.Position(0, 11)) is None
        md_uri = lsp.open("notes.md", "# Notes\n\nThe plan is", "markdown")
        assert await lsp.inline(md_uri, types.Position(2, 11)) is None
        assert (await lsp.stats())["requests"] == 0  # nothing was even considered


def _kill_daemon_on(port: int) -> bool:
    """Stop a `fireside serve` the language server started (it outlives its parent)."""
    for proc in Path("/proc").iterdir():
        try:
            if b"fireside\x00serve" in (proc / "cmdline").read_bytes() and f"FIRESIDE_HOST=127.0.0.1:{port}".encode() in (proc / "environ").read_bytes():
                os.kill(int(proc.name), signal.SIGTERM)
                return True
        except (OSError, ValueError):
            continue
    return False


async def test_starts_a_daemon_when_none_answers_unless_told_not_to(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "FIRESIDE_CACHE_DIR": str(tmp_path / "cache"), "FIRESIDE_NUM_THREAD": "2"}
    off = {"daemon": {"host": f"127.0.0.1:{port}", "start": False}, "completion": {"debounceMs": 0}}
    async with lsp_session(tmp_path / "off", off, env) as lsp:
        uri = lsp.open("a.py", "def f():\n    return ")
        assert (await lsp.inline(uri, types.Position(1, 11))) is not None
        assert any(s["state"] == "offline" for s in lsp.statuses), lsp.statuses
        assert any(f"127.0.0.1:{port}" in m.message for m in lsp.messages), lsp.messages
    on = {"daemon": {"host": f"127.0.0.1:{port}"}, "models": {"completion": SMOLLM2}, "completion": {"debounceMs": 0}}
    try:
        async with lsp_session(tmp_path / "on", on, env) as lsp:
            uri = lsp.open("a.py", "def add(a, b):\n    return a + ")
            result = await lsp.inline(uri, types.Position(1, 15))
            assert result is not None and result.items, lsp.log()
            assert not any(s["state"] == "offline" for s in lsp.statuses)
    finally:
        assert _kill_daemon_on(port)
