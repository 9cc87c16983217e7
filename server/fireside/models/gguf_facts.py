"""What a GGUF file's header says (metadata, parameter count, FIM support), read
without loading the model or building the whole vocabulary.

`gguf.GGUFReader` maps every tensor and vocabulary string into numpy views, which takes
seconds on a 150k-token vocabulary; `ollama show`, `tags` and `ps` need only the header,
so this walks it with the `gguf` package's own types and key names.
"""

from __future__ import annotations

import json
import math
import mmap
import struct
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gguf import (
    GGML_QUANT_SIZES,
    GGMLQuantizationType,
    GGUFValueType,
    Keys,
    LlamaFileType,
)
from gguf.utility import model_weight_count_rounded_notation

from fireside.engine.errors import ModelLoadError

# GGUF scalar types as `struct` codes; GGUF files are little-endian.
_SCALARS = {
    GGUFValueType.UINT8: "B", GGUFValueType.INT8: "b", GGUFValueType.UINT16: "H", GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I", GGUFValueType.INT32: "i", GGUFValueType.FLOAT32: "f", GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q", GGUFValueType.INT64: "q", GGUFValueType.FLOAT64: "d",
}
_JSON_FORMAT = 1  # bump when a field is added, so facts cached in the index are read again
_KEPT_ARRAY = 256  # longer metadata arrays are vocabularies, merges and scores
_EMBEDDING_ARCHITECTURES = {"bert", "nomic-bert", "jina-bert-v2", "t5encoder"}
# The FIM prefix tokens llama.cpp recognises in a vocabulary without FIM metadata.
_FIM_PREFIXES = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>"}


def _has_fim(metadata: dict[str, Any]) -> bool:
    """Whether the vocabulary has fill-in-the-middle tokens, as llama.cpp finds them."""
    if Keys.Tokenizer.FIM_PRE_ID in metadata or Keys.Tokenizer.PREFIX_ID in metadata:
        return True
    return not _FIM_PREFIXES.isdisjoint(metadata.get(Keys.Tokenizer.LIST, ()))


class _Cursor:
    """Reads a GGUF header front to back. gguf.GGUFReader would take seconds on a large
    vocabulary (a numpy view per string); this reads the same fields in a fraction of it."""

    def __init__(self, data: mmap.mmap) -> None:
        self._data = data
        self._offset = 0

    def unpack(self, codes: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + codes, self._data, self._offset)
        self._offset += struct.calcsize("<" + codes)
        return values

    def string(self) -> str:
        (length,) = self.unpack("Q")
        raw = self._data[self._offset : self._offset + length]
        if len(raw) != length:
            raise ValueError("a string runs past the end of the file")
        self._offset += length
        return raw.decode("utf-8", errors="replace")

    def value(self, kind: int) -> Any:
        if kind == GGUFValueType.STRING:
            return self.string()
        if kind == GGUFValueType.ARRAY:
            item, count = self.unpack("IQ")
            if item in _SCALARS:
                return list(self.unpack(f"{count}{_SCALARS[GGUFValueType(item)]}"))
            return [self.value(item) for _ in range(count)]
        return self.unpack(_SCALARS[GGUFValueType(kind)])[0]


@dataclass(frozen=True)
class GgufFacts:
    """What a model file's header says: its metadata and its number of parameters."""

    metadata: dict[str, Any]
    parameters: int
    fim: bool = False
    tensor_bytes: dict[str, int] = field(default_factory=dict)  # bytes of each tensor, by name
    vocab_size: int = 0  # tokens in the vocabulary (kept: to_json leaves the token list out)

    @classmethod
    def read(cls, path: Path, name: str) -> GgufFacts:
        """Blocking (run it in a thread); errors name the model, never the file."""
        try:
            with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                cursor = _Cursor(data)
                magic, _, tensors, keys = cursor.unpack("4sIQQ")
                if magic != b"GGUF":
                    raise ValueError("not a GGUF file")
                metadata = {cursor.string(): cursor.value(cursor.unpack("I")[0]) for _ in range(keys)}
                parameters = 0
                sizes: dict[str, int] = {}
                for _ in range(tensors):
                    tensor = cursor.string()
                    (dims,) = cursor.unpack("I")
                    count = math.prod(cursor.unpack(f"{dims}Q"))
                    kind, _ = cursor.unpack("IQ")  # type and offset
                    block, size = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
                    sizes[tensor] = count // block * size
                    parameters += count
        except (OSError, ValueError, KeyError, struct.error):
            raise ModelLoadError(f'model "{name}": its file is not a readable GGUF model') from None
        return cls(metadata, parameters, _has_fim(metadata), sizes, len(metadata.get(Keys.Tokenizer.LIST, ())))

    def to_json(self) -> str:
        """For the store's index: everything but the vocabulary-sized arrays (kept as null)."""
        small = {k: None if isinstance(v, list) and len(v) > _KEPT_ARRAY else v for k, v in self.metadata.items()}
        return json.dumps({**{f.name: getattr(self, f.name) for f in fields(self)}, "metadata": small, "format": _JSON_FORMAT})

    @classmethod
    def from_json(cls, text: str) -> GgufFacts | None:
        """The cached facts, or None if they were cached by a version that knew fewer."""
        data = json.loads(text)
        if data.pop("format", None) != _JSON_FORMAT:
            return None
        return cls(**data)

    @property
    def context_length(self) -> int:
        return int(self.metadata.get(f"{self.architecture}.context_length", 0))

    @property
    def is_embedding(self) -> bool:
        """An embedding model: it pools its output instead of predicting tokens."""
        return bool(self.metadata.get(f"{self.architecture}.pooling_type")) or self.architecture in _EMBEDDING_ARCHITECTURES

    @property
    def architecture(self) -> str:
        return str(self.metadata.get(Keys.General.ARCHITECTURE, ""))

    @property
    def license(self) -> str:
        return str(self.metadata.get(Keys.General.LICENSE, ""))

    @property
    def chat_template(self) -> str:
        return str(self.metadata.get(Keys.Tokenizer.CHAT_TEMPLATE, ""))

    @property
    def has_fim(self) -> bool:
        return self.fim

    def details(self) -> dict[str, Any]:
        try:
            quantization = LlamaFileType(self.metadata.get(Keys.General.FILE_TYPE)).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            quantization = ""
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.architecture,
            "families": [self.architecture],
            "parameter_size": model_weight_count_rounded_notation(self.parameters, min_digits=2),
            "quantization_level": quantization,
        }

    def model_info(self, verbose: bool = False) -> dict[str, Any]:
        """The metadata with the vocabulary left out (null) unless `verbose`, as Ollama shows it."""
        info = {k: None if k.startswith("tokenizer.ggml.") and isinstance(v, list) and not verbose else v for k, v in self.metadata.items()}
        return {**info, "general.parameter_count": self.parameters}
