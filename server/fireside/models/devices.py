"""What memory this machine has free for a model: VRAM on NVIDIA GPUs, and RAM.

The daemon asks before it starts a worker, so this never imports llama_cpp. NVML comes
from the optional `nvidia-ml-py` package (imported as `pynvml`); without it, or without
a driver, there is no GPU to plan for and models run on the CPU.
"""

from __future__ import annotations

import os
from pathlib import Path


def free_vram() -> int | None:
    """Free bytes summed over all NVIDIA GPUs, or None when NVML finds none (no package,
    no driver, no device). Blocking: NVML initialisation can take tens of milliseconds."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None
    try:
        count = pynvml.nvmlDeviceGetCount()
        if count == 0:
            return None
        return sum(int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i)).free) for i in range(count))
    except pynvml.NVMLError:
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def available_ram() -> int:
    """Bytes of RAM a new process can have without swapping: Linux's MemAvailable (free
    memory plus reclaimable caches), else the free pages the C library reports."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            key, _, value = line.partition(":")
            if key == "MemAvailable":
                amount, _, unit = value.strip().partition(" ")
                return int(amount) * (1024 if unit.strip().lower() == "kb" else 1)
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0
