"""Resumable, verified downloads against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from fireside.engine.errors import ModelNotFound
from fireside.models.download import (
    DigestMismatch,
    DownloadError,
    Remote,
    SizeMismatch,
    download,
    huggingface_headers,
    huggingface_url,
    probe,
)

from tests.file_server import serve_files

# Several MiB, so a transfer takes many chunks and can be cut or cancelled mid-way.
DATA = os.urandom(5 * (1 << 20) + 12345)
SHA256 = hashlib.sha256(DATA).hexdigest()
NAME = "model.gguf"


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_download_is_verified_and_reports_progress(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    async with serve_files({NAME: DATA}) as server:
        remote = await probe(session, server.url(NAME))
        assert remote == Remote(server.url(NAME), len(DATA), SHA256)
        result = await download(
            session, server.url(NAME), tmp_path / "p", expected_sha256=SHA256, expected_size=len(DATA), progress=lambda d, t: calls.append((d, t))
        )
    assert result == (SHA256, len(DATA))
    assert (tmp_path / "p").read_bytes() == DATA
    done = [d for d, _ in calls]
    assert len(done) > 1 and all(a < b for a, b in pairwise(done)) and done[-1] == len(DATA)
    assert {t for _, t in calls} == {len(DATA)}


async def test_interrupted_transfer_resumes_with_a_range_request(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    cut = 2 * (1 << 20) + 777
    partial = tmp_path / "p"
    async with serve_files({NAME: DATA}, cut_after={NAME: cut}) as server:
        with pytest.raises(DownloadError, match=f"interrupted after {cut} of {len(DATA)} bytes") as failure:
            await download(session, server.url(NAME), partial, expected_sha256=SHA256, expected_size=len(DATA))
        assert type(failure.value) is DownloadError
        assert partial.stat().st_size == cut
        assert await download(session, server.url(NAME), partial, expected_sha256=SHA256, expected_size=len(DATA)) == (SHA256, len(DATA))
        assert server.requests[-1] == ("GET", f"/{NAME}", f"bytes={cut}-")
    assert partial.read_bytes() == DATA


async def test_a_complete_partial_is_verified_without_a_transfer(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    partial = tmp_path / "p"
    partial.write_bytes(DATA)
    async with serve_files({NAME: DATA}) as server:
        assert await download(session, server.url(NAME), partial, expected_sha256=SHA256, expected_size=len(DATA)) == (SHA256, len(DATA))
        assert server.requests == [("GET", f"/{NAME}", f"bytes={len(DATA)}-")]  # answered 416


async def test_a_server_that_ignores_range_is_downloaded_again_from_the_start(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    partial = tmp_path / "p"
    partial.write_bytes(b"stale bytes that are not the file's start")
    async with serve_files({NAME: DATA}, ignore_range={NAME}) as server:
        assert await download(session, server.url(NAME), partial, expected_sha256=SHA256) == (SHA256, len(DATA))
    assert partial.read_bytes() == DATA


async def test_wrong_bytes_are_deleted(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    other = hashlib.sha256(b"other data").hexdigest()
    partial = tmp_path / "p"
    async with serve_files({NAME: DATA}) as server:
        with pytest.raises(DigestMismatch, match=f"expected {other}, got {SHA256}; nothing was stored"):
            await download(session, server.url(NAME), partial, expected_sha256=other)
    assert not partial.exists()


async def test_a_server_that_lies_about_the_length_leaves_nothing(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    partial = tmp_path / "p"
    async with serve_files({NAME: DATA}, lie_about_length={NAME}) as server:
        remote = await probe(session, server.url(NAME))
        assert (remote.size, remote.sha256) == (len(DATA), SHA256)
        with pytest.raises(SizeMismatch, match="length was wrong"):
            await download(session, server.url(NAME), partial, expected_sha256=remote.sha256, expected_size=remote.size)
        assert not partial.exists()
        # Without the promised length, the hash still catches the short file.
        with pytest.raises(DigestMismatch):
            await download(session, server.url(NAME), partial, expected_sha256=remote.sha256)
        assert not partial.exists()


async def test_probe_reads_hugging_face_metadata_from_the_redirect(session: aiohttp.ClientSession) -> None:
    async with serve_files({NAME: DATA}, redirect={NAME}) as server:
        remote = await probe(session, server.url(NAME))
        assert (remote.size, remote.sha256) == (len(DATA), SHA256)
        assert server.requests == [("HEAD", f"/{NAME}", None)]  # the CDN was not asked


async def test_probe_follows_a_plain_redirect_for_the_size(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    async with serve_files({NAME: DATA}, redirect={NAME}, etag_sha256=False) as server:
        remote = await probe(session, server.url(NAME))
        assert (remote.size, remote.sha256) == (len(DATA), None)
        assert [path for _, path, _ in server.requests] == [f"/{NAME}", f"/{NAME}", f"/cdn/{NAME}"]
        assert await download(session, server.url(NAME), tmp_path / "p", expected_sha256=None) == (SHA256, len(DATA))


async def test_a_token_is_needed_and_sent(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    async with serve_files({NAME: DATA}, require_token="s3cret") as server:
        with pytest.raises(DownloadError, match="refused.*HF_TOKEN"):
            await probe(session, server.url(NAME))
        with pytest.raises(DownloadError, match="refused"):
            await download(session, server.url(NAME), tmp_path / "p", expected_sha256=SHA256)
        headers = huggingface_headers("s3cret")
        assert (await probe(session, server.url(NAME), headers)).sha256 == SHA256
        assert await download(session, server.url(NAME), tmp_path / "p", expected_sha256=SHA256, headers=headers) == (SHA256, len(DATA))
    assert huggingface_headers(None) == {}


async def test_a_missing_file_is_not_found(session: aiohttp.ClientSession) -> None:
    async with serve_files({NAME: DATA}) as server:
        with pytest.raises(ModelNotFound, match="not found"):
            await probe(session, server.url("missing.gguf"))


async def test_one_partial_has_one_download_at_a_time(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    partial, started = tmp_path / "p", asyncio.Event()
    async with serve_files({NAME: DATA}) as server:
        first = asyncio.create_task(download(session, server.url(NAME), partial, expected_sha256=SHA256, progress=lambda d, t: started.set()))
        await started.wait()
        assert not first.done()
        with pytest.raises(DownloadError, match="another download of this file is in progress"):
            await download(session, server.url(NAME), partial, expected_sha256=SHA256)
        assert await first == (SHA256, len(DATA))


async def test_a_cancelled_download_resumes(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    partial, halfway = tmp_path / "p", asyncio.Event()

    def progress(done: int, total: int | None) -> None:
        if done >= len(DATA) // 2:
            halfway.set()

    async with serve_files({NAME: DATA}) as server:
        task = asyncio.create_task(download(session, server.url(NAME), partial, expected_sha256=SHA256, progress=progress))
        await halfway.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        kept = partial.stat().st_size
        assert len(DATA) // 2 <= kept < len(DATA)
        assert await download(session, server.url(NAME), partial, expected_sha256=SHA256) == (SHA256, len(DATA))
        assert server.requests[-1] == ("GET", f"/{NAME}", f"bytes={kept}-")


async def test_expected_digest_must_be_lowercase_hex(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await download(session, "http://127.0.0.1:9/x", tmp_path / "p", expected_sha256=SHA256.upper())


def test_huggingface_url_quotes_revision_and_file() -> None:
    url = huggingface_url("owner", "repo", "sub dir/m.gguf", "refs/pr/1", "https://hf.example/")
    assert url == "https://hf.example/owner/repo/resolve/refs%2Fpr%2F1/sub%20dir/m.gguf"
    assert huggingface_url("o", "r", "m.gguf", None, "https://huggingface.co") == "https://huggingface.co/o/r/resolve/main/m.gguf"
