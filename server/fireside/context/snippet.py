"""A piece of another file (or of this file, away from the cursor) put into a prompt,
with the reason it was chosen. Its own module: both the prompt builder and the recent
edits make them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Snippet:
    path: str
    text: str
    reason: str  # "definition of parse_config used at line 40", "recent edit, lines 3-9", ...
    line: int = 0  # where `text` starts in its file (0-based): prompts order snippets by path and line
