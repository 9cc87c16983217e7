"""A model's manifest: the layers (weights, template, parameters, ...) that make up one
`name:tag`, each a content-addressed blob.

Digests are validated here, where they are parsed: a digest becomes a file name in the
store, so anything but `sha256:` and 64 hex digits is refused before it can name a path.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fireside.engine.errors import InvalidRequest

MANIFEST_TYPE = "application/vnd.fireside.manifest.v1+json"
MODEL = "application/vnd.fireside.model"  # GGUF weights
ADAPTER = "application/vnd.fireside.adapter"  # a LoRA GGUF the engine applies
TEMPLATE = "application/vnd.fireside.template"  # a Jinja chat template
SYSTEM = "application/vnd.fireside.system"
PARAMS = "application/vnd.fireside.params"  # JSON: load and sampling parameters
MESSAGES = "application/vnd.fireside.messages"  # JSON: [{role, content}] put before each chat
LICENSE = "application/vnd.fireside.license"
MEDIA_TYPES = frozenset({MODEL, ADAPTER, TEMPLATE, SYSTEM, PARAMS, MESSAGES, LICENSE})

_DIGEST = re.compile(r"sha256[:-]([0-9a-f]{64})")


def parse_digest(text: object) -> str:
    """`sha256:<hex>` from a digest as a client or a file wrote it (`sha256-<hex>` too)."""
    match = _DIGEST.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        shown = text[:80] if isinstance(text, str) else type(text).__name__
        raise InvalidRequest(f"invalid digest {shown!r}: expected sha256:<64 lowercase hex digits>", param="digest")
    return f"sha256:{match.group(1)}"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_name(digest: str) -> str:
    """The blob's file name; `digest` must already be parsed."""
    return digest.replace(":", "-")


@dataclass(frozen=True)
class Layer:
    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Manifest:
    """The layers of one model. `source` records where its weights came from."""

    layers: tuple[Layer, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if sum(layer.media_type == MODEL for layer in self.layers) != 1:
            raise InvalidRequest("a model has exactly one layer of weights")

    def layer(self, media_type: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.media_type == media_type), None)

    def all(self, media_type: str) -> list[Layer]:
        return [layer for layer in self.layers if layer.media_type == media_type]

    @property
    def weights(self) -> Layer:
        layer = self.layer(MODEL)
        assert layer is not None
        return layer

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def digests(self) -> set[str]:
        return {layer.digest for layer in self.layers}

    def with_layers(self, layers: Iterable[Layer]) -> Manifest:
        """This manifest with `layers` replacing those of the same media types."""
        new = list(layers)
        replaced = {layer.media_type for layer in new}
        return Manifest(tuple(layer for layer in self.layers if layer.media_type not in replaced) + tuple(new), self.source)

    def to_bytes(self) -> bytes:
        body = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "source": self.source, "layers": [layer.to_json() for layer in self.layers]}
        return json.dumps(body, indent=1).encode()

    @property
    def digest(self) -> str:
        return digest_of(self.to_bytes())

    @classmethod
    def parse(cls, data: bytes, where: Path | str) -> Manifest:
        """A manifest from its JSON; anything malformed is an error naming `where`."""
        try:
            body = json.loads(data)
            if body.get("mediaType") != MANIFEST_TYPE:
                raise ValueError(f"media type {body.get('mediaType')!r}")
            layers = []
            for item in body["layers"]:
                if item["mediaType"] not in MEDIA_TYPES or not isinstance(item["size"], int) or item["size"] < 0:
                    raise ValueError(f"layer {item!r}")
                layers.append(Layer(item["mediaType"], parse_digest(item["digest"]), item["size"]))
            return cls(tuple(layers), str(body.get("source", "")))
        except (ValueError, KeyError, TypeError, AttributeError, InvalidRequest) as e:
            message = e.message if isinstance(e, InvalidRequest) else str(e)
            raise InvalidRequest(f"{where}: not a valid manifest ({message})") from None
