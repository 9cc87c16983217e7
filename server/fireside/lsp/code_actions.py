"""`textDocument/codeAction` and `codeAction/resolve`: AI edits, checked before offered.

Listing is instant: each action carries what it needs in `data`, and the model only
works when the user picks one (resolve). The edit comes back as a WorkspaceEdit against
the document version it was made from, which the editor applies as the user's choice.
Edit tasks run through the cascade (local draft, checks, cloud on failure); the title
says where the edit came from and which checks it passed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified, JsonRpcInvalidParams

from fireside.cascade.drafts import EditTask
from fireside.cascade.escalation import Outcome
from fireside.lsp.edit_tasks import docstring_task, enclosing_function, fix_task, tests_task
from fireside.lsp.ranges import position_at, range_from_json, range_json
from fireside.lsp.work_progress import work_progress

if TYPE_CHECKING:
    from fireside.lsp.server import FiresideServer

log = logging.getLogger(__name__)

REFACTOR_COMMAND = "fireside.refactor"
EXPLAIN_COMMAND = "fireside.explain"


def code_actions(ls: FiresideServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    uri = params.text_document.uri
    document = ls.workspace.get_text_document(uri)
    path = ls.path_of(uri)
    if not ls.settings.completion.allows(document.language_id, path):
        return None
    start, end = document.offset_at_position(params.range.start), document.offset_at_position(params.range.end)
    base = {"uri": uri, "version": document.version, "range": range_json(params.range)}
    actions = []
    for diagnostic in params.context.diagnostics:
        data = {**base, "action": "fix", "range": range_json(diagnostic.range),
                "diagnostic": {"message": diagnostic.message, "source": diagnostic.source, "code": None if diagnostic.code is None else str(diagnostic.code)}}
        actions.append(types.CodeAction(title=f"Fireside: fix “{_short(diagnostic.message)}”", kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic], data=data))
    scope = enclosing_function(path, document.source, start, ls.parse_cache)
    if scope is not None:
        named = f" {scope.name}" if scope.name else ""
        actions.append(types.CodeAction(title=f"Fireside: add docstring to{named}", kind=types.CodeActionKind.RefactorRewrite, data={**base, "action": "docstring"}))
        actions.append(types.CodeAction(title=f"Fireside: generate tests for{named}", kind=types.CodeActionKind.Refactor, data={**base, "action": "tests"}))
    if end > start:
        arguments: list[Any] = [uri, range_json(params.range)]
        actions.append(types.CodeAction(title="Fireside: refactor selection…", kind=types.CodeActionKind.Refactor,
                                        command=types.Command(title="Fireside: refactor selection", command=REFACTOR_COMMAND, arguments=arguments)))
    if end > start or scope is not None:
        arguments = [uri, range_json(params.range)]
        actions.append(types.CodeAction(title="Fireside: explain", kind=types.CodeActionKind.Empty,
                                        command=types.Command(title="Fireside: explain", command=EXPLAIN_COMMAND, arguments=arguments)))
    rejected = ls.local_edits.get(uri)
    if rejected is not None and ls.settings.cascade.cloud_model:
        actions.append(types.CodeAction(title=f"Fireside: retry with {ls.settings.cascade.cloud_model}", kind=types.CodeActionKind.QuickFix,
                                        data={**rejected, "version": document.version, "cloud": True}))
    return actions


async def resolve(ls: FiresideServer, action: types.CodeAction) -> types.CodeAction:
    data = action.data if isinstance(action.data, dict) else None
    if data is None or "action" not in data:
        return action  # not one of ours, or nothing to resolve
    uri = str(data["uri"])
    document = ls.workspace.get_text_document(uri)
    if document.version != data.get("version"):
        raise JsonRpcContentModified("the document changed since this action was offered; ask again")
    task = build_task(ls, data)
    outcome = await run_task(ls, task, force_cloud=bool(data.get("cloud")))
    if outcome.best is None:
        ls.show(f"Fireside: no usable edit for “{task.title}”: {_summary(outcome)}", types.MessageType.Warning, once=False)
        return action
    best = outcome.best
    if best.provenance == "local":
        ls.local_edits[uri] = {k: v for k, v in data.items() if k != "cloud"}
    verdict = "checks passed" if best.passed else f"FAILING {best.failure.name if best.failure else 'checks'}"
    action.title = f"{action.title} ({best.provenance}: {best.draft.model}, {verdict})"
    action.edit = file_edit(ls, task, best.draft.code, document.version if task.path == ls.path_of(uri) else None)
    if not best.passed or outcome.notes:
        ls.show(f"Fireside: {task.title}: {_summary(outcome)}", types.MessageType.Info if best.passed else types.MessageType.Warning, once=False)
    return action


def build_task(ls: FiresideServer, data: dict[str, Any]) -> EditTask:
    uri = str(data["uri"])
    document = ls.workspace.get_text_document(uri)
    path, text = ls.path_of(uri), document.source
    start, end = (document.offset_at_position(p) for p in range_from_json(data["range"]))
    kind = data["action"]
    if kind == "fix":
        d = data.get("diagnostic") or {}
        return fix_task(path, text, start, end, str(d.get("message", "")), d.get("source"), d.get("code"), ls.parse_cache)
    scope = enclosing_function(path, text, start, ls.parse_cache)
    if scope is None:
        raise JsonRpcInvalidParams("no function or class encloses this position")
    if kind == "docstring":
        return docstring_task(path, text, scope)
    if kind == "tests":
        root = ls.root()
        task = tests_task(root, path, text, scope, None)
        existing = ls.document_text(task.path)
        return tests_task(root, path, text, scope, existing) if existing else task
    raise JsonRpcInvalidParams(f"unknown action {kind!r}")


async def run_task(ls: FiresideServer, task: EditTask, force_cloud: bool = False) -> Outcome:
    """The cascade, with progress in the editor (cancellable there or by $/cancelRequest)."""
    async with work_progress(ls, f"Fireside: {task.title}") as report:
        return await ls.escalation.run(ls.root(), task, ls.settings.models.chat, ls.cloud_policy(), force_cloud, report)


def file_edit(ls: FiresideServer, task: EditTask, code: str, version: int | None) -> types.WorkspaceEdit:
    """The draft as an edit of the task's file: of the open document at `version`, or of
    a file on disk (created if it does not exist)."""
    uri = ls.uri_of(task.path)
    text = task.text
    edit = types.TextEdit(range=types.Range(position_at(text, task.start), position_at(text, task.end)), new_text=code)
    changes: list[Any] = []
    if version is None and not ls.exists(task.path):
        changes.append(types.CreateFile(uri=uri, options=types.CreateFileOptions(ignore_if_exists=True)))
    changes.append(types.TextDocumentEdit(text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), edits=[edit]))
    return types.WorkspaceEdit(document_changes=changes)


def _summary(outcome: Outcome) -> str:
    parts = [a.describe() for a in outcome.attempts] + list(outcome.notes)
    return "; ".join(parts) or "nothing was tried"


def _short(message: str, limit: int = 60) -> str:
    line = message.strip().splitlines()[0] if message.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def register(ls: FiresideServer) -> None:
    kinds = [types.CodeActionKind.QuickFix, types.CodeActionKind.Refactor, types.CodeActionKind.RefactorRewrite, types.CodeActionKind.Source, types.CodeActionKind.Empty]
    ls.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=kinds, resolve_provider=True))(code_actions)
    ls.feature(types.CODE_ACTION_RESOLVE)(resolve)
