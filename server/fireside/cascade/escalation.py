"""One edit task through the cascade: local draft, checks, cloud on failure, the best edit.

1. The local model drafts; the draft is checked in a shadow copy (syntax of the changed
   region, then the workspace's lint and test commands).
2. On a failed check, when a cloud model is configured and policy allows the file, the
   task goes to the cloud with the failing draft and output attached (secrets redacted);
   its answer is checked the same way. `force_cloud` skips the local draft: the user
   rejected it ("Retry with cloud model").
3. The outcome is the first draft that passed, else the one that passed the most checks
   (marked failing), else nothing; the ledger records the task either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from fireside.cascade.checks import CheckConfig, CheckResult, run_command, syntax_check, related_tests
from fireside.cascade.drafts import Draft, EditTask, ask, messages
from fireside.cascade.ledger import Ledger, LedgerEntry, Prices
from fireside.cascade.policy import CloudPolicy
from fireside.cascade.redact import Scrubber
from fireside.cascade.shadow import shadow_workspace

Chat = Callable[[dict[str, object]], AsyncIterator[dict[str, object]]]
Report = Callable[[str], None]


@dataclass(frozen=True)
class Attempt:
    draft: Draft
    provenance: str  # local or cloud
    checks: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failure(self) -> CheckResult | None:
        return next((c for c in self.checks if not c.passed), None)

    def describe(self) -> str:
        """"local draft (qwen): syntax passed, test failed"."""
        return f"{self.provenance} draft ({self.draft.model}): " + ", ".join(str(c) for c in self.checks)


@dataclass(frozen=True)
class Outcome:
    best: Attempt | None  # None: no draft worth offering
    attempts: tuple[Attempt, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)  # why the cloud was not asked, what was redacted

    @property
    def passed(self) -> bool:
        return self.best is not None and self.best.passed


async def check(root: Path, task: EditTask, code: str, config: CheckConfig) -> tuple[CheckResult, ...]:
    """The draft's checks, in order, stopping at the first failure. A draft that changes
    nothing fails (the model did not do the task). Except for a fix, whose point is to
    make failing checks pass, a check that fails without the draft too is not held
    against it: the edit did not break it."""
    if code == task.region:
        return (CheckResult("change", False, "the draft is the code as it was"),)
    text = task.with_draft(code)
    syntax = syntax_check(task.path, text, task.start, task.start + len(code))
    if not syntax.passed:
        return (syntax,)
    results = [syntax]
    if config.commands:
        async with shadow_workspace(root, {task.path: text}) as shadow:
            tests = related_tests(shadow, [task.path])
            for name, command in config.commands.items():
                result = await run_command(name, command, shadow, [task.path], tests, config.timeout)
                if not result.passed and task.action != "fix" and not await _passes_without(root, task, name, command, tests, config):
                    result = CheckResult(name, True, "failing before this edit too: " + result.output[-400:])
                results.append(result)
                if not result.passed:
                    break
    return tuple(results)


async def _passes_without(root: Path, task: EditTask, name: str, command: str, tests: list[str], config: CheckConfig) -> bool:
    """Whether the check passes on the file as the editor has it (the baseline)."""
    async with shadow_workspace(root, {task.path: task.text} if task.text else {}) as shadow:
        return (await run_command(name, command, shadow, [task.path], tests, config.timeout)).passed


class Escalation:
    def __init__(self, chat: Chat, prices: Callable[[str], Awaitable[Prices]], ledger: Ledger) -> None:
        self._chat = chat
        self._prices = prices
        self._ledger = ledger

    async def run(self, root: Path, task: EditTask, local_model: str, policy: CloudPolicy, force_cloud: bool = False, report: Report = lambda _: None) -> Outcome:
        config = CheckConfig.for_workspace(root, [task.path])
        entry = LedgerEntry(time=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), action=task.action, path=task.path, local_model=local_model)
        attempts: list[Attempt] = []
        notes: list[str] = []
        try:
            failed: tuple[str, CheckResult] | None = None
            if force_cloud:
                entry.signal = {"check": "user rejected the local edit"}
            else:
                report(f"drafting with {local_model}")
                local = await self._attempt(root, task, local_model, "local", None, config, report)
                attempts.append(local)
                entry.local_tokens_in, entry.local_tokens_out, entry.local_seconds = local.draft.tokens_in, local.draft.tokens_out, round(local.draft.seconds, 3)
                if local.passed:
                    entry.outcome = "local"
                    return Outcome(local, tuple(attempts))
                assert local.failure is not None
                failed = (local.draft.code, local.failure)
                entry.signal = {"check": local.failure.name, "excerpt": local.failure.output[-500:]}
            refusal = policy.refusal(task.path)
            if refusal is not None:
                entry.blocked = refusal
                entry.outcome = "blocked"
                notes.append(f"the cloud model was not asked: {refusal}")
                return Outcome(_best(attempts), tuple(attempts), tuple(notes))
            assert policy.model is not None
            entry.escalated, entry.cloud_model = True, policy.model
            report(f"asking {policy.model}" + (f" after the {failed[1].name} check failed" if failed else ""))
            scrub = Scrubber()
            cloud = await self._attempt(root, task, policy.model, "cloud", failed, config, report, scrub)
            attempts.append(cloud)
            if scrub.found:
                notes.append(f"redacted before sending: {', '.join(sorted(scrub.found))}")
            prices = await self._prices(policy.model)
            entry.cloud_tokens_in, entry.cloud_tokens_out, entry.cloud_seconds = cloud.draft.tokens_in, cloud.draft.tokens_out, round(cloud.draft.seconds, 3)
            entry.cost_usd = prices.cost(cloud.draft.tokens_in, cloud.draft.tokens_out)
            entry.outcome = "cloud" if cloud.passed else "cloud-failed"
            return Outcome(_best(attempts), tuple(attempts), tuple(notes))
        except asyncio.CancelledError:
            entry.outcome = "cancelled"
            raise
        finally:
            entry.outcome = entry.outcome or "error"
            entry.all_cloud_usd = entry.cost_usd
            if policy.model and not entry.escalated and entry.outcome != "cancelled":
                with contextlib.suppress(Exception):  # an estimate; the task's own result matters more
                    entry.all_cloud_usd = (await self._prices(policy.model)).cost(entry.local_tokens_in, entry.local_tokens_out)
            self._ledger.append(entry)

    async def _attempt(self, root: Path, task: EditTask, model: str, provenance: str, failed: tuple[str, CheckResult] | None,
                       config: CheckConfig, report: Report, scrub: Callable[[str], str] = lambda s: s) -> Attempt:
        draft = await ask(self._chat, model, task, messages(task, failed, scrub))
        report(f"checking the {provenance} draft")
        return Attempt(draft, provenance, await check(root, task, draft.code, config))


def _best(attempts: list[Attempt]) -> Attempt | None:
    """The draft that passed, else the one that got furthest (a later one on ties: it saw
    the earlier failure); a draft that fails the syntax check is not worth offering."""
    passed = [a for a in attempts if a.passed]
    if passed:
        return passed[-1]
    viable = [a for a in attempts if a.checks and a.checks[0].passed]
    return max(reversed(viable), key=lambda a: sum(c.passed for c in a.checks), default=None)
