"""`POST /api/infill`: fill-in-the-middle for editors.

The language server sends the text around the cursor plus snippets of other files
(llama.cpp's `/infill` calls them `input_extra`; its field names are accepted too); the
engine lays them out with the model's own FIM and file-separator tokens, keeping the
text nearest the cursor when the context is short. Answers stream as NDJSON when
`stream` is true; the final object carries the stats, `cached_tokens` included.

    {"model": "qwen2.5-coder:0.5b", "prefix": "def add(a, b):\n    ", "suffix": "\n",
     "extra": [{"filename": "util.py", "text": "..."}], "filename": "main.py",
     "options": {"num_predict": 64, "temperature": 0, "stop": ["\n\n"]}}
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fireside.api import options as opt
from fireside.api.answers import AnswerRequest, Delta, Event, Finish
from fireside.api.daemon import DAEMON, record_for
from fireside.api.streams import Frames, collect_answer, ndjson_error, stream_answer
from fireside.engine import FimInput, Stats
from fireside.engine.errors import InvalidRequest


def _extra(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidRequest("extra must be a list of {filename, text} objects", param="extra")
    files = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not isinstance(item.get("filename", ""), str):
            raise InvalidRequest(f"extra[{i}] must be an object with a string text and filename", param="extra")
        files.append((item.get("filename", ""), item["text"]))
    return tuple(files)


def _stats(stats: Stats, reason: str) -> dict[str, Any]:
    return {
        "done_reason": reason,
        "prompt_tokens": stats.prompt_tokens,
        "cached_tokens": stats.cached_tokens,
        "completion_tokens": stats.completion_tokens,
        "truncated_tokens": stats.truncated_tokens,
        "load_duration": stats.load_duration_ns,
        "prompt_eval_duration": stats.prompt_eval_duration_ns,
        "eval_duration": stats.eval_duration_ns,
        "total_duration": stats.total_duration_ns,
    }


def infill_request(body: dict[str, Any]) -> AnswerRequest:
    model = opt.model_name(body)
    prefix = opt.text(body, "prefix") if "prefix" in body else opt.text(body, "input_prefix")
    suffix = opt.text(body, "suffix") if "suffix" in body else opt.text(body, "input_suffix")
    order = body.get("order", "psm")
    if order not in ("psm", "spm"):
        raise InvalidRequest('order must be "psm" or "spm"', param="order")
    fim = FimInput(
        prefix=prefix or "",
        suffix=suffix or "",
        order=order,
        path=opt.text(body, "filename"),
        repo_name=opt.text(body, "repo_name"),
        extra_files=_extra(body.get("extra", body.get("input_extra"))),
    )
    return AnswerRequest(model=model, fim=fim, truncate=opt.flag(body, "truncate", True), **opt.generation(body, ("max_tokens", "n_predict")))


async def infill(request: web.Request) -> web.StreamResponse:
    body = await opt.json_body(request)
    answer = infill_request(body)
    daemon = request.app[DAEMON]
    record = record_for(request, answer.model)
    if not body.get("stream"):
        content, _, finish = await collect_answer(daemon.answer(answer), record)
        return web.json_response({"model": answer.model, "content": content, "done": True, **_stats(finish.stats, finish.reason)})

    def frames(event: Event) -> Frames:
        if isinstance(event, Delta):
            return [({"model": answer.model, "content": event.content, "done": False}, None)] if event.content else []
        assert isinstance(event, Finish)
        return [({"model": answer.model, "content": "", "done": True, **_stats(event.stats, event.reason)}, None)]

    return await stream_answer(request, "ndjson", daemon.answer(answer), record, frames, ndjson_error)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/infill", infill)
