"""Where Fireside keeps things and which environment variables change that."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "fireside"
DEFAULT_HOST = "127.0.0.1:11435"


@dataclass(frozen=True)
class Paths:
    """Directories, resolved once from the environment so tests can point them elsewhere."""

    config_dir: Path
    cache_dir: Path
    models_dir: Path

    @classmethod
    def from_env(cls) -> Paths:
        data = Path(platformdirs.user_data_dir(APP))
        return cls(
            config_dir=Path(os.environ.get("FIRESIDE_CONFIG_DIR") or platformdirs.user_config_dir(APP)),
            cache_dir=Path(os.environ.get("FIRESIDE_CACHE_DIR") or platformdirs.user_cache_dir(APP)),
            models_dir=Path(os.environ.get("FIRESIDE_MODELS") or data / "models"),
        )

    @property
    def user_models_toml(self) -> Path:
        return self.config_dir / "models.toml"
