"""From a model's raw output to the text shown at the cursor: small pure filters.

Users judge an inline suggestion by whether it fits the hole exactly: it must not repeat
the code after the cursor, run past the end of the block, or show leaked special tokens
or degenerate loops. Each filter is a pure function `(text, around) -> text`;
`clean_completion` runs them in the order of `FILTERS`, and "" means: show nothing.

1. `strip_special_tokens`: leaked FIM/EOS tokens end the text (what follows them is
   another file or turn); must run first, every later rule reads the text as code.
2. `keep_single_line`: one line where the context module asked for one.
3. `cut_at_scope_end`: the end of the enclosing block (indentation, brackets, two blank
   lines); runs before the overlap rules so that they see only the block.
4. `drop_suffix_overlap`: what the model re-typed of the code after the cursor.
5. `close_brackets`: closers for a single line that left its own brackets open; after
   4, so that a closer the suffix provides is not added back.
6. `drop_degenerate`: whitespace-only output and repetition loops.
7. `trim_whitespace`: trailing whitespace and blank lines, last because every cut above
   may leave some.

Brackets and indentation are read from code only: strings and comments are masked out
(`_mask`) with a small per-language lexer that starts in the state the prefix ends in,
so a cursor inside a string or comment is handled too. Text is assumed to use "\\n" line
ends (a "\\r" before them is treated as trailing whitespace).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Surroundings:
    prefix: str  # the document text before the cursor (the whole file prefix)
    suffix: str  # the document text after the cursor
    multiline: bool  # a block completion is allowed (else a single line)
    language: str | None = None  # "python", "javascript", ... or None

    @property
    def line_before(self) -> str:
        """The cursor's line up to the cursor."""
        return self.prefix[self.prefix.rfind("\n") + 1 :]

    @property
    def rest_of_line(self) -> str:
        """The cursor's line after the cursor."""
        end = self.suffix.find("\n")
        return self.suffix if end < 0 else self.suffix[:end]

    @property
    def at_line_end(self) -> bool:
        """Nothing but whitespace follows the cursor on its line."""
        return not self.rest_of_line.strip()


# --- Special tokens -------------------------------------------------------------------

SPECIAL_TOKEN_PATTERN = re.compile(
    r"<\|[A-Za-z0-9_.]{1,40}\|>"  # Qwen, Llama 3, Phi, ChatML: <|fim_middle|>, <|endoftext|>, <|eot_id|>, <|end|>
    r"|<｜[^｜\n]{1,40}｜>"  # DeepSeek (full-width bars): <｜fim▁hole｜>, <｜end▁of▁sentence｜>
    r"|<(?:fim_prefix|fim_suffix|fim_middle|fim_pad|file_sep|filename|reponame|gh_stars)>"  # StarCoder
    r"| ?<(?:PRE|SUF|MID|EOT)>"  # CodeLlama (its tokens come with a space before them)
    r"|</s>|<eos>|<end_of_turn>"  # Llama 2 / Mistral, Gemma
)
# Padding means nothing; a "middle starts here" marker at the very start is the
# server echoing the prompt's end, not the end of the completion.
_PADDING = re.compile(r"<\|fim_pad\|>|<fim_pad>")
_LEADING_MARKER = re.compile(r"<\|fim_middle\|>|<fim_middle>|<MID> ?|<｜fim▁end｜>")


def strip_special_tokens(text: str, around: Surroundings) -> str:
    """Cut at the first leaked special token: what follows belongs to another file, turn
    or prompt section, never to this hole."""
    text = _PADDING.sub("", text)
    while (marker := _LEADING_MARKER.match(text)) is not None:
        text = text[marker.end() :]
    for token in SPECIAL_TOKEN_PATTERN.finditer(text):
        if token.group() == "</s>" and "<s>" in text[: token.start()]:
            continue  # HTML strikethrough that the completion opened, not an EOS token
        return text[: token.start()]
    return text


# --- Single line ----------------------------------------------------------------------


def keep_single_line(text: str, around: Surroundings) -> str:
    """Where the context module asked for one line, keep the first. At the end of a line
    the model often starts with a newline and completes the next line instead: keep
    "\\n" + that line (benchmarks score exactly that line)."""
    if around.multiline:
        return text
    start = 1 if text.startswith("\n") and around.at_line_end else 0
    end = text.find("\n", start)
    return text if end < 0 else text[:end]


# --- Lexing: strings and comments -----------------------------------------------------


@dataclass(frozen=True)
class _Syntax:
    literal_start: re.Pattern[str]  # where a string or comment starts
    literal: re.Pattern[str]  # a whole string or comment (to its end, or the text's)
    braces: bool  # blocks end with "}" (else with a dedent)
    block_opener: re.Pattern[str]  # a line after which the body is indented deeper
    closing_line: re.Pattern[str]  # a dedented line that closes the block (kept if needed)


# How each literal ends, from its opening token. Group 1 is the closing token (consumed),
# "\n" (a single-line literal ends unterminated at the line end) or "" (the text ends
# inside the literal).
_LITERAL_END: dict[str, re.Pattern[str]] = {
    '"': re.compile(r'(?:\\[\s\S]|[^"\\\n])*("|\n|\\?\Z)'),
    "'": re.compile(r"(?:\\[\s\S]|[^'\\\n])*('|\n|\\?\Z)"),
    '"""': re.compile(r'(?:\\[\s\S]|[^\\])*?("""|\\?\Z)'),
    "'''": re.compile(r"(?:\\[\s\S]|[^\\])*?('''|\\?\Z)"),
    "`": re.compile(r"(?:\\[\s\S]|[^`\\])*(`|\\?\Z)"),
    "/*": re.compile(r"[\s\S]*?(\*/|\Z)"),
    "--[[": re.compile(r"[\s\S]*?(\]\]|\Z)"),
    "[[": re.compile(r"[\s\S]*?(\]\]|\Z)"),
    "//": re.compile(r"[^\n]*(\n|\Z)"),
    "#": re.compile(r"[^\n]*(\n|\Z)"),
    "--": re.compile(r"[^\n]*(\n|\Z)"),
}


def _make_syntax(tokens: tuple[str, ...], braces: bool, block_opener: str, closing_line: str, complete: str = "") -> _Syntax:
    """A language's lexing rules from its literal openers (longest first, keys of
    `_LITERAL_END`) and an optional pattern of literals that are always complete."""
    starts = [re.escape(t) for t in tokens] + ([complete] if complete else [])
    wholes = [re.escape(t) + "(?:" + _LITERAL_END[t].pattern + ")" for t in tokens] + ([complete] if complete else [])
    return _Syntax(re.compile("|".join(starts)), re.compile("|".join(wholes)), braces, re.compile(block_opener), re.compile(closing_line))


_C_TOKENS = ("//", "/*", '"', "'")
_C_OPENER = r"[{(\[]\s*$"
_CLOSER_LINE = r"\s*[)\]}]"
_C_LIKE = _make_syntax(_C_TOKENS, True, _C_OPENER, _CLOSER_LINE)
_TEMPLATE_STRINGS = _make_syntax((*_C_TOKENS, "`"), True, _C_OPENER, _CLOSER_LINE)
# Rust: a quote is a char literal only when one (escaped) character follows it; else it
# starts a lifetime (`'a`), which is code.
_RUST = _make_syntax(("//", "/*", '"'), True, _C_OPENER, _CLOSER_LINE, complete=r"'(?:\\[^'\n]{1,9}|[^\\'\n])'")
_PYTHON = _make_syntax(('"""', "'''", '"', "'", "#"), False, r":\s*$", _CLOSER_LINE)
_LUA = _make_syntax(
    ("--[[", "--", "[[", '"', "'"),
    False,
    r"(?:\b(?:then|do|else|repeat)|\bfunction\b.*\)|[{(\[])\s*$",
    r"\s*(?:[)\]}]|end\b|until\b)",
)
# Unknown languages: strings only, blocks by indentation.
_FALLBACK = _make_syntax(('"', "'"), False, r"[:{(\[]\s*$", _CLOSER_LINE)

_SYNTAX: dict[str, _Syntax] = {
    "python": _PYTHON,
    "javascript": _TEMPLATE_STRINGS,
    "typescript": _TEMPLATE_STRINGS,
    "tsx": _TEMPLATE_STRINGS,
    "go": _TEMPLATE_STRINGS,  # Go's raw strings use backquotes too
    "rust": _RUST,
    "java": _C_LIKE,
    "c": _C_LIKE,
    "cpp": _C_LIKE,
    "lua": _LUA,
}

_HIDDEN = "\0"  # a masked character of a string or comment
_HIDDEN_NEWLINE = "\1"  # a newline inside a multi-line string or comment
_VISIBLE = re.compile(r"[^\n]")


def _syntax(around: Surroundings) -> _Syntax:
    return _SYNTAX.get(around.language or "", _FALLBACK)


def _mask(text: str, syntax: _Syntax, state: str | None) -> tuple[str, str | None]:
    """`text` with strings and comments hidden (same length, newlines inside them marked),
    so that brackets and line starts are read from code only; and the literal open at its
    end (its opening token), None for code. `state` is the literal open at its start."""
    parts: list[str] = []
    i = 0
    while i < len(text):
        if state is None:
            start = syntax.literal_start.search(text, i)
            if start is None:
                parts.append(text[i:])
                break
            parts.append(text[i : start.start()])
            parts.append(_HIDDEN * len(start.group()))
            i = start.end()
            if start.group() in _LITERAL_END:
                state = start.group()  # else a complete literal (a Rust char)
            continue
        end = _LITERAL_END[state].match(text, i)
        assert end is not None  # every pattern can match up to the end of the text
        if end.group(1) == "\n":
            stop, state = end.start(1), None  # a single-line literal ends with its line
        elif end.group(1) in ("", "\\"):
            stop = len(text)  # still open
        else:
            stop, state = end.end(), None
        parts.append(_VISIBLE.sub(_HIDDEN, text[i:stop]).replace("\n", _HIDDEN_NEWLINE))
        i = stop
    return "".join(parts), state


def _cursor_state(around: Surroundings, syntax: _Syntax) -> str | None:
    """The string or comment the cursor is in (its opening token), None in code. The
    same lexing as `_mask`, but whole literals at a time: the prefix is the whole file."""
    last = None
    for last in syntax.literal.finditer(around.prefix):
        pass
    if last is None or last.end() < len(around.prefix):
        return None
    token = syntax.literal_start.match(around.prefix, last.start())
    assert token is not None  # every literal starts with its opener
    if token.group() not in _LITERAL_END:
        return None
    end = _LITERAL_END[token.group()].match(around.prefix, token.end())
    assert end is not None
    return token.group() if end.group(1) in ("", "\\") else None


_BRACKETS = re.compile(r"[()\[\]{}]")
_OPENERS = {"(": ")", "[": "]", "{": "}"}


def _unclosed(masked: str) -> list[str]:
    """Brackets opened in `masked` and left open, innermost last (closers of brackets
    opened before it are ignored)."""
    stack: list[str] = []
    for bracket in _BRACKETS.finditer(masked):
        if bracket.group() in _OPENERS:
            stack.append(bracket.group())
        elif stack:
            stack.pop()
    return stack


# --- Scope end ------------------------------------------------------------------------

_SUFFIX_WINDOW = 20_000  # characters of the suffix searched for the brackets it closes
_SUFFIX_CLOSERS = 8  # that many of them at most


def cut_at_scope_end(text: str, around: Surroundings) -> str:
    """Stop where the cursor's block ends, so the suggestion never runs on into code that
    is not part of the hole: at a closer the suffix already provides, after a "}" that
    closes the enclosing block (brace languages), at a line dedented below the block
    (other languages), or at two blank lines in a row (blocks)."""
    syntax = _syntax(around)
    state = _cursor_state(around, syntax)
    masked, _ = _mask(text, syntax, state)
    cut = _bracket_end(text, masked, around, syntax, state)
    if not syntax.braces:
        cut = min(cut, _dedent_end(text, masked, around, syntax))
    if around.multiline:
        cut = min(cut, _blank_lines_end(text, masked))
    return text[:cut]


def _suffix_closers(around: Surroundings, syntax: _Syntax, state: str | None) -> list[tuple[str, int | None]]:
    """The closers in the suffix of brackets opened before the cursor, innermost first,
    each with its indentation when it starts its line (else None)."""
    masked, _ = _mask(around.suffix[:_SUFFIX_WINDOW], syntax, state)
    found: list[tuple[str, int | None]] = []
    depth = 0
    for bracket in _BRACKETS.finditer(masked):
        if bracket.group() in _OPENERS:
            depth += 1
        elif depth:
            depth -= 1
        else:
            line_start = masked.rfind("\n", 0, bracket.start()) + 1
            before = around.line_before if line_start == 0 else ""
            found.append((bracket.group(), _leading_width(before + masked[line_start : bracket.start()])))
            if len(found) == _SUFFIX_CLOSERS:
                break
    return found


def _leading_width(before: str) -> int | None:
    """The indentation of a closer whose line holds only `before` ahead of it, else None."""
    return None if before.strip() else len(before.expandtabs(4))


def _bracket_end(text: str, masked: str, around: Surroundings, syntax: _Syntax, state: str | None) -> int:
    """Where bracket structure ends the completion. Its k-th closer of a bracket opened
    before the cursor closes the same bracket as the suffix's k-th such closer: if that is
    the same character, the suffix provides it and the completion ends before it. Two
    closers that each start their line at different indentation close different blocks:
    the suffix's `}` at column 0 ends the class, not the method the completion closes."""
    depth = 0  # relative to the cursor: below 0, closing brackets opened before it
    lowest = 0
    provided: list[tuple[str, int | None]] | None = None
    stop_depth: int | None = None  # brace languages: the enclosing block was closed
    for found in re.finditer(r"[()\[\]{}\n]", masked):
        char, at = found.group(), found.start()
        if char == "\n":
            if stop_depth is not None and depth <= stop_depth:
                return at
        elif char in _OPENERS:
            depth += 1
        else:
            depth -= 1
            if depth < lowest:
                lowest = depth
                if provided is None:
                    provided = _suffix_closers(around, syntax, state)
                if -depth <= len(provided) and _same_closer(provided[-depth - 1], char, text, at, around):
                    return _line_cut(text, at)
                if char == "}" and syntax.braces and stop_depth is None:
                    stop_depth = depth  # keep this line (`} else {` until its block closes)
    return len(text)


def _same_closer(provided: tuple[str, int | None], char: str, text: str, at: int, around: Surroundings) -> bool:
    """Whether the suffix's closer `provided` is the completion's `char` at `at`."""
    provided_char, provided_width = provided
    if provided_char != char:
        return False
    line_start = text.rfind("\n", 0, at) + 1
    width = _leading_width((around.line_before if line_start == 0 else "") + text[line_start:at])
    return width is None or provided_width is None or width == provided_width


def _line_cut(text: str, at: int) -> int:
    """A cut before `at`, taking the indentation before it on its line along."""
    start = text.rfind("\n", 0, at) + 1
    return start if not text[start:at].strip() else at


def _width(line: str) -> int:
    """Indentation width (tabs as 4 columns: only compared within one file)."""
    body = line.lstrip(" \t")
    return len(line[: len(line) - len(body)].expandtabs(4))


def _last_code_line(prefix: str) -> str:
    """The last non-blank line of `prefix` (the cursor's line when it is not blank)."""
    end = len(prefix)
    while end >= 0:
        start = prefix.rfind("\n", 0, end) + 1
        if prefix[start:end].strip():
            return prefix[start:end]
        end = start - 1
    return ""


def _next_code_line(suffix: str) -> str:
    """The first non-blank line of `suffix` after the cursor's line."""
    start = suffix.find("\n") + 1
    while start > 0:
        end = suffix.find("\n", start)
        line = suffix[start:] if end < 0 else suffix[start:end]
        if line.strip():
            return line
        start = end + 1
    return ""


def _block_width(around: Surroundings, syntax: _Syntax) -> int:
    """How deep the cursor's block is indented: the cursor's line (or the last non-blank
    line before it), one deeper when that line opens a block (`def f():`)."""
    line = _last_code_line(around.prefix)
    code = _mask(line, syntax, None)[0].replace(_HIDDEN, " ")  # no colon of a comment or string
    return _width(line) + (1 if syntax.block_opener.search(code) else 0)


def _first_token(line: str) -> str:
    found = re.search(r"\w+|\S", line)
    return "" if found is None else found.group()


def _dedent_end(text: str, masked: str, around: Surroundings, syntax: _Syntax) -> int:
    """Where a line indented less than the cursor's block ends the completion. The cursor's
    own line is not judged; on a blank line the first line written sets the level (the
    user put the cursor there). Lines inside a bracket the completion opened, or inside a
    string, are continuations and not judged. A dedented closing line (`)`, Lua's `end`)
    is kept as the completion's last line unless the suffix's next line is the same."""
    block = _block_width(around, syntax)
    fresh = not around.line_before.strip()
    opened = 0
    start = 0
    for number, line in enumerate(text.split("\n")):
        end = start + len(line)
        judged = (number > 0 or fresh) and line.strip() and opened == 0
        if judged and not (start > 0 and masked[start - 1] == _HIDDEN_NEWLINE):
            width = _width(around.line_before + line if number == 0 else line)
            if fresh:
                block, fresh = min(block, width), False
            elif width < block:
                if not syntax.closing_line.match(line):
                    return start
                provided = _first_token(_next_code_line(around.suffix)) == _first_token(line)
                return start if provided else end
        for bracket in _BRACKETS.finditer(masked, start, end):
            opened = opened + 1 if bracket.group() in _OPENERS else max(0, opened - 1)
        start = end + 1
    return len(text)


def _blank_lines_end(text: str, masked: str) -> int:
    """Two blank lines in a row (outside strings) end a block: the model has moved on."""
    found = re.search(r"\n[ \t\r]*\n[ \t\r]*(?:\n|\Z)", masked)
    return len(text) if found is None else found.start() + 1


# --- Suffix overlap -------------------------------------------------------------------

# Lines that prove nothing when they match the next line: blocks end alike.
_TRIVIAL_LINE = re.compile(r"[\W_]*(?:end|else|pass|break|continue|return|default|fi|done)?[\W_]*")


def drop_suffix_overlap(text: str, around: Surroundings) -> str:
    """Never repeat what is already after the cursor: a completion that is the rest of the
    line, a tail the suffix starts with (`foo(|)` + `a, b)`), or a line that re-types the
    next line of the suffix (cut from that line on)."""
    rest = around.rest_of_line.strip()
    if rest and text.strip() == rest:
        return ""
    return _drop_retyped_line(_drop_tail_overlap(text, around), around)


def _drop_tail_overlap(text: str, around: Surroundings) -> str:
    """The longest tail of `text` that the suffix starts with, removed when it plays the
    same part there: the text before it is left in the cursor's string state with no
    bracket of its own open (else the tail closes the completion's own bracket or string:
    `print(|)` + `foo(a, b)` keeps its `)`), and it does not split a word."""
    syntax = _syntax(around)
    state: str | None = ""  # not known yet ("" is no lexer state)
    for size in range(min(len(text), len(around.suffix)), 0, -1):
        overlap = around.suffix[:size]
        if around.suffix[size - 1] != text[-1] or not overlap.strip() or not text.endswith(overlap):
            continue
        kept = text[:-size]
        if (kept and _is_word(kept[-1]) and _is_word(overlap[0])) or (size < len(around.suffix) and _is_word(overlap[-1]) and _is_word(around.suffix[size])):
            continue
        if state == "":
            state = _cursor_state(around, syntax)
        masked, end_state = _mask(kept, syntax, state)
        if end_state != state:
            continue
        if not _unclosed(masked) or not re.search(r"[)\]}]", _mask(overlap, syntax, end_state)[0]):
            return kept
    return text


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _drop_retyped_line(text: str, around: Surroundings) -> str:
    """Cut from a line equal (stripped) to the first non-blank line after the cursor: the
    model is re-typing existing code. The cut keeps that line's indentation, which the
    suffix's text continues when it is on the cursor's line."""
    rest = around.rest_of_line.strip()
    target = rest or _next_code_line(around.suffix).strip()
    if not target or _TRIVIAL_LINE.fullmatch(target):
        return text
    start = 0
    for number, line in enumerate(text.split("\n")):
        if number == 0:
            if not rest and line.strip() and (around.line_before + line).strip() == target:
                return ""
        elif line.strip() == target:
            return text[: start + len(line) - len(line.lstrip())]
        start += len(line) + 1
    return text


# --- Bracket balancing ----------------------------------------------------------------

# A line ending like this is unfinished; closing its brackets would be a guess.
_UNFINISHED_END = re.compile(r"[-,(\[{=+*/%&|<>!.:\\^~?@]\s*$")


def close_brackets(text: str, around: Surroundings) -> str:
    """Close the brackets a single-line completion opened and left open, when the cursor
    is at the end of its line and the line looks finished (`foo(a, b` -> `foo(a, b)`).
    Never for brackets opened in the prefix, never where text follows the cursor (it may
    hold the closer), never inside a string or comment, never after a trailing comma,
    operator or opener (the model stopped mid-expression: the next line continues it)."""
    if around.multiline or not around.at_line_end or "\n" in text.lstrip("\n"):
        return text
    syntax = _syntax(around)
    masked, end_state = _mask(text, syntax, _cursor_state(around, syntax))
    open_brackets = _unclosed(masked)
    if not open_brackets or end_state is not None or _UNFINISHED_END.search(text):
        return text
    return text.rstrip() + "".join(_OPENERS[b] for b in reversed(open_brackets))


# --- Degenerate output ----------------------------------------------------------------

_STUTTER_UNIT = 8  # the longest unit of a short repeated pattern
_STUTTER_TIMES = 5  # how many times it must repeat (and at least 8 characters)
_RULE_CHARS = frozenset("=-*#~_/+. ")  # separator lines in comments and docs (`# ======`)


def drop_degenerate(text: str, around: Surroundings) -> str:
    """Junk is worse than nothing: whitespace only -> ""; a line that is a short pattern
    repeated (`))))))))`, `a a a a a a`) ends the text before it; a line repeated three
    times in a row (a decoding loop) is kept once."""
    if not text.strip():
        return ""
    start = 0
    previous: str | None = None
    run = 0
    second = 0  # where the current run's second line starts
    for line in text.split("\n"):
        key = line.rstrip()
        if key.strip():
            if _is_stutter(key.strip()):
                return _unless_blank(text[:start])
            run = run + 1 if key == previous else 1
            previous = key
            if run == 2:
                second = start
            elif run == 3:
                return _unless_blank(text[:second])
        start += len(line) + 1
    return text


def _unless_blank(text: str) -> str:
    return text if text.strip() else ""


def _is_stutter(line: str) -> bool:
    """`line` is one short unit repeated many times (not a separator rule)."""
    for period in range(1, _STUTTER_UNIT + 1):
        if len(line) < max(8, _STUTTER_TIMES * period - 1):  # (the last unit's space stripped)
            return False
        if line == (line[:period] * (len(line) // period + 1))[: len(line)]:
            return not set(line[:period]) <= _RULE_CHARS
    return False


# --- Whitespace -----------------------------------------------------------------------


def trim_whitespace(text: str, around: Surroundings) -> str:
    """No trailing spaces or blank lines at the end of a line: they would be inserted as
    they are. Where text follows the cursor on its line, trailing spaces are kept (they
    separate the completion from it: `x = |y` + `a + `), blank lines still go. Leading
    indentation always stays."""
    if not text.strip():
        return ""
    if around.at_line_end:
        return text.rstrip()
    return re.sub(r"(?:[ \t\r]*\n)+([ \t]*)\Z", r"\n\1", text)


Filter = Callable[[str, Surroundings], str]
FILTERS: tuple[Filter, ...] = (
    strip_special_tokens,
    keep_single_line,
    cut_at_scope_end,
    drop_suffix_overlap,
    close_brackets,
    drop_degenerate,
    trim_whitespace,
)


def clean_completion(raw: str, around: Surroundings) -> str:
    """The text to show at the cursor, or "" to show nothing. Runs `FILTERS` in order."""
    text = raw
    for step in FILTERS:
        text = step(text, around)
        if not text:
            return ""
    return text
