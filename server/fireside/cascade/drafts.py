"""Asking a model for an edit: the prompt, and the code taken out of its answer.

The model rewrites one region of one file (a function, a selection) or writes new code
to append (tests). It sees the file around the region, the task, and on a second try the
attempt that failed with the check's output. Its answer's first fenced code block is the
draft, re-indented to the region's indentation.
"""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fireside.cascade.checks import CheckResult

SYSTEM = ("You are an expert programmer editing a file in the user's project. Answer with the complete "
          "replacement code in a single fenced code block and nothing else.")
_AROUND = 3000  # characters of the file shown before and after the region
_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.S)


@dataclass(frozen=True)
class EditTask:
    """Replace `text[start:end]` of `path` (relative to the workspace) as `instruction` says."""

    action: str  # fix, refactor, docstring, tests
    title: str  # for the user: "Fix: undefined name 'x'"
    path: str
    text: str  # the file as the editor has it ("" for a file to be created)
    start: int
    end: int
    instruction: str
    subject: str = ""  # the code the task is about, when it is not the region (tests: the function)
    language: str = ""

    @property
    def region(self) -> str:
        return self.text[self.start : self.end]

    def with_draft(self, draft: str) -> str:
        return self.text[: self.start] + draft + self.text[self.end :]


@dataclass(frozen=True)
class Draft:
    code: str
    model: str
    tokens_in: int
    tokens_out: int
    seconds: float


def messages(task: EditTask, failed: tuple[str, CheckResult] | None, redact: Callable[[str], str] = lambda s: s) -> list[dict[str, str]]:
    """The chat for one attempt; `redact` is applied to everything taken from the user's files."""
    fence = task.language
    before = task.text[max(0, task.start - _AROUND) : task.start]
    after = task.text[task.end : task.end + _AROUND]
    parts = [f"File `{task.path}`:"]
    if task.text:
        parts.append(f"```{fence}\n{redact(before)}<<<REGION>>>{redact(after)}\n```")
    if task.subject:
        parts.append(f"The code in question:\n```{fence}\n{redact(task.subject)}\n```")
    parts.append(f"Task: {task.instruction}")
    if task.region:
        parts.append(f"<<<REGION>>> stands for this code, which your answer replaces:\n```{fence}\n{redact(task.region)}\n```")
    else:
        parts.append("Your answer is inserted at <<<REGION>>>." if task.text else "Your answer is the whole file.")
    if failed is not None:
        code, check = failed
        parts.append(f"An earlier answer failed the {check.name} check:\n```{fence}\n{redact(code)}\n```\n"
                     f"The check printed:\n```\n{redact(check.output)}\n```\nWrite an answer that passes.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def extract_code(answer: str, task: EditTask) -> str:
    """The first fenced block (or the whole answer), indented as the region's line is,
    and ending as the region did (its line breaks; one for an insertion)."""
    match = _FENCE.search(answer)
    code = textwrap.dedent((match.group(1) if match else answer).strip("\n"))
    line_start = task.text.rfind("\n", 0, task.start) + 1
    line = task.text[line_start : task.start]
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    if task.region[:1] in (" ", "\t"):  # the region starts with its own indentation
        indent = task.region[: len(task.region) - len(task.region.lstrip(" \t"))]
        line = ""
    code = textwrap.indent(code, indent, lambda text: bool(text.strip()))
    if line.strip() or line == indent:  # the line before the region supplies the first line's indentation
        code = code[len(indent) :] if code.startswith(indent) else code
    region = task.region
    return code.rstrip() + (region[len(region.rstrip()) :] if region.strip() else "\n")


async def ask(chat: Callable[[dict[str, object]], AsyncIterator[dict[str, object]]], model: str, task: EditTask, chat_messages: list[dict[str, str]], max_tokens: int = 1024) -> Draft:
    """One answer from `model` through the daemon's /api/chat (`chat` streams its NDJSON)."""
    started = time.monotonic()
    text: list[str] = []
    tokens_in = tokens_out = 0
    body = {"model": model, "messages": chat_messages, "options": {"temperature": 0, "num_predict": max_tokens}}
    async for item in chat(body):
        message = item.get("message")
        if isinstance(message, dict):
            text.append(str(message.get("content") or ""))
        if item.get("done"):
            tokens_in, tokens_out = int(item.get("prompt_eval_count") or 0), int(item.get("eval_count") or 0)
    return Draft(extract_code("".join(text), task), model, tokens_in, tokens_out, time.monotonic() - started)
