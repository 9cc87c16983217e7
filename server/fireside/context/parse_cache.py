"""Recent parses and their definitions, kept between completions.

Typing changes one line at a time, and the prompt builder reads the file's structure
without the cursor's line: so from one keystroke to the next that text is the same,
and so are the open documents'. A hit skips a full parse (a few milliseconds for a
thousand lines) and the walk for definitions; when the cursor moves to another line, the
file is re-parsed incrementally from its last parse.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from fireside.context.definitions import Definition, definitions
from fireside.context.languages import Language
from fireside.context.parsed import Parsed


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
        (the cursor moved to another line: two lines changed), else in full."""
        key = (language.name, text)
        with self._lock:
            hit = self._parsed.get(key)
            if hit is not None:
                self._parsed.move_to_end(key)
                return hit
            previous = self._latest.get(path) if path is not None else None
        if previous is not None and previous.language == language:
            parsed = previous.updated(text)
        else:
            parsed = Parsed.of(text, language)
        with self._lock:
            self._remember(self._parsed, key, parsed)
            if path is not None:
                self._remember(self._latest, path, parsed)
        return parsed

    def definitions(self, parsed: Parsed, path: str) -> Sequence[Definition]:
        """`definitions()` of a parsed text."""
        assert parsed.language is not None
        key = (path, parsed.text)
        with self._lock:
            hit = self._definitions.get(key)
            if hit is not None:
                self._definitions.move_to_end(key)
                return hit
        found = tuple(definitions(parsed.text, parsed.language, path, parsed))
        with self._lock:
            self._remember(self._definitions, key, found)
        return found

    def _remember(self, entries: OrderedDict, key: object, value: object) -> None:
        entries[key] = value
        entries.move_to_end(key)
        while len(entries) > self.capacity:
            entries.popitem(last=False)
