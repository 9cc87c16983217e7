"""Keeps a reasoning model's thinking apart from its answer.

Reasoning models (Qwen3, DeepSeek-R1, ...) open their output with `<think> ... </think>`;
the text between the tags is `reasoning`, never part of `content`. Text is split as it
streams, holding back only what could be the start of a tag.
"""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


def _partial_tag_tail(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


class ThinkSplitter:
    def __init__(self) -> None:
        self._state = "start"  # start -> thinking -> answer, or start -> answer
        self._held = ""

    def feed(self, text: str) -> tuple[str, str]:
        """(content, reasoning) ready to emit for this piece of generated text."""
        self._held += text
        content, reasoning = "", ""
        while self._held:
            if self._state == "start":
                stripped = self._held.lstrip()
                if stripped.startswith(OPEN):
                    self._state, self._held = "thinking", stripped[len(OPEN) :].lstrip("\n")
                elif OPEN.startswith(stripped):
                    break  # could still become "<think>"
                else:
                    self._state = "answer"
            elif self._state == "thinking":
                end = self._held.find(CLOSE)
                if end >= 0:
                    reasoning += self._held[:end]
                    self._state, self._held = "answer", self._held[end + len(CLOSE) :].lstrip("\n")
                    continue
                keep = _partial_tag_tail(self._held, CLOSE)
                reasoning += self._held[: len(self._held) - keep]
                self._held = self._held[len(self._held) - keep :]
                break
            else:
                content, self._held = content + self._held, ""
        return content, reasoning

    def finish(self) -> tuple[str, str]:
        """Whatever was held back when the generation ends."""
        held, self._held = self._held, ""
        return ("", held) if self._state == "thinking" else (held, "")
