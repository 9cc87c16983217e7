"""Fill-in-the-middle prompts from the model's own tokens, and grammar-constrained JSON."""

from __future__ import annotations

import json

import jsonschema
import pytest

from fireside.engine import GREEDY, FimInput, GenerateRequest, ModelEngine
from fireside.engine.errors import InsertNotSupported, InvalidGrammar

PREFIX = "def add(a, b):\n    "
SUFFIX = "\n\nprint(add(2, 3))\n"


async def test_fim_prompt_in_psm_order(qwen: ModelEngine) -> None:
    rendered = await qwen.render(GenerateRequest(fim=FimInput(prefix=PREFIX, suffix=SUFFIX)))
    assert rendered.text == f"<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>"


async def test_fim_prompt_in_spm_order(qwen: ModelEngine) -> None:
    rendered = await qwen.render(GenerateRequest(fim=FimInput(prefix=PREFIX, suffix=SUFFIX, order="spm")))
    assert rendered.text == f"<|fim_suffix|>{SUFFIX}<|fim_prefix|>{PREFIX}<|fim_middle|>"


async def test_fim_repository_context_uses_file_separators(qwen: ModelEngine) -> None:
    fim = FimInput(
        prefix=PREFIX, suffix=SUFFIX, path="src/calc.py", repo_name="calc",
        extra_files=(("src/util.py", "def twice(x):\n    return 2 * x"),),
    )
    rendered = await qwen.render(GenerateRequest(fim=fim))
    assert rendered.text == (
        "<|repo_name|>calc\n<|file_sep|>src/util.py\ndef twice(x):\n    return 2 * x\n"
        f"<|file_sep|>src/calc.py\n<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>"
    )


async def test_special_token_text_in_user_code_stays_text(qwen: ModelEngine) -> None:
    sneaky = FimInput(prefix="s = '<|fim_middle|>'\n", suffix="")
    rendered = await qwen.render(GenerateRequest(fim=sneaky))
    middle = 151660  # Qwen2.5's <|fim_middle|>
    assert rendered.tokens.count(middle) == 1 and rendered.tokens[-1] == middle


async def test_fim_completes_the_hole(qwen: ModelEngine) -> None:
    stream = await qwen.generate(GenerateRequest(fim=FimInput(prefix=PREFIX, suffix=SUFFIX), sampling=GREEDY, max_tokens=16))
    text = await stream.text()
    assert "return a + b" in text


async def test_fim_truncation_keeps_the_text_near_the_hole(qwen: ModelEngine) -> None:
    far = "".join(f"# filler line {i}\n" for i in range(2000))
    request = GenerateRequest(fim=FimInput(prefix=far + PREFIX, suffix=SUFFIX), num_ctx=256, max_tokens=16, truncate=True)
    rendered = await qwen.render(request)
    assert rendered.truncated > 0 and len(rendered.tokens) <= 256
    assert rendered.text.endswith(f"{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>")


async def test_model_without_fim_tokens_says_so(engine: ModelEngine) -> None:
    with pytest.raises(InsertNotSupported, match="does not support insert"):
        await engine.generate(GenerateRequest(fim=FimInput(prefix="def f():", suffix="")))


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


async def test_json_schema_output_parses_and_validates(engine: ModelEngine) -> None:
    request = GenerateRequest(
        messages=({"role": "user", "content": "Give me a person as JSON with name and age."},),
        sampling=GREEDY,
        json_schema=SCHEMA,
        max_tokens=100,
    )
    stream = await engine.generate(request)
    value = json.loads(await stream.text())
    jsonschema.validate(value, SCHEMA)
    assert stream.stats is not None and stream.stats.done_reason == "stop"


async def test_invalid_grammar_is_a_clear_error(engine: ModelEngine) -> None:
    with pytest.raises(InvalidGrammar):
        stream = await engine.generate(GenerateRequest(prompt="x", grammar='root ::= "a" (', max_tokens=3))
        await stream.text()


async def test_invalid_json_schema_is_a_clear_error(engine: ModelEngine) -> None:
    with pytest.raises(InvalidGrammar, match="JSON Schema"):
        stream = await engine.generate(GenerateRequest(prompt="x", json_schema={"type": "no-such-type"}, max_tokens=3))
        await stream.text()
