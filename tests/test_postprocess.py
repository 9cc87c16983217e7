"""Golden tests of inline-completion post-processing (`fireside.lsp.postprocess`).

Each golden case is a raw model output at a cursor and the text a user should see. Some
raw outputs are real ones from Qwen2.5-Coder-0.5B; the rest are the shapes small code
models produce in Python, JavaScript/TypeScript, Go, Java, Rust and Lua.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from fireside.lsp.postprocess import (
    FILTERS,
    SPECIAL_TOKEN_PATTERN,
    Surroundings,
    clean_completion,
    close_brackets,
    cut_at_scope_end,
    drop_degenerate,
    drop_suffix_overlap,
    keep_single_line,
    strip_special_tokens,
    trim_whitespace,
)


class Golden(NamedTuple):
    name: str
    raw: str
    prefix: str
    suffix: str
    multiline: bool
    language: str | None
    expected: str


ADD_PREFIX = "def add(a, b):\n    "

GOLDEN = [
    # 1. Leaked special tokens.
    Golden("qwen_file_sep", "return a + b\n<|file_sep|>utils.py\nimport os\n", ADD_PREFIX, "\n", True, "python", "return a + b"),
    Golden("qwen_endoftext", "return a + b<|endoftext|>print('next file')", ADD_PREFIX, "\n", False, "python", "return a + b"),
    Golden("chatml_im_end", "x = 1<|im_end|>\n<|im_start|>assistant\n", "def f():\n    ", "\n", True, "python", "x = 1"),
    Golden("llama3_eot_id", "total += x<|eot_id|>", "for x in xs:\n    ", "\n", False, "python", "total += x"),
    Golden("starcoder_fim_tokens", "count += 1<fim_suffix>\n    return count<fim_middle>", "def f(xs):\n    count = 0\n    for x in xs:\n        ", "\n", True, "python", "count += 1"),
    Golden("codellama_eot", "return x * 2 <EOT>", "def double(x):\n    ", "\n", False, "python", "return x * 2"),
    Golden("deepseek_end_of_sentence", "return 0;<｜end▁of▁sentence｜>", "int main() {\n    ", "\n}\n", False, "c", "return 0;"),
    Golden("echoed_fim_middle_at_start", "<|fim_middle|>return a + b", ADD_PREFIX, "\n", False, "python", "return a + b"),
    Golden("fim_pad_removed", "return<|fim_pad|> a + b", ADD_PREFIX, "\n", False, "python", "return a + b"),
    Golden("only_an_end_token", "<|endoftext|>", ADD_PREFIX, "\n", False, "python", ""),
    Golden("html_strikethrough_is_not_eos", "<s>old</s> new</p>", "return <p>", ";\n", False, "tsx", "<s>old</s> new</p>"),
    # 2. Single line.
    Golden("mid_line_first_line_only", "sum(xs)\n    return total", "def f(xs):\n    total = ", "\n", False, "python", "sum(xs)"),
    Golden("line_end_newline_then_next_line", "\n    return y\n\nprint(f(2))", "def f(x):\n    y = x * 2", "\n", False, "python", "\n    return y"),
    Golden("mid_line_newline_first_is_nothing", "\n    a, b", "x = foo(", ")\n", False, "python", ""),
    Golden("hole_line_benchmark_style", "    y += x\n    return y", "def f(x):\n    y = 1\n", "\n    return y\n", False, "python", "    y += x"),
    Golden("benchmark_generation_opens_with_newline", "\n    return x", "def f(x):\n    x += 1\n", "\n\nprint(f(1))\n", False, "python", "\n    return x"),
    # 3. Scope end: indentation (Python, Lua, unknown languages).
    Golden("qwen_add_block_cut_at_scope_end", "return a + b\n\nprint(add(5, 3))", ADD_PREFIX, "\n", True, "python", "return a + b"),
    Golden("qwen_add_single_line", "return a + b\n\nprint(add(5, 3))", ADD_PREFIX, "\n", False, "python", "return a + b"),
    Golden("just_opened_block_body_only", "\n    return x * 2\ndef g():\n    pass", "def f(x):", "\n", True, "python", "\n    return x * 2"),
    Golden(
        "sibling_statements_stay",
        "    for x in items:\n        total += x\n    return total\n\n\nclass Foo:\n    pass",
        "def f(items):\n    total = 0\n",
        "\n",
        True,
        "python",
        "    for x in items:\n        total += x\n    return total",
    ),
    Golden("lines_inside_own_brackets_not_judged", "result = call(\n1,\n2)\n    return result\nprint(1)", "def f(a):\n    ", "\n", True, "python", "result = call(\n1,\n2)\n    return result"),
    Golden(
        "docstring_lines_not_judged",
        'doc = """\nText at column zero\n"""\n    return doc\nx = 1',
        "def f():\n    ",
        "\n",
        True,
        "python",
        'doc = """\nText at column zero\n"""\n    return doc',
    ),
    Golden("blank_cursor_line_sets_level", "def g():\n    return 2\n\n\nclass C:\n    pass", "def f():\n    return 1\n\n", "\n", True, "python", "def g():\n    return 2"),
    Golden(
        "blank_cursor_line_in_class_sets_method_level",
        "def g(self):\n        return 2\n    def h(self):\n        pass\nprint(A())",
        "class A:\n    def f(self):\n        return 1\n\n    ",
        "\n",
        True,
        "python",
        "def g(self):\n        return 2\n    def h(self):\n        pass",
    ),
    Golden("dedented_closer_kept_when_suffix_lacks_it", "2,\n]\nprint(items)", "items = [\n    1,\n    ", "", True, "python", "2,\n]"),
    Golden("dedented_closer_dropped_when_suffix_has_it", "2,\n]\nprint(items)", "items = [\n    1,\n    ", "\n]\n", True, "python", "2,"),
    Golden("lua_end_kept_when_missing", "return 1\nend\n\nprint(f())", "function f()\n  ", "", True, "lua", "return 1\nend"),
    Golden("lua_end_dropped_when_present", "return 1\nend", "function f()\n  ", "\n\nend\n", True, "lua", "return 1"),
    Golden("unknown_language_uses_indentation", "b = 2\n  c = 3\ndone()", "block:\n  a = 1\n  ", "\n", True, None, "b = 2\n  c = 3"),
    # 3. Scope end: brackets (brace languages).
    Golden("js_closing_brace_already_in_suffix", "return 1;\n}", "function f() {\n  ", "\n}\n", True, "javascript", "return 1;"),
    Golden("js_closing_brace_missing_then_stop", "return 1;\n}\n\nconsole.log(f());", "function f() {\n  ", "", True, "javascript", "return 1;\n}"),
    Golden("js_else_branch_until_its_block_closes", "a();\n} else {\n  b();\n}\nmore();", "if (x) {\n  ", "", True, "javascript", "a();\n} else {\n  b();\n}"),
    Golden("js_brace_in_string_and_comment", 'console.log("}"); // }\n}', "function f() {\n  ", "\n}\n", True, "javascript", 'console.log("}"); // }'),
    Golden(
        "go_block_with_tabs",
        "if err != nil {\n\t\treturn err\n\t}\n\treturn nil\n}\n\nfunc g() {}",
        "func f() error {\n\terr := g()\n\t",
        "\n}\n",
        True,
        "go",
        "if err != nil {\n\t\treturn err\n\t}\n\treturn nil",
    ),
    Golden(
        "rust_loop_lifetimes_and_format_braces",
        "for x in v.iter() {\n        println!(\"{}\", first::<'a>(x));\n    }\n}\n\nfn other() {}",
        "fn main() {\n    let v = vec![1, 2, 3];\n    ",
        "\n}\n",
        True,
        "rust",
        "for x in v.iter() {\n        println!(\"{}\", first::<'a>(x));\n    }",
    ),
    Golden(
        "java_method_body",
        "return a + b;\n    }\n\n    public int sub(int a, int b) {\n        return a - b;\n    }",
        "class Calc {\n    public int add(int a, int b) {\n        ",
        "\n    }\n}\n",
        True,
        "java",
        "return a + b;",
    ),
    Golden("ts_next_line_brace_already_there", "\n}", "function f(): number {\n  return 1;", "\n}\n", False, "typescript", ""),
    Golden("ts_two_blank_lines_stop", "const a = 1;\n\n\nconst b = 2;", "function f() {\n  ", "\n}\n", True, "typescript", "const a = 1;"),
    Golden("cpp_call_closer_in_suffix", "x, y", "int main() {\n  return add(", ");\n}\n", False, "cpp", "x, y"),
    # 4. Suffix overlap.
    Golden("call_parens_overlap", "a, b)", "x = foo(", ")\n", False, "python", "a, b"),
    Golden("own_parens_are_kept", "foo(a, b)", "print(", ")\n", False, "python", "foo(a, b)"),
    Golden("closing_quote_overlap", 'lo"', 'x = "hel', '"\n', False, "python", "lo"),
    Golden("js_template_in_string_overlap", '${v}");', 'log("value: ', '");\n', False, "javascript", "${v}"),
    Golden("own_string_quote_is_kept", "'it'", "x = ", "'s'\n", False, "python", "'it'"),
    Golden("semicolon_overlap", "compute();", "let x = ", ";\n", False, "javascript", "compute()"),
    Golden("completion_is_rest_of_line", "a, b)", "x = foo(", "a, b)\n", False, "python", ""),
    Golden("identifier_not_split", "Items", "let total", "s = 0;\n", False, "javascript", "Items"),
    Golden("retyped_next_line_cut", "y = x + 1\n    return y\n", "def f(x):\n    ", "\n    return y\n", True, "python", "y = x + 1"),
    Golden("blank_first_line_is_not_retyping", "\n    x *= 2", "def f(x):\n    x += 1", "\n    x += 1\n    return x\n", False, "python", "\n    x *= 2"),
    Golden("retyped_cursor_line_is_nothing", "return y", "def f(x):\n    y = x + 1\n    ", "\n    return y\n", False, "python", ""),
    Golden("trivial_line_is_not_retyping", "pass", "def f():\n    if a:\n        ", "\n    pass\n", False, "python", "pass"),
    Golden("retyped_before_rest_keeps_indent", "bar()\n    foo()", "def f():\n    ", "foo()\n", True, "python", "bar()\n    "),
    # 5. Bracket balancing.
    Golden("close_own_call", "foo(a, b", "x = ", "\n", False, "python", "foo(a, b)"),
    Golden("close_nested_in_order", "print(len(xs[0]", "", "\n", False, "python", "print(len(xs[0]))"),
    Golden("no_close_after_comma", "foo(a,", "x = ", "\n", False, "python", "foo(a,"),
    Golden("no_close_after_block_opener", "if (ready) {", "", "\n", False, "javascript", "if (ready) {"),
    Golden("no_close_for_prefix_bracket", "a, b", "x = foo(", "\n", False, "python", "a, b"),
    Golden("no_close_when_text_follows", "foo(a", "x = ", " + 1\n", False, "python", "foo(a"),
    Golden("no_close_inside_string", 'print("(a', "", "\n", False, "python", 'print("(a'),
    Golden("no_close_for_blocks", "foo(a", "def f():\n    ", "\n", True, "python", "foo(a"),
    Golden("close_on_next_line_completion", "\nprint(x", "x = 1", "\n", False, "python", "\nprint(x)"),
    # 6. Degenerate output.
    Golden("whitespace_only", "   \n\t  \n", ADD_PREFIX, "\n", True, "python", ""),
    Golden("closer_run", "))))))))))", "x = ", "\n", False, "python", ""),
    Golden("word_loop", "a a a a a a", "x = ", "\n", False, "python", ""),
    Golden("line_loop_kept_once", "x += 1\nx += 1\nx += 1\nx += 1", "def f(x):\n    ", "\n", True, "python", "x += 1"),
    Golden("two_equal_lines_are_fine", "i++;\ni++;", "void f() {\n  ", "\n}\n", True, "c", "i++;\ni++;"),
    Golden("loop_after_good_line", "x = 1\n))))))))))", "def f():\n    ", "\n", True, "python", "x = 1"),
    Golden("docs_rule_is_not_a_loop", "==========\n    Call f.", 'def f():\n    """Usage\n    ', '\n    """\n', True, "python", "==========\n    Call f."),
    # 7. Whitespace.
    Golden("trailing_spaces_at_line_end", "return x   ", "def f(x):\n    ", "\n", False, "python", "return x"),
    Golden("trailing_space_before_suffix_kept", "a + ", "x = ", "y\n", False, "python", "a + "),
    Golden("leading_indent_kept_trailing_blanks_dropped", "    return 1\n\n", "def f():\n", "\n", True, "python", "    return 1"),
    # Unicode passes through.
    Golden("unicode_python", "print('你好，世界 🎉')", "def greet():\n    ", "\n", True, "python", "print('你好，世界 🎉')"),
    Golden("unicode_js", 'return "🚀 发射";', "function launch() {\n  ", "\n}\n", False, "javascript", 'return "🚀 发射";'),
    Golden("unicode_identifier_go", "名前 := \"太郎\"", "func f() {\n\t", "\n}\n", False, "go", "名前 := \"太郎\""),
]


def around(case: Golden) -> Surroundings:
    return Surroundings(case.prefix, case.suffix, case.multiline, case.language)


@pytest.mark.parametrize("case", GOLDEN, ids=[c.name for c in GOLDEN])
def test_golden(case: Golden) -> None:
    assert clean_completion(case.raw, around(case)) == case.expected


def test_golden_names_are_unique() -> None:
    assert len({c.name for c in GOLDEN}) == len(GOLDEN)


@pytest.mark.parametrize("case", GOLDEN, ids=[c.name for c in GOLDEN])
def test_cleaning_is_idempotent(case: Golden) -> None:
    """What is shown, cleaned again, stays: a prefetch or a cache hit never changes it."""
    once = clean_completion(case.raw, around(case))
    assert clean_completion(once, around(case)) == once


# --- The contract with the streaming caller --------------------------------------------

STREAMED_BLOCKS = [
    ("def total(xs):\n    ", "\n", "python", "t = 0\n    for x in xs:\n        if x > 0:\n            t += x\n\n    return t\n"),
    ("function f(xs) {\n  ", "\n}\n", "javascript", "let t = 0;\n  for (const x of xs) {\n    t += x;\n  }\n  return t;\n"),
    ("func f(xs []int) int {\n\t", "\n}\n", "go", "t := 0\n\tfor _, x := range xs {\n\t\tt += x\n\t}\n\treturn t\n"),
]


@pytest.mark.parametrize("prefix, suffix, language, block", STREAMED_BLOCKS, ids=[b[2] for b in STREAMED_BLOCKS])
def test_good_block_is_not_cut_while_streaming(prefix: str, suffix: str, language: str, block: str) -> None:
    """The completer stops the model once cleaning would shorten the written lines; a
    good block must survive every line-prefix of itself."""
    at = Surroundings(prefix, suffix, True, language)
    for end in [i for i, ch in enumerate(block) if ch == "\n"]:
        written = block[:end]
        assert clean_completion(written, at).rstrip() == written.rstrip(), written


def test_block_is_cut_as_soon_as_scope_ends_while_streaming() -> None:
    at = Surroundings(ADD_PREFIX, "\n", True, "python")
    written = "return a + b\n\nprint(add(5, 3))"
    assert len(clean_completion(written, at).rstrip()) < len(written.rstrip())


# --- Per-filter unit tests ----------------------------------------------------------------

END_TOKENS = [
    "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>", "<|repo_name|>", "<|endoftext|>", "<|im_end|>",
    "<|end|>", "<|eot_id|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<PRE>", "<SUF>", "<MID>", "<EOT>", "</s>", "<eos>",
]  # fmt: skip


@pytest.mark.parametrize("token", END_TOKENS)
def test_every_end_token_cuts(token: str) -> None:
    at = Surroundings("x = ", "\n", False, "python")
    assert SPECIAL_TOKEN_PATTERN.search(token) is not None
    assert strip_special_tokens(f"value{token}junk after", at) == "value"


@pytest.mark.parametrize("text", ["a <| b |> c", "x < y and y > z", "List<String> xs", "if (a |> b) {}", "<div>x</div>"])
def test_code_that_looks_like_tokens_is_kept(text: str) -> None:
    assert strip_special_tokens(text, Surroundings("", "\n", False, None)) == text


def test_single_line_leaves_blocks_alone() -> None:
    text = "a = 1\nb = 2"
    assert keep_single_line(text, Surroundings("", "\n", True, "python")) == text
    assert keep_single_line(text, Surroundings("", "\n", False, "python")) == "a = 1"


def test_single_line_newline_start_only_at_line_end() -> None:
    text = "\n    x = 1\n    y = 2"
    assert keep_single_line(text, Surroundings("if a:", "\n", False, "python")) == "\n    x = 1"
    assert keep_single_line(text, Surroundings("if a", ":\n", False, "python")) == ""
    assert keep_single_line(text, Surroundings("if a:", "   \n", False, "python")) == "\n    x = 1"


def test_scope_cut_returns_text_unchanged_inside_block() -> None:
    at = Surroundings("def f():\n    ", "\n", True, "python")
    text = "x = 1\n    if x:\n        y = 2\n    return y"
    assert cut_at_scope_end(text, at) == text


def test_scope_cut_at_dedent_keeps_newline_for_trimming() -> None:
    at = Surroundings("def f():\n    ", "\n", True, "python")
    assert cut_at_scope_end("x = 1\nprint(x)", at) == "x = 1\n"


def test_scope_block_opener_in_comment_does_not_deepen() -> None:
    """`x = 1  # note:` does not open a block: the next line at the same level stays."""
    at = Surroundings("def f():\n    x = 1  # note:\n    ", "\n", True, "python")
    assert cut_at_scope_end("y = 2\n    return y", at) == "y = 2\n    return y"


def test_scope_cursor_inside_string_reads_brackets_after_it() -> None:
    """The cursor in a string: the completion's `)` inside it is text; the one after the
    closing quote closes the call that the suffix closes too."""
    at = Surroundings('log("a(', '");\n', False, "javascript")
    assert cut_at_scope_end('b)");', at) == 'b)"'


def test_scope_cursor_inside_docstring_from_far_above() -> None:
    prefix = 'def f():\n    """Summary.\n\n' + "    text ( with [ brackets\n" * 50 + "    "
    at = Surroundings(prefix, '\n    """\n', True, "python")
    assert cut_at_scope_end("More text ) here.\nfinal line", at) == "More text ) here.\nfinal line"


def test_scope_closer_matched_against_suffix_in_order() -> None:
    """`foo(bar(|))`: the first `)` closes bar, the second foo; both are in the suffix."""
    at = Surroundings("foo(bar(", "))\n", False, "python")
    assert cut_at_scope_end("1), 2)", at) == "1"


def test_scope_cut_takes_the_closers_indentation_along() -> None:
    at = Surroundings("function f() {\n  if (a) {\n    ", "\n  }\n}\n", True, "javascript")
    assert cut_at_scope_end("b();\n  }", at) == "b();\n"
    assert cut_at_scope_end("b(); }", at) == "b(); "


def test_scope_mismatched_closer_is_kept() -> None:
    at = Surroundings("xs = [f(", "]\n", False, "python")
    assert cut_at_scope_end("1)", at) == "1)"


def test_overlap_needs_the_suffix_start() -> None:
    at = Surroundings("x = foo(", "  )\n", False, "python")
    assert drop_suffix_overlap("a)", at) == "a)"  # the suffix starts with spaces, not `)`


def test_overlap_multi_line() -> None:
    at = Surroundings("def f():\n    ", "b = 2\n    return b\n", True, "python")
    assert drop_suffix_overlap("a = 1\n    b = 2\n    return b", at) == "a = 1\n    "


def test_close_brackets_only_single_line_at_line_end() -> None:
    assert close_brackets("f(a", Surroundings("", "\n", False, "python")) == "f(a)"
    assert close_brackets("f(a", Surroundings("", "\n", True, "python")) == "f(a"
    assert close_brackets("f(a", Surroundings("", ")\n", False, "python")) == "f(a"
    assert close_brackets("f(a  # (", Surroundings("", "\n", False, "python")) == "f(a  # ("


def test_close_brackets_trims_before_closing() -> None:
    assert close_brackets("f([1, 2 ", Surroundings("x = ", "", False, "python")) == "f([1, 2])"


@pytest.mark.parametrize("text", ["))))))))", "a a a a a a", "0, 0, 0, 0, 0, 0", "foo foo foo foo foo "])
def test_degenerate_patterns(text: str) -> None:
    assert drop_degenerate(text, Surroundings("x = ", "\n", False, None)) == ""


@pytest.mark.parametrize("text", [")))))", "f(g(h(x)))", "# ----------------", "'=' * 40", "aaaa"])
def test_not_degenerate(text: str) -> None:
    assert drop_degenerate(text, Surroundings("x = ", "\n", False, None)) == text


def test_line_loop_ignores_blank_lines_between() -> None:
    at = Surroundings("", "\n", True, None)
    assert drop_degenerate("go()\n\ngo()\n\ngo()\n", at) == "go()\n\n"


def test_trim_keeps_indentation_and_inner_lines() -> None:
    at = Surroundings("", "\n", True, "python")
    assert trim_whitespace("    a = 1   \n    b = 2  \n\n  ", at) == "    a = 1   \n    b = 2"


def test_trim_before_text_keeps_one_line_break() -> None:
    at = Surroundings("def f():\n    ", "foo()\n", True, "python")
    assert trim_whitespace("bar()\n\n\n    ", at) == "bar()\n    "


def test_filter_order() -> None:
    """Tokens first (later rules read code), whitespace last (every cut leaves some)."""
    assert FILTERS[0] is strip_special_tokens
    assert FILTERS[-1] is trim_whitespace
    assert FILTERS.index(cut_at_scope_end) < FILTERS.index(drop_suffix_overlap) < FILTERS.index(close_brackets)


def test_closers_not_added_back_after_overlap_removal() -> None:
    """`foo(|)`: the model's `)` is the suffix's; balancing must not add it again."""
    at = Surroundings("x = foo(", ")\n", False, "python")
    assert clean_completion("bar(1), 2)", at) == "bar(1), 2"


def test_scope_closer_at_another_indentation_closes_another_block() -> None:
    """The hole is the method's `}`: the suffix's `}` at column 0 closes the class."""
    at = Surroundings("class A {\n  int f() {\n    return 1;\n", "\n}\n", True, "java")
    assert cut_at_scope_end("  }", at) == "  }"
    assert cut_at_scope_end("  }\n}", at) == "  }"


def test_scope_closer_at_the_same_indentation_is_the_suffixs() -> None:
    at = Surroundings("class A {\n  int f() {\n    return 1;\n", "\n  }\n}\n", True, "java")
    assert cut_at_scope_end("  }", at) == ""
