"""Resumable, verified downloads of model files over HTTP.

A model file is gigabytes, so a pull must survive a dropped connection or a Ctrl-C: its
bytes stay in a partial file that the next pull resumes with a Range request, and nothing
is handed back before its length and sha256 are checked. Bytes proven wrong are deleted
rather than kept, so a resume never builds on them.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import aiohttp

from fireside.engine.errors import EngineError, ModelNotFound

BLOCK = 1 << 20
# No total limit: a large file may take hours; only a connection that stalls is an error.
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RANGE = re.compile(r"bytes (\d+)-\d+/(?:\d+|\*)")
_UNSATISFIED = re.compile(r"bytes \*/(\d+)")
# The bytes as stored: lengths, ranges and hashes are all of those, never of a compressed form.
_IDENTITY = {"Accept-Encoding": "identity"}


class DownloadError(EngineError):
    """A transfer failed; the partial file is kept for resuming unless the bytes were wrong."""

    code = "download_error"


class SizeMismatch(DownloadError):
    """The server's length contradicts what it said of the file; the partial is deleted."""

    code = "size_mismatch"


class DigestMismatch(DownloadError):
    """The bytes do not have the expected sha256; the partial is deleted."""

    code = "digest_mismatch"


@dataclass(frozen=True)
class Remote:
    """What a HEAD says about a file, before any of it is downloaded."""

    url: str
    size: int | None
    sha256: str | None  # lowercase hex, where the server publishes it


def huggingface_url(owner: str, repo: str, file: str, revision: str | None, endpoint: str) -> str:
    """The `resolve` URL huggingface_hub downloads from (`revision`: a branch, tag or commit)."""
    return f"{endpoint.rstrip('/')}/{owner}/{repo}/resolve/{quote(revision or 'main', safe='')}/{quote(file)}"


def huggingface_headers(token: str | None) -> dict[str, str]:
    """Gated and private repositories need the user's token; public ones work without."""
    return {"Authorization": f"Bearer {token}"} if token else {}


async def probe(session: aiohttp.ClientSession, url: str, headers: Mapping[str, str] = {}) -> Remote:
    """HEAD `url` without following redirects first: Hugging Face answers with a redirect to
    its CDN that carries the file's LFS sha256 and size (x-linked-etag, x-linked-size).
    Redirects are followed only when the size is still unknown."""
    headers = {**headers, **_IDENTITY}
    try:
        async with session.head(url, headers=headers, allow_redirects=False, timeout=TIMEOUT) as response:
            _check_status(response, url)
            sha256 = _published_sha256(response.headers)
            size = _int(response.headers.get("x-linked-size"))
            redirected = 300 <= response.status < 400
            if size is None and not redirected:
                size = response.content_length
        if redirected and size is None:
            async with session.head(url, headers=headers, allow_redirects=True, timeout=TIMEOUT) as response:
                _check_status(response, url)
                size = response.content_length
                sha256 = sha256 or _published_sha256(response.headers)
    except (aiohttp.ClientError, TimeoutError) as e:
        raise DownloadError(f"{url}: {_reason(e)}") from e
    return Remote(url, size, sha256)


async def download(
    session: aiohttp.ClientSession,
    url: str,
    partial: Path,
    *,
    expected_sha256: str | None,
    expected_size: int | None = None,
    headers: Mapping[str, str] = {},
    progress: Callable[[int, int | None], None] = lambda done, total: None,
) -> tuple[str, int]:
    """Download `url` into `partial`, resuming from the bytes already there; returns (sha256 hex, size).

    An exclusive flock on `partial`, held throughout, keeps two pulls of one file (in this
    process or another) from interleaving their writes. `partial` stays in place: the caller
    moves it into the store. Cancelling keeps what was written, so the next call resumes."""
    if expected_sha256 is not None and not _SHA256.fullmatch(expected_sha256):
        raise ValueError(f"not a lowercase hex sha256: {expected_sha256!r}")
    with partial.open("ab+") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DownloadError(f"{url}: another download of this file is in progress") from None
        try:
            sha256, size = await _fill(session, url, file, partial, expected_size, headers, progress)
            if expected_sha256 is not None and sha256 != expected_sha256:
                raise DigestMismatch(f"sha256 mismatch: expected {expected_sha256}, got {sha256}; nothing was stored")
        except (SizeMismatch, DigestMismatch):
            partial.unlink(missing_ok=True)
            raise
    return sha256, size


async def _fill(
    session: aiohttp.ClientSession,
    url: str,
    file: BinaryIO,
    partial: Path,
    expected_size: int | None,
    headers: Mapping[str, str],
    progress: Callable[[int, int | None], None],
) -> tuple[str, int]:
    """Append the rest of `url` to `file`; returns the sha256 and size of all its bytes."""
    done = os.fstat(file.fileno()).st_size
    if expected_size is not None and done > expected_size:
        file.truncate(0)  # longer than the file: these bytes cannot be its start
        done = 0
    sha = await asyncio.to_thread(_hash_prefix, partial, done) if done else hashlib.sha256()
    total = expected_size
    try:
        request_headers = {**headers, **_IDENTITY}
        if done:
            request_headers["Range"] = f"bytes={done}-"
        async with session.get(url, headers=request_headers, timeout=TIMEOUT) as response:
            if not _already_complete(response, done, expected_size):
                if _body_start(response, url, done) < done:  # the server ignored Range: start over
                    file.truncate(0)
                    sha, done = hashlib.sha256(), 0
                if response.content_length is not None:
                    total = done + response.content_length
                    if expected_size is not None and total != expected_size:
                        raise SizeMismatch(f"{url}: the server's length was wrong: it sends {total} bytes of a {expected_size}-byte file")
                try:
                    async for chunk in response.content.iter_chunked(BLOCK):
                        file.write(chunk)
                        sha.update(chunk)
                        done += len(chunk)
                        progress(done, total)
                finally:
                    file.flush()  # also on cancellation: the next pull resumes from here
    except (aiohttp.ClientError, TimeoutError) as e:
        of = "" if total is None else f" of {total}"
        raise DownloadError(f"{url}: transfer interrupted after {done}{of} bytes ({_reason(e)}); pull again to resume") from e
    if expected_size is not None and done != expected_size:
        raise SizeMismatch(f"{url}: the server's length was wrong: it sent {done} bytes of a {expected_size}-byte file")
    await asyncio.to_thread(os.fsync, file.fileno())
    return sha.hexdigest(), done


def _already_complete(response: aiohttp.ClientResponse, done: int, expected_size: int | None) -> bool:
    """A 416 to a resume from the file's very end: every byte is already here."""
    if not done or response.status != 416:
        return False
    match = _UNSATISFIED.fullmatch(response.headers.get("Content-Range", ""))
    return done == (int(match[1]) if match else expected_size)


def _body_start(response: aiohttp.ClientResponse, url: str, done: int) -> int:
    """Where in the file the body of `response`, an answer to a request from byte `done`, starts."""
    if done and response.status == 416:
        raise SizeMismatch(f"{url}: the server's file is shorter than the {done} bytes already downloaded; pull again")
    _check_status(response, url)
    if not done or response.status == 200:
        return 0
    match = _RANGE.fullmatch(response.headers.get("Content-Range", ""))
    if response.status != 206 or not match or int(match[1]) != done:
        raise DownloadError(f"{url}: asked to resume from byte {done}, the server answered {response.status} {response.headers.get('Content-Range')}")
    return done


def _check_status(response: aiohttp.ClientResponse, url: str) -> None:
    if response.status in (401, 403):
        raise DownloadError(
            f"{url}: access was refused (HTTP {response.status}); set HF_TOKEN for gated or private Hugging Face repositories"
        )
    if response.status == 404:
        raise ModelNotFound(f"{url}: not found")
    if response.status >= 400:
        raise DownloadError(f"{url}: HTTP {response.status} {response.reason or ''}".rstrip())


def _published_sha256(headers: Mapping[str, str]) -> str | None:
    """The sha256 in x-linked-etag (Hugging Face's LFS hash) or an ETag that is one."""
    for value in (headers.get("x-linked-etag"), headers.get("ETag")):
        tag = (value or "").removeprefix("W/").strip('"').lower()
        if _SHA256.fullmatch(tag):
            return tag
    return None


def _hash_prefix(path: Path, size: int) -> hashlib._Hash:
    """The sha256 state after the first `size` bytes of `path`, to resume hashing from."""
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while size > 0 and (block := f.read(min(BLOCK, size))):
            sha.update(block)
            size -= len(block)
    return sha


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _reason(e: BaseException) -> str:
    return str(e) or type(e).__name__
