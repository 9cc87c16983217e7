"""The context of one completion, chosen within a token budget.

What gets in, by priority: the code from the start of the cursor's innermost scope to the
cursor (and up to a quarter of the budget after it); the headers of the enclosing scopes;
the file's imports; definitions of the names used near the cursor, from this file, the
open documents, then the workspace index; signatures of the file's other definitions;
recent edits elsewhere; then more of the file above, as the budget allows.

The prompt is laid out stable-first, for the engine's KV prefix reuse: snippets (in path
and line order, never by score), then this file's header, then the code nearest the
cursor last. The window above the cursor starts on a scope's first line or a 16-line
boundary, the cursor's line is charged in coarse steps and the word being typed picks no
definitions, so a keystroke leaves everything before the cursor's line byte-identical.
Whatever the budget leaves out is recorded in `decisions`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath

from fireside.context.budget import (
    CHUNK,
    Budget,
    CountTokens,
    Lines,
    fit_tail,
    fit_whole,
    head_lines,
    tail_lines,
)
from fireside.context.definitions import (
    Definition,
    body_of,
    identifier_uses,
    import_statements,
)
from fireside.context.languages import Language, language_for
from fireside.context.parse_cache import ParseCache
from fireside.context.parsed import Parsed
from fireside.context.recent_edits import RecentEdits
from fireside.context.snippet import Snippet
from fireside.context.syntax import Shape, completion_shape, enclosing_scopes
from fireside.context.workspace_index import WorkspaceIndex

log = logging.getLogger(__name__)

__all__ = ["CompletionContext", "Document", "Snippet", "Sources", "build_context", "estimate_tokens", "truncated_context"]

_SUFFIX_SHARE = 4  # the text after the cursor gets at most 1/4 of the budget
_NEAREST_SHARE = 2  # the nearest code, at first, at most 1/2 of what the prefix may use
_WHOLE_SHARE = 8  # a definition within 1/8 of the budget goes in whole, else its signature
_LINE_STEP_SHARE = 32  # the cursor's line is charged in steps of 1/32 of the budget,
_LINE_RESERVE_SHARE = 8  # and at least 1/8 of it,
_LINE_RESERVE = 40  # up to 40 tokens (about 140 characters)
_NAMES = 12  # the names nearest the cursor whose definitions are looked up
_AMBIGUOUS = 3  # a name with more definitions than this is too common to guess which
_HEADER_LINES = 8  # an enclosing scope's header is at most this long (an ERROR may hide its body)
_MIN_ABOVE = 4  # lines: outside any scope, the window starts at least this far above


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: code averages about 3.5 characters a token."""
    return math.ceil(len(text) / 3.5)


@dataclass(frozen=True)
class Document:
    path: str
    text: str
    offset: int  # code points
    language_id: str | None = None


@dataclass(frozen=True)
class Sources:
    open_documents: Mapping[str, str] = field(default_factory=dict)  # path -> text
    index: WorkspaceIndex | None = None
    recent: RecentEdits | None = None
    cache: ParseCache | None = None  # keep one across completions: a keystroke then re-parses one line


@dataclass(frozen=True)
class CompletionContext:
    prefix: str  # before the hole: this file's header (imports, scope headers), then the nearest code
    suffix: str  # after the hole
    snippets: tuple[Snippet, ...]  # other files (and this file's far definitions), in prompt order
    shape: Shape
    language: Language | None
    decisions: tuple[str, ...]  # what was chosen and why, and what the budget left out


@dataclass(frozen=True)
class _HeaderPiece:
    """A part of this file shown above the window: imports, an enclosing scope's header."""

    row: int  # its first line; once the window reaches it, it is dropped
    text: str
    cost: int
    what: str


@dataclass(frozen=True)
class _Chosen:
    snippet: Snippet
    cost: int
    shows: tuple[Definition, ...] = ()  # this file's definitions in it: left out once the window shows them


def build_context(doc: Document, sources: Sources, budget_tokens: int, count_tokens: CountTokens) -> CompletionContext:
    """The prompt's pieces for a completion at `doc.offset`, within `budget_tokens` in all."""
    return _Builder(doc, sources, budget_tokens, count_tokens).build()


def truncated_context(doc: Document, budget_tokens: int, count_tokens: CountTokens) -> CompletionContext:
    """The plain baseline: the text just before and after the cursor, cut at line
    boundaries (the suffix at most 1/4 of the budget, the prefix the rest), no snippets."""
    language = language_for(doc.path, doc.language_id)
    budget = Budget(budget_tokens, count_tokens)
    suffix = head_lines(doc.text[doc.offset :], budget_tokens // _SUFFIX_SHARE, count_tokens)
    prefix = tail_lines(doc.text[: doc.offset], budget_tokens - count_tokens(suffix), count_tokens)
    budget.note(f"plain: {prefix.count(chr(10)) + 1} lines up to the cursor, {suffix.count(chr(10)) + 1} from it")
    prefix, suffix, _ = fit_whole(prefix, suffix, (), budget_tokens, budget)
    shape = completion_shape(doc.text, doc.offset, language)
    return CompletionContext(prefix, suffix, (), shape, language, _logged(doc, budget.decisions))


class _Builder:
    """One build_context call: the document, parsed once, and what has been chosen so far."""

    def __init__(self, doc: Document, sources: Sources, budget_tokens: int, count: CountTokens) -> None:
        self.doc, self.sources, self.total, self.count = doc, sources, budget_tokens, count
        self.language = language_for(doc.path, doc.language_id)
        self.budget = Budget(budget_tokens, count)
        line_start = doc.text.rfind("\n", 0, doc.offset) + 1
        line_end = len(doc.text) if (end := doc.text.find("\n", doc.offset)) < 0 else end
        self.row = doc.text.count("\n", 0, line_start)  # the cursor's line
        self.cursor_line = doc.text[line_start : doc.offset]
        # The file's structure (scopes, definitions, imports) is read without the code on
        # the cursor's line: a line being typed is often not valid yet, and must not
        # reshape what is chosen from the rest of the file at every keystroke.
        code_start = line_start + len(self.cursor_line) - len(self.cursor_line.lstrip())
        self.cache = sources.cache or ParseCache()
        if self.language is None:
            self.parsed = self.structure = Parsed.of(doc.text, None)
        else:
            self.parsed = self.cache.parsed(doc.text, self.language, doc.path)
            self.structure = self.cache.edited(self.parsed, code_start, line_end, "")
        self.lines = Lines(doc.text[:line_start], count)  # the lines above the cursor's
        self.start = self.row  # the window above the cursor: lines [start, row)
        self.after = doc.text[doc.offset :]
        self.suffix = ""
        self.last_visible = self.row  # the last line the suffix shows
        self.header: list[_HeaderPiece] = []
        self.chosen: list[_Chosen] = []
        self.scopes = enclosing_scopes(self.structure, code_start)
        self.own = self.cache.definitions(self.structure, doc.path) if self.language else ()

    def build(self) -> CompletionContext:
        if self.language is None:
            self.budget.note(f"no grammar for {self.doc.path}: lines only")
        self.suffix = head_lines(self.after, self.total // _SUFFIX_SHARE, self.count)
        self.last_visible = self.row + self.suffix.count("\n")
        self.budget.take(self.count(self.suffix), f"{self.suffix.count(chr(10)) + 1} lines after the cursor")
        if not self._nearest_code():
            return self._result(fit_tail(self.cursor_line, self.budget.left, self.count))
        if self.language is not None:
            self._scope_headers()
            self._imports()
            self._used_definitions()
            self._siblings()
        self._recent_edits()
        self._grow()
        header = "".join(piece.text for piece in sorted(self.header, key=lambda p: p.row))
        return self._result(header + self.lines.text(self.start, self.row) + self.cursor_line)

    def _result(self, prefix: str) -> CompletionContext:
        snippets = tuple(sorted((c.snippet for c in self.chosen), key=lambda s: (s.path, s.line)))
        prefix, suffix, snippets = fit_whole(prefix, self.suffix, snippets, self.total, self.budget)
        shape = completion_shape(self.doc.text, self.doc.offset, self.language, self.parsed)
        return CompletionContext(prefix, suffix, snippets, shape, self.language, _logged(self.doc, self.budget.decisions))

    def _nearest_code(self) -> bool:
        """(1) The cursor's line, and the lines above it from the innermost scope's start
        (or a 16-line boundary) within half the prefix's budget. False if not even the
        cursor's line fits. The line is charged in steps, so typing changes no choice."""
        step = max(4, self.total // _LINE_STEP_SHARE)
        reserve = min(_LINE_RESERVE, self.total // _LINE_RESERVE_SHARE)  # most lines cost less: typing them costs nothing more
        cost = self.count(self.cursor_line)
        charged = reserve + max(0, math.ceil((cost - reserve) / step) * step)
        if not self.budget.take(charged, "the cursor's line (charged in steps)"):
            return cost <= self.budget.left and self.budget.take(cost, "the cursor's line")
        inner = next((s for s in reversed(self.scopes) if s.start_point.row < self.row), None)
        anchor = inner.start_point.row if inner else max(0, (self.row - _MIN_ABOVE) // CHUNK * CHUNK)
        allowance = self.budget.left // _NEAREST_SHARE
        later = range(anchor // CHUNK * CHUNK + CHUNK, self.row, CHUNK)
        finer = [self.row - n for n in (8, 4, 2, 1) if self.row - n > anchor]
        for start in sorted({anchor, *later, *finer}):
            cost = self.lines.cost(start, self.row)
            if start < self.row and cost <= allowance:
                where = "the enclosing scope's start" if inner and start == anchor else "a chunk boundary" if start % CHUNK == 0 else "as far as fits"
                self.budget.take(cost, f"the nearest code: lines {start + 1}-{self.row}, from {where}")
                self.start = start
                return True
        if anchor < self.row:
            self.budget.note(f"left out lines {anchor + 1}-{self.row} above the cursor: even one costs over half the budget")
        return True

    def _scope_headers(self) -> None:
        """(2) The headers of the enclosing scopes the window does not reach."""
        for scope in self.scopes:
            first = scope.start_point.row
            if first >= self.start:
                continue
            body = body_of(scope, self.language) if self.language else None
            header_end = first + 1
            if body is not None:
                code_end = len(self.structure.source[: body.start_byte].rstrip())
                header_end = first + min(_HEADER_LINES, self.structure.source.count(b"\n", scope.start_byte, code_end) + 1)
            text = self.lines.text(first, min(header_end, self.start))
            what = f"the header of the enclosing scope at line {first + 1}"
            cost = self.count(text)
            if self.budget.take(cost, what):
                self.header.append(_HeaderPiece(first, text, cost, what))

    def _imports(self) -> None:
        """(3) The file's imports, those above the window."""
        hidden = [n for n in import_statements(self.structure) if n.end_point.row < self.start]
        if hidden:
            text = "".join(self.structure.node_text(n).rstrip() + "\n" for n in hidden)
            what = f"the imports (lines {hidden[0].start_point.row + 1}-{hidden[-1].end_point.row + 1})"
            cost = self.count(text)
            if self.budget.take(cost, what):
                self.header.append(_HeaderPiece(hidden[0].start_point.row, text, cost, what))

    def _visible(self, definition: Definition) -> bool:
        return definition.path == self.doc.path and self.start <= definition.start_line <= self.last_visible

    def _encloses(self, definition: Definition) -> bool:
        return definition.path == self.doc.path and any(
            definition.start_line <= s.start_point.row and definition.end_line == s.end_point.row for s in self.scopes
        )

    def _used_definitions(self) -> None:
        """(4) The definitions of the names used near the cursor that the window does not show."""
        uses = identifier_uses(self.doc.text, self.doc.offset, self.language, parsed=self.parsed)
        for name, line in uses[:_NAMES]:
            if any(d.name == name and (self._visible(d) or self._encloses(d)) for d in self.own):
                continue
            found = [d for d in self.own if d.name == name] or self._in_open_documents(name) or self._in_index(name)
            if not found:
                continue
            if len(found) > _AMBIGUOUS:
                self.budget.note(f"left out the definitions of {name}: {len(found)} of them, too common to guess")
                continue
            definition = min(found, key=lambda d: (-_closeness(d.path, self.doc.path), d.path, d.start_line))
            if any(c.snippet.path == definition.path and c.snippet.line == definition.start_line for c in self.chosen):
                continue
            cost = self.count(definition.text)
            whole = cost <= self.total // _WHOLE_SHARE
            text = definition.text if whole else definition.signature
            cost = cost if whole else self.count(text)
            what = f"definition of {name} used at line {line + 1}"
            where = f"{definition.path}:{definition.start_line + 1}"
            if self.budget.take(cost, f"the {what} ({'whole' if whole else 'signature'}, {where})"):
                own = (definition,) if definition.path == self.doc.path else ()
                self.chosen.append(_Chosen(Snippet(definition.path, text, what, definition.start_line), cost, own))

    def _in_open_documents(self, name: str) -> list[Definition]:
        """Parsed only where the name occurs at all, and once per text (by the cache)."""
        found = []
        for path in sorted(self.sources.open_documents):
            text = self.sources.open_documents[path]
            language = language_for(path)
            if path == self.doc.path or language is None or not self._callable(path) or name not in text:
                continue
            found += [d for d in self.cache.definitions(self.cache.parsed(text, language), path) if d.name == name]
        return found

    def _in_index(self, name: str) -> list[Definition]:
        """From the index, but for files whose text is at hand (fresher than the index's)."""
        if self.sources.index is None:
            return []
        at_hand = {self.doc.path, *self.sources.open_documents}
        return [d for d in self.sources.index.lookup(name) if d.path not in at_hand and self._callable(d.path)]

    def _callable(self, path: str) -> bool:
        """Whether this file's code can use what `path` defines: same language (family)."""
        language = language_for(path)
        return self.language is not None and language is not None and self.language.uses(language)

    def _siblings(self) -> None:
        """(5) Signatures of this file's other definitions (the enclosing class's members
        among them), nearest first, as one snippet in line order."""
        shown = {d for c in self.chosen for d in c.shows}
        members_of = {d.name for d in self.own if self._encloses(d)}
        siblings = [
            d for d in self.own
            if (not d.scope or d.scope in members_of) and not self._visible(d) and not self._encloses(d) and d not in shown
        ]
        siblings.sort(key=lambda d: abs(d.start_line - self.row))
        kept, cost = [], 0
        for definition in siblings:
            more = self.count(definition.signature + "\n")
            if cost + more > self.budget.left:
                self.budget.note(f"left out the signatures of {len(siblings) - len(kept)} farther definitions in this file")
                break
            kept.append(definition)
            cost += more
        if kept:
            chosen = self._sibling_snippet(kept)
            if self.budget.take(chosen.cost, f"signatures of {len(kept)} other definitions in this file"):
                self.chosen.append(chosen)

    def _sibling_snippet(self, siblings: list[Definition]) -> _Chosen:
        ordered = tuple(sorted(siblings, key=lambda d: d.start_line))
        text = "".join(d.signature + "\n" for d in ordered)
        return _Chosen(Snippet(self.doc.path, text, "sibling signatures", ordered[0].start_line), self.count(text), ordered)

    def _recent_edits(self) -> None:
        """(6) What the user edited lately in other files, newest first."""
        for region in self.sources.recent.regions(exclude=self.doc.path) if self.sources.recent else []:
            cost = self.count(region.text)
            if self.budget.take(cost, f"the {region.reason} of {region.path}"):
                self.chosen.append(_Chosen(region, cost))

    def _grow(self) -> None:
        """Then more of the file above, a 16-line chunk at a time; what the window comes to
        show (imports, headers, this file's definitions) leaves the header and snippets."""
        while self.start > 0:
            start = (self.start - 1) // CHUNK * CHUNK
            if not self.budget.take(self.lines.cost(start, self.start), f"lines {start + 1}-{self.start} (more of the file above)"):
                return
            self.start = start
            for piece in [p for p in self.header if p.row >= start]:
                self.header.remove(piece)
                self.budget.give_back(piece.cost, piece.what)
            for chosen in [c for c in self.chosen if any(self._visible(d) for d in c.shows)]:
                self.chosen.remove(chosen)
                self.budget.give_back(chosen.cost, chosen.snippet.reason)
                hidden = [d for d in chosen.shows if not self._visible(d)]
                if hidden:  # the rest of the sibling signatures
                    rest = self._sibling_snippet(hidden)
                    self.budget.take(rest.cost, f"signatures of the {len(hidden)} other definitions still out of view")
                    self.chosen.append(rest)


def _logged(doc: Document, decisions: list[str]) -> tuple[str, ...]:
    for decision in decisions:
        log.debug("%s:%d: %s", doc.path, doc.offset, decision)
    return tuple(decisions)


def _closeness(path: str, other: str) -> int:
    """How many directories two paths share: the nearer a definition, the likelier it is the one."""
    return len(os.path.commonprefix([PurePath(path).parent.parts, PurePath(other).parent.parts]))
