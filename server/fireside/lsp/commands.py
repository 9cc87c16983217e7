"""`workspace/executeCommand` for what a code action cannot do on its own.

- `fireside.refactor [uri, range, instruction]`: the editor asks the user for the
  instruction. Returns `{edit, title, passed, provenance}`; the editor applies `edit`
  when the user accepts it (nothing is applied here).
- `fireside.explain [uri, range]`: an explanation of the selection or enclosing
  function (returns `{content}`; progress shows while it is written).
- `fireside.applyCodeBlock [uri, range | null, code]`: a code block from chat, applied
  through `workspace/applyEdit` (the user clicked Apply) to the range, or the selection's
  lines; refused if the document changed meanwhile.
- `fireside.showCloudPayload [data]`: exactly what a code action (its `data`) would send
  to the cloud model, after redaction, or why it would send nothing.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from fireside.cascade.drafts import messages
from fireside.cascade.redact import Scrubber
from fireside.lsp.chat import attached_context
from fireside.lsp.code_actions import EXPLAIN_COMMAND, REFACTOR_COMMAND, build_task, file_edit, run_task
from fireside.lsp.edit_tasks import enclosing_function, refactor_task
from fireside.lsp.json_params import plain
from fireside.lsp.ranges import position_at, range_from_json, range_json
from fireside.lsp.server import FiresideServer  # at run time: pygls reads command handlers' annotations
from fireside.lsp.work_progress import work_progress

APPLY_COMMAND = "fireside.applyCodeBlock"
PAYLOAD_COMMAND = "fireside.showCloudPayload"


def _args(arguments: Any, count: int, usage: str) -> list[Any]:
    arguments = plain(arguments)
    if not isinstance(arguments, list) or len(arguments) < count:
        raise JsonRpcInvalidParams(f"usage: {usage}")
    return arguments


async def refactor(ls: FiresideServer, *arguments: Any) -> dict[str, Any]:
    uri, range_, instruction = _args(list(arguments), 3, f"{REFACTOR_COMMAND} [uri, range, instruction]")[:3]
    if not isinstance(instruction, str) or not instruction.strip():
        raise JsonRpcInvalidParams("the instruction is empty: say what to change")
    document = ls.workspace.get_text_document(str(uri))
    start, end = (document.offset_at_position(p) for p in range_from_json(range_))
    task = refactor_task(ls.path_of(document.uri), document.source, start, end, instruction)
    outcome = await run_task(ls, task)
    if outcome.best is None:
        raise JsonRpcInvalidParams(f"no usable edit: {'; '.join([a.describe() for a in outcome.attempts] + list(outcome.notes))}")
    best = outcome.best
    return {"edit": file_edit(ls, task, best.draft.code, document.version), "title": task.title,
            "passed": best.passed, "provenance": best.provenance, "model": best.draft.model,
            "checks": [{"name": c.name, "passed": c.passed, "output": c.output} for c in best.checks], "notes": list(outcome.notes)}


async def explain(ls: FiresideServer, *arguments: Any) -> dict[str, Any]:
    uri, range_ = _args(list(arguments), 2, f"{EXPLAIN_COMMAND} [uri, range]")[:2]
    document = ls.workspace.get_text_document(str(uri))
    start, end = (document.offset_at_position(p) for p in range_from_json(range_))
    if end <= start:
        scope = enclosing_function(ls.path_of(document.uri), document.source, start, ls.parse_cache)
        if scope is None:
            raise JsonRpcInvalidParams("select some code, or place the cursor in a function")
        start, end = scope.start, scope.end
    selection = range_json(types.Range(position_at(document.source, start), position_at(document.source, end)))
    model = ls.settings.models.chat
    attached = await attached_context(ls, {"uri": document.uri, "range": selection}, cloud=False)
    body = {"model": model, "messages": [{"role": "user", "content": f"{attached}\n\nExplain what this code does and why, briefly."}]}
    pieces: list[str] = []
    async with work_progress(ls, "Fireside: explaining") as report:
        async for item in ls.daemon.chat(body):
            pieces.append(str((item.get("message") or {}).get("content") or ""))
            report("".join(pieces)[-80:])
    return {"content": "".join(pieces), "model": model}


async def apply_code_block(ls: FiresideServer, *arguments: Any) -> dict[str, Any]:
    uri, range_, code = _args(list(arguments), 3, f"{APPLY_COMMAND} [uri, range | null, code]")[:3]
    if not isinstance(code, str):
        raise JsonRpcInvalidParams("code must be text")
    document = ls.workspace.get_text_document(str(uri))
    if range_ is None:
        end = len(document.source)
        start = end
    else:
        start, end = (document.offset_at_position(p) for p in range_from_json(range_))
    edit = types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=document.uri, version=document.version),
        edits=[types.TextEdit(range=types.Range(position_at(document.source, start), position_at(document.source, end)), new_text=code)])])
    result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label="Fireside: apply code block"))
    return {"applied": result.applied, "reason": result.failure_reason}


def cloud_payload(ls: FiresideServer, *arguments: Any) -> dict[str, Any]:
    (data,) = _args(list(arguments), 1, f"{PAYLOAD_COMMAND} [code action data]")[:1]
    if not isinstance(data, dict) or "uri" not in data or "action" not in data:
        raise JsonRpcInvalidParams("pass the data of a Fireside code action")
    task = build_task(ls, data)
    policy = ls.cloud_policy()
    refusal = policy.refusal(task.path)
    if refusal is not None:
        return {"sent": False, "reason": refusal, "model": policy.model}
    scrub = Scrubber()
    return {"sent": True, "model": policy.model, "messages": messages(task, None, scrub), "redacted": sorted(scrub.found),
            "note": "on escalation the failing draft and its check output are added, redacted the same way"}


def register(ls: FiresideServer) -> None:
    ls.command(REFACTOR_COMMAND)(refactor)
    ls.command(EXPLAIN_COMMAND)(explain)
    ls.command(APPLY_COMMAND)(apply_code_block)
    ls.command(PAYLOAD_COMMAND)(cloud_payload)
