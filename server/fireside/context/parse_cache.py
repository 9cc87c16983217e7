"""Recent parses and their definitions, kept between completions.

Typing changes a character at a time: each version of a file is parsed incrementally
from the last (a fraction of a millisecond instead of a few for a thousand lines). The
prompt builder reads the file's structure without the cursor's line, which stays the
same from one keystroke to the next, as do the open documents: those hit the cache,
definitions included.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, TypeVar

from fireside.context.definitions import Definition, definitions
from fireside.context.languages import Language
from fireside.context.parsed import Parsed

T = TypeVar("T")


class ParseCache:
    """The last `capacity` texts parsed, by language and text, and their definitions by path.

    Held by the caller across completions (one per language-server session) and passed in
    `Sources`; thread-safe, since prompts are built in worker threads. Parsed trees are
    never edited in place (`Parsed.edited` copies), so sharing them is safe.
    """

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._parsed: OrderedDict[tuple[str, str], Parsed] = OrderedDict()
        self._definitions: OrderedDict[tuple[str, str], tuple[Definition, ...]] = OrderedDict()
        self._latest: OrderedDict[str, Parsed] = OrderedDict()  # by path: the base for an incremental parse

    def parsed(self, text: str, language: Language, path: str | None = None) -> Parsed:
        """`text` parsed: from the cache, else incrementally from the last parse of `path`
        (between keystrokes, a character changed), else in full."""
        with self._lock:
            hit = self._get(self._parsed, (language.name, text))
            previous = self._latest.get(path) if path is not None else None
        if hit is not None:
            parsed = hit
        elif previous is not None and previous.language == language:
            parsed = previous.updated(text)
        else:
            parsed = Parsed.of(text, language)
        with self._lock:
            self._remember(self._parsed, (language.name, text), parsed)
            if path is not None:
                self._remember(self._latest, path, parsed)
        return parsed

    def edited(self, base: Parsed, start: int, end: int, replacement: str) -> Parsed:
        """`base` with [start, end) replaced: from the cache, else parsed incrementally."""
        assert base.language is not None
        key = (base.language.name, base.text[:start] + replacement + base.text[end:])
        with self._lock:
            hit = self._get(self._parsed, key)
        if hit is not None:
            return hit
        parsed = base.edited(start, end, replacement)
        with self._lock:
            self._remember(self._parsed, key, parsed)
        return parsed

    def definitions(self, parsed: Parsed, path: str) -> Sequence[Definition]:
        """`definitions()` of a parsed text."""
        assert parsed.language is not None
        key = (path, parsed.text)
        with self._lock:
            hit = self._get(self._definitions, key)
        if hit is not None:
            return hit
        found = tuple(definitions(parsed.text, parsed.language, path, parsed))
        with self._lock:
            self._remember(self._definitions, key, found)
        return found

    @staticmethod
    def _get(entries: OrderedDict[Any, T], key: object) -> T | None:
        hit = entries.get(key)
        if hit is not None:
            entries.move_to_end(key)
        return hit

    def _remember(self, entries: OrderedDict[Any, T], key: object, value: T) -> None:
        entries[key] = value
        entries.move_to_end(key)
        while len(entries) > self.capacity:
            entries.popitem(last=False)
