"""Whether a file's content may go to the cloud model, and why not.

Nothing leaves the machine unless a cloud model is configured; `FIRESIDE_OFFLINE=1`
blocks all of it; files matching a `never_send` glob (secrets by default) never go.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import PurePosixPath

DEFAULT_NEVER_SEND = (".env", ".env.*", "*.pem", "*.key", "secrets/**", "id_rsa", "id_ed25519", ".netrc")


@dataclass(frozen=True)
class CloudPolicy:
    model: str | None = None  # the cloud model's name in the daemon's models.toml; None: no cloud
    never_send: tuple[str, ...] = DEFAULT_NEVER_SEND
    offline: bool = False

    def refusal(self, path: str) -> str | None:
        """Why `path` (relative to the workspace) may not be sent; None when it may."""
        if self.offline:
            return "FIRESIDE_OFFLINE is set: nothing leaves this machine"
        if not self.model:
            return "no cloud model is configured"
        glob = matching_glob(path, self.never_send)
        if glob is not None:
            return f"{path} matches never_send pattern {glob!r}"
        return None


def matching_glob(path: str, globs: tuple[str, ...]) -> str | None:
    """The first glob that matches the file's name or its path; `dir/**` matches anything below dir."""
    pure = PurePosixPath(path.replace(os.sep, "/"))
    for glob in globs:
        if glob.endswith("/**"):
            prefix = glob[:-3].strip("/")
            if prefix and (f"/{prefix}/" in f"/{pure.parent.as_posix()}/"):
                return glob
        elif fnmatch.fnmatch(pure.name, glob) or fnmatch.fnmatch(pure.as_posix(), glob):
            return glob
    return None
