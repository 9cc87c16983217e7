"""How a model is loaded: the parameters that shape its worker's llama.cpp context."""

from __future__ import annotations

import os
from pathlib import Path
from dataclasses import dataclass, fields
from typing import Any

from fireside.engine.errors import InvalidRequest


def physical_cores() -> int:
    """llama.cpp runs fastest with one thread per physical core, not per hyperthread."""
    usable = len(os.sched_getaffinity(0))
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return max(1, usable // 2)
    cores = set()
    for block in text.split("\n\n"):
        info = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in block.splitlines())}
        if "core id" in info:
            cores.add((info.get("physical id"), info["core id"]))
    return max(1, min(len(cores) or usable, usable))


@dataclass(frozen=True)
class LoadSettings:
    """Load-time parameters, named as Ollama names them.

    `num_ctx` is the context of each sequence; the KV cache holds `num_ctx * num_parallel`
    cells shared by all sequences, so common prefixes are stored once.
    """

    num_ctx: int = 4096
    num_parallel: int = 4
    num_batch: int = 512
    num_thread: int = 0
    num_gpu: int = 0

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> LoadSettings:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in params.items() if k in known}
        for key, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidRequest(f"parameter {key} must be an integer, got {value!r}")
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.num_ctx < 16:
            raise InvalidRequest(f"num_ctx must be at least 16, got {self.num_ctx}")
        if not 1 <= self.num_parallel <= 64:
            raise InvalidRequest(f"num_parallel must be between 1 and 64, got {self.num_parallel}")
        if self.num_batch < 8:
            raise InvalidRequest(f"num_batch must be at least 8, got {self.num_batch}")
        if self.num_thread < 0:
            raise InvalidRequest(f"num_thread must be >= 0 (0 = one per core), got {self.num_thread}")
        if self.num_gpu < -1:
            raise InvalidRequest(f"num_gpu must be >= -1 (-1 = all layers), got {self.num_gpu}")

    @property
    def threads(self) -> int:
        return self.num_thread or physical_cores()
