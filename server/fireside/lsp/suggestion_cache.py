"""Suggestions already computed, so that typing through one is answered at once.

Keyed by document and the text on both sides of the cursor: when the user types the
first characters of a suggestion they were shown (or one prefetched for where the cursor
now is), the rest of it is still the answer, with no model involved.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    uri: str
    before: str  # the document's text before the cursor when the suggestion was made
    after: str  # and after it
    text: str  # the suggestion, inserted at the cursor
    prefetched: bool  # computed ahead of the user, not asked for


@dataclass(frozen=True)
class Hit:
    text: str  # what is left of the suggestion at the cursor
    prefetched: bool


class SuggestionCache:
    def __init__(self, capacity: int = 64) -> None:
        self._entries: OrderedDict[tuple[str, str, str], Entry] = OrderedDict()
        self._capacity = capacity

    def put(self, uri: str, before: str, after: str, text: str, prefetched: bool) -> None:
        key = (uri, before, after)
        self._entries[key] = Entry(uri, before, after, text, prefetched)
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def get(self, uri: str, before: str, after: str) -> Hit | None:
        """The rest of a suggestion the user is typing through (or was made for exactly
        this spot), newest first; None when none fits."""
        for entry in reversed(self._entries.values()):
            if entry.uri != uri or entry.after != after or not before.startswith(entry.before):
                continue
            typed = before[len(entry.before) :]
            if entry.text.startswith(typed) and len(entry.text) > len(typed):
                return Hit(entry.text[len(typed) :], entry.prefetched)
        return None

    def forget(self, uri: str) -> None:
        for key in [k for k in self._entries if k[0] == uri]:
            del self._entries[key]
