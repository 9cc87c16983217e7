"""Code actions, chat and escalation over a real `fireside lsp`, with two real daemons: the
local one (the embedded model drafts) and our "cloud", a second daemon serving
Qwen2.5-Coder behind an API key, reached through a recording proxy that keeps what left
the machine."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from fireside.lsp.json_params import plain
from tests.conftest import QWEN_CODER, SMOLLM2
from tests.daemon_process import DaemonProcess, running_daemon
from tests.lsp_session import LspSession, lsp_session
from tests.recording_proxy import RecordingProxy, recording_proxy

KEY = "cloud-key-for-tests"
SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
CALC = f'''API_KEY = "{SECRET}"


def mean(values):
    """The arithmetic mean."""
    return sum(values) / len(values) + 1
'''
TESTS = "from calc import mean\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n"


@dataclass
class Setup:
    root: Path
    state: Path
    front: DaemonProcess
    proxy: RecordingProxy

    def ledger(self) -> list[dict[str, Any]]:
        path = self.state / "ledger.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory):
    with running_daemon(tmp_path_factory.mktemp("cloud"), env={"FIRESIDE_API_KEY": KEY}) as d:
        yield d


@asynccontextmanager
async def setup(tmp_path: Path, cloud: DaemonProcess) -> AsyncIterator[Setup]:
    root = tmp_path / "workspace"
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(CALC)
    (root / "tests" / "test_calc.py").write_text(TESTS)
    (root / ".fireside.toml").write_text(f'[checks]\ntest = "{sys.executable} -m pytest -x -q -p no:cacheprovider {{tests}}"\ntimeout = 60\n')
    (root / "secrets").mkdir()
    (root / "secrets" / "vault.py").write_text(CALC)
    async with recording_proxy(cloud.url) as proxy:
        config = tmp_path / "front"
        config.mkdir()
        (config / "models.toml").write_text(f"""
[backends.cloud]
base_url = "{proxy.base}"
api_key_env = "CLOUD_KEY"

[models."cloud-coder"]
backend = "cloud"
remote_name = "{QWEN_CODER}"
prices = {{ input = 3.0, output = 15.0 }}
""")
        with running_daemon(config, env={"CLOUD_KEY": KEY}) as front:
            yield Setup(root, tmp_path / "state", front, proxy)


async def command(lsp: LspSession, name: str, *arguments: Any) -> Any:
    return plain(await lsp.client.workspace_execute_command_async(types.ExecuteCommandParams(name, list(arguments))))


async def chat(lsp: LspSession, params: dict[str, Any]) -> dict[str, Any]:
    return plain(await lsp.client.protocol.send_request_async("fireside/chat", params))


def options(front: DaemonProcess, cloud_model: str | None = "cloud-coder") -> dict[str, Any]:
    return {"daemon": {"host": f"127.0.0.1:{front.port}", "start": False}, "models": {"chat": SMOLLM2}, "cascade": {"cloudModel": cloud_model}}


def _diagnostic(text: str) -> types.Diagnostic:
    line = text[: text.index("return sum")].count("\n")
    return types.Diagnostic(range=types.Range(types.Position(line, 4), types.Position(line, 40)), message="test_mean fails: assert 3.0 == 2", source="pytest")


async def _fix_action(lsp: LspSession, uri: str, text: str) -> types.CodeAction:
    diagnostic = _diagnostic(text)
    actions = await lsp.client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri), range=diagnostic.range, context=types.CodeActionContext(diagnostics=[diagnostic])))
    assert actions is not None
    fixes = [a for a in actions if isinstance(a, types.CodeAction) and a.kind == types.CodeActionKind.QuickFix]
    assert fixes and fixes[0].edit is None  # listing is instant: the model works on resolve
    return fixes[0]


async def test_a_failing_local_draft_escalates_redacted_and_is_ledgered(tmp_path: Path, cloud: DaemonProcess) -> None:
    async with setup(tmp_path, cloud) as s, lsp_session(s.root, options(s.front), env={"FIRESIDE_STATE_DIR": str(s.state)}) as lsp:
        uri = lsp.open("calc.py", CALC)
        action = await _fix_action(lsp, uri, CALC)
        resolved = await lsp.client.code_action_resolve_async(action)
        (entry,) = s.ledger()
        assert entry["action"] == "fix" and entry["path"] == "calc.py" and entry["local_model"] == SMOLLM2
        assert entry["local_tokens_in"] > 0 and entry["local_seconds"] > 0
        assert entry["escalated"], f"the local draft passed: {entry}"
        assert entry["signal"]["check"] in ("change", "syntax", "test") and entry["signal"]["excerpt"]
        assert entry["cloud_model"] == "cloud-coder" and entry["cloud_tokens_in"] > 0 and entry["cloud_tokens_out"] > 0
        assert entry["cost_usd"] == pytest.approx((entry["cloud_tokens_in"] * 3.0 + entry["cloud_tokens_out"] * 15.0) / 1e6)
        assert entry["outcome"] in ("cloud", "cloud-failed")
        # What left the machine: one chat request to the cloud, with the key redacted.
        sent = [r for r in s.proxy.requests if r[0] == "POST"]
        assert len(sent) == 1 and "chat/completions" in sent[0][1]
        assert SECRET not in s.proxy.bodies() and "[REDACTED API key]" in s.proxy.bodies()
        last_line = entry["signal"]["excerpt"].strip().splitlines()[-1]
        assert json.dumps(last_line)[1:-1] in s.proxy.bodies()  # the failing check's output went with it
        # Nothing changed on disk: the edit is the editor's to apply.
        assert (s.root / "calc.py").read_text() == CALC
        if resolved.edit is not None:
            (change,) = resolved.edit.document_changes
            assert change.text_document.uri == uri and change.text_document.version == 1
            assert "cloud" in resolved.title or "local" in resolved.title
        else:
            assert any("no usable edit" in m.message for m in lsp.messages)
        assert any(isinstance(v, dict) and v.get("kind") == "begin" or getattr(v, "kind", None) == "begin" for _, v in lsp.progress)


async def test_never_send_files_stay_local_and_the_user_is_told(tmp_path: Path, cloud: DaemonProcess) -> None:
    before = cloud.log().count('"method":"POST"')
    async with setup(tmp_path, cloud) as s, lsp_session(s.root, options(s.front), env={"FIRESIDE_STATE_DIR": str(s.state)}) as lsp:
        uri = lsp.open("secrets/vault.py", CALC)
        payload = await command(lsp, "fireside.showCloudPayload", (await _fix_action(lsp, uri, CALC)).data)
        assert payload["sent"] is False and "never_send" in payload["reason"]
        await lsp.client.code_action_resolve_async(await _fix_action(lsp, uri, CALC))
        (entry,) = s.ledger()
        if entry["outcome"] != "local":
            assert entry["outcome"] == "blocked" and "secrets/**" in entry["blocked"] and not entry["escalated"]
            assert any("not asked" in m.message and "never_send" in m.message for m in lsp.messages)
        assert s.proxy.requests == []  # the cloud received nothing
        assert cloud.log().count('"method":"POST"') == before


async def test_the_cloud_payload_shows_what_would_be_sent(tmp_path: Path, cloud: DaemonProcess) -> None:
    async with setup(tmp_path, cloud) as s, lsp_session(s.root, options(s.front), env={"FIRESIDE_STATE_DIR": str(s.state)}) as lsp:
        uri = lsp.open("calc.py", CALC)
        action = await _fix_action(lsp, uri, CALC)
        payload = await command(lsp, "fireside.showCloudPayload", action.data)
        assert payload["sent"] is True and payload["model"] == "cloud-coder" and payload["redacted"] == ["API key"]
        text = json.dumps(payload["messages"])
        assert SECRET not in text and "return sum(values)" in text
        assert s.proxy.requests == []  # showing is not sending


async def test_chat_streams_and_stops_when_cancelled(tmp_path: Path, cloud: DaemonProcess) -> None:
    async with setup(tmp_path, cloud) as s, lsp_session(s.root, options(s.front), env={"FIRESIDE_STATE_DIR": str(s.state)}) as lsp:
        uri = lsp.open("calc.py", CALC)
        answer = await chat(lsp, {
            "messages": [{"role": "user", "content": "What does mean() return? One sentence."}], "partialResultToken": "t1",
            "context": {"uri": uri, "range": [3, 0, 6, 0]}})
        deltas = [plain(v)["delta"] for t, v in lsp.progress if t == "t1"]
        assert answer["content"] and "".join(deltas) == answer["content"] and len(deltas) > 1
        follow = await chat(lsp, {"conversationId": answer["conversationId"], "messages": [{"role": "user", "content": "Shorter."}]})
        assert follow["conversationId"] == answer["conversationId"] and follow["content"]
        # A long answer, cancelled after its first pieces: the daemon stops generating.
        msg_id, long = lsp.request("fireside/chat", {"messages": [{"role": "user", "content": "Write a long story about a lighthouse."}], "partialResultToken": "t2"})
        for _ in range(600):
            if sum(1 for t, _v in lsp.progress if t == "t2") >= 3:
                break
            await asyncio.sleep(0.05)
        lsp.cancel(msg_id)
        with pytest.raises(Exception):
            await asyncio.wait_for(long, 30)
        streamed = sum(1 for t, _v in lsp.progress if t == "t2")
        await asyncio.sleep(1.5)
        assert sum(1 for t, _v in lsp.progress if t == "t2") <= streamed + 2
        for _ in range(100):
            if "cancelled after" in s.front.log():
                break
            await asyncio.sleep(0.1)
        assert "cancelled after" in s.front.log()
        bad = lsp.request("fireside/chat", {"messages": "hi"})[1]
        with pytest.raises(Exception, match="messages must be"):
            await bad


async def test_each_action_answers_and_a_cancelled_one_stops_the_model(tmp_path: Path, cloud: DaemonProcess) -> None:
    """Without a cloud model: docstring, refactor and explain answer from the local model
    alone; a test generation cancelled mid-way ($/cancelRequest) stops and is ledgered."""
    async with setup(tmp_path, cloud) as s, lsp_session(s.root, options(s.front, cloud_model=None), env={"FIRESIDE_STATE_DIR": str(s.state)}) as lsp:
        uri = lsp.open("calc.py", CALC)
        inside = types.Range(types.Position(5, 8), types.Position(5, 8))
        actions = await lsp.client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri), range=inside, context=types.CodeActionContext(diagnostics=[])))
        titles = {a.title: a for a in actions or []}
        assert set(titles) == {"Fireside: add docstring to mean", "Fireside: generate tests for mean", "Fireside: explain"}
        docstring = await lsp.client.code_action_resolve_async(titles["Fireside: add docstring to mean"])
        if docstring.edit is not None:
            (change,) = docstring.edit.document_changes
            assert change.edits[0].range.start == types.Position(3, 0)  # the whole function, from its first line
            assert "local: smollm2:135m" in docstring.title
        else:
            assert any("no usable edit" in m.message for m in lsp.messages)
        explained = await command(lsp, "fireside.explain", uri, [5, 8, 5, 8])
        assert explained["content"] and explained["model"] == SMOLLM2
        with pytest.raises(Exception, match="instruction is empty"):
            await command(lsp, "fireside.refactor", uri, [3, 0, 6, 0], " ")
        try:
            refactored = await command(lsp, "fireside.refactor", uri, [3, 0, 6, 0], "Rename the parameter to numbers.")
        except Exception as refused:  # the 135M model may hand back the code unchanged: then no edit, and why
            assert "no usable edit: local draft (smollm2:135m)" in str(refused) and "no cloud model is configured" in str(refused)
        else:
            assert refactored["provenance"] == "local" and refactored["edit"]["documentChanges"][0]["textDocument"]["version"] == 1
            assert "no cloud model is configured" in " ".join(refactored["notes"]) or refactored["passed"]
        seen = len(lsp.progress)
        msg_id, pending = lsp.request(types.CODE_ACTION_RESOLVE, titles["Fireside: generate tests for mean"])
        for _ in range(200):
            if any(plain(v).get("kind") == "report" for _t, v in lsp.progress[seen:]):  # "drafting with ..."
                break
            await asyncio.sleep(0.05)
        lsp.cancel(msg_id)
        with pytest.raises(Exception):
            await asyncio.wait_for(pending, 30)
        for _ in range(100):
            if any(e["outcome"] == "cancelled" for e in s.ledger()):
                break
            await asyncio.sleep(0.1)
        assert [e["action"] for e in s.ledger() if e["outcome"] == "cancelled"] == ["tests"]
        for _ in range(100):
            if "cancelled after" in s.front.log():
                break
            await asyncio.sleep(0.1)
        assert "cancelled after" in s.front.log()  # the draft's generation stopped in the daemon
        assert (s.root / "calc.py").read_text() == CALC and (s.root / "tests" / "test_calc.py").read_text() == TESTS


async def test_retry_with_cloud_skips_the_local_draft_and_records_the_rejection(tmp_path: Path, cloud: DaemonProcess) -> None:
    async with setup(tmp_path, cloud) as s, lsp_session(s.root, options(s.front), env={"FIRESIDE_STATE_DIR": str(s.state)}) as lsp:
        uri = lsp.open("calc.py", CALC)
        action = await _fix_action(lsp, uri, CALC)
        retry = types.CodeAction(title="Fireside: retry with cloud-coder", kind=types.CodeActionKind.QuickFix, data={**action.data, "cloud": True})
        resolved = await lsp.client.code_action_resolve_async(retry)
        (entry,) = s.ledger()
        assert entry["signal"] == {"check": "user rejected the local edit"} and entry["escalated"]
        assert entry["local_tokens_in"] == 0 and entry["cloud_tokens_in"] > 0 and entry["outcome"] in ("cloud", "cloud-failed")
        assert len([r for r in s.proxy.requests if r[0] == "POST"]) == 1
        assert resolved.edit is None or "cloud: cloud-coder" in resolved.title
