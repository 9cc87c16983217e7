"""Where Fireside keeps things and which environment variables change that."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "fireside"


@dataclass(frozen=True)
class Paths:
    """Directories, resolved once from the environment so tests can point them elsewhere."""

    config_dir: Path
    cache_dir: Path

    @classmethod
    def from_env(cls) -> Paths:
        return cls(
            config_dir=Path(os.environ.get("FIRESIDE_CONFIG_DIR") or platformdirs.user_config_dir(APP)),
            cache_dir=Path(os.environ.get("FIRESIDE_CACHE_DIR") or platformdirs.user_cache_dir(APP)),
        )

    @property
    def user_models_toml(self) -> Path:
        return self.config_dir / "models.toml"
