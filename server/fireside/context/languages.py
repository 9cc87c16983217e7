"""The languages completion understands, and the tree-sitter node types it needs of each.

Grammars come from `tree-sitter-language-pack` 0.13.0, which ships them compiled (later
versions download them at run time, which fails offline). A language not listed here
still gets completions: its context is chosen by lines instead of by syntax.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from tree_sitter import Parser
from tree_sitter_language_pack import get_parser


@dataclass(frozen=True)
class Language:
    """A tree-sitter grammar plus what the context builder needs to know about it."""

    name: str  # the grammar's name in the language pack
    comment: str  # how a line comment starts
    extensions: tuple[str, ...]
    scopes: frozenset[str]  # what can enclose the cursor: functions, classes, methods
    definitions: frozenset[str]  # what another file may want to know exists
    imports: frozenset[str]  # top-level import/include/use statements
    blocks: frozenset[str]  # bodies: a definition's signature is what comes before its body
    openers: frozenset[str]  # tokens (or nodes) that end a line opening a block
    require: str = ""  # the function that imports by a call (`require("x")`), if any
    family: str = ""  # languages that use each other's definitions (C and C++); the name if empty

    def uses(self, other: Language) -> bool:
        """Whether code in this language can call what `other` defines."""
        return (self.family or self.name) == (other.family or other.name)

    def parser(self) -> Parser:
        """A new parser: cheap (the grammar is loaded once by the pack), and a parser
        must not be shared between the index's thread and the completion's."""
        return get_parser(self.name)  # type: ignore[arg-type]


_JS_SCOPES = frozenset({"function_declaration", "generator_function_declaration", "method_definition", "class_declaration", "arrow_function", "function_expression", "function"})
_JS_DEFINITIONS = frozenset({"function_declaration", "generator_function_declaration", "class_declaration", "lexical_declaration", "variable_declaration", "method_definition"})
_TS_SCOPES = _JS_SCOPES | {"abstract_class_declaration", "interface_declaration"}
_TS_DEFINITIONS = _JS_DEFINITIONS | {"abstract_class_declaration", "interface_declaration", "type_alias_declaration", "enum_declaration"}
_JS_BLOCKS = frozenset({"statement_block", "class_body"})
_TS_BLOCKS = _JS_BLOCKS | {"interface_body"}
_BRACE = frozenset({"{"})
_C_DEFINITIONS = frozenset({"function_definition", "struct_specifier", "union_specifier", "enum_specifier", "type_definition"})
_C_BLOCKS = frozenset({"compound_statement", "field_declaration_list"})

LANGUAGES: tuple[Language, ...] = (
    Language(
        "python", "#", (".py", ".pyi"),
        scopes=frozenset({"function_definition", "class_definition"}),
        definitions=frozenset({"function_definition", "class_definition"}),
        imports=frozenset({"import_statement", "import_from_statement", "future_import_statement"}),
        blocks=frozenset({"block"}),
        openers=frozenset({":"}),
    ),
    Language("javascript", "//", (".js", ".jsx", ".mjs", ".cjs"), _JS_SCOPES, _JS_DEFINITIONS, frozenset({"import_statement"}), _JS_BLOCKS, _BRACE, "require", "javascript"),
    Language("typescript", "//", (".ts", ".mts", ".cts"), _TS_SCOPES, _TS_DEFINITIONS, frozenset({"import_statement"}), _TS_BLOCKS, _BRACE, "require", "javascript"),
    Language("tsx", "//", (".tsx",), _TS_SCOPES, _TS_DEFINITIONS, frozenset({"import_statement"}), _TS_BLOCKS, _BRACE, "require", "javascript"),
    Language(
        "go", "//", (".go",),
        scopes=frozenset({"function_declaration", "method_declaration", "func_literal"}),
        definitions=frozenset({"function_declaration", "method_declaration", "type_declaration", "const_declaration", "var_declaration"}),
        imports=frozenset({"package_clause", "import_declaration"}),
        blocks=frozenset({"block", "field_declaration_list", "interface_type"}),
        openers=_BRACE,
    ),
    Language(
        "rust", "//", (".rs",),
        scopes=frozenset({"function_item", "impl_item", "trait_item", "mod_item", "closure_expression"}),
        definitions=frozenset({"function_item", "function_signature_item", "struct_item", "enum_item", "union_item", "trait_item", "impl_item", "type_item", "const_item", "static_item", "mod_item", "macro_definition"}),
        imports=frozenset({"use_declaration", "extern_crate_declaration"}),
        blocks=frozenset({"block", "declaration_list", "field_declaration_list"}),
        openers=_BRACE,
    ),
    Language(
        "java", "//", (".java",),
        scopes=frozenset({"method_declaration", "constructor_declaration", "class_declaration", "interface_declaration", "enum_declaration", "record_declaration", "lambda_expression"}),
        definitions=frozenset({"class_declaration", "interface_declaration", "enum_declaration", "record_declaration", "method_declaration", "constructor_declaration"}),
        imports=frozenset({"package_declaration", "import_declaration"}),
        blocks=frozenset({"block", "constructor_body", "class_body", "interface_body"}),
        openers=_BRACE,
    ),
    Language(
        "c", "//", (".c", ".h"),
        scopes=frozenset({"function_definition", "struct_specifier"}),
        definitions=_C_DEFINITIONS,
        imports=frozenset({"preproc_include"}),
        blocks=_C_BLOCKS,
        openers=_BRACE,
        family="c",
    ),
    Language(
        "cpp", "//", (".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++"),
        scopes=frozenset({"function_definition", "class_specifier", "struct_specifier", "namespace_definition", "lambda_expression"}),
        definitions=_C_DEFINITIONS | {"class_specifier", "namespace_definition"},
        imports=frozenset({"preproc_include", "using_declaration"}),
        blocks=_C_BLOCKS | {"declaration_list"},
        openers=_BRACE,
        family="c",
    ),
    Language(
        "lua", "--", (".lua",),
        scopes=frozenset({"function_declaration", "function_definition"}),
        definitions=frozenset({"function_declaration"}),
        imports=frozenset(),
        blocks=frozenset({"block"}),
        openers=frozenset({"then", "do", "else", "repeat", "parameters"}),
        require="require",
    ),
)

_BY_NAME = {language.name: language for language in LANGUAGES}
# LSP languageIds that are not a grammar's name.
_LANGUAGE_IDS = {"javascriptreact": "javascript", "typescriptreact": "tsx", "c++": "cpp", "cuda-cpp": "cpp", "golang": "go"}


def language_for(path: str, language_id: str | None = None) -> Language | None:
    """The editor's languageId first, then the file's extension; None if unsupported."""
    if language_id:
        language = _BY_NAME.get(_LANGUAGE_IDS.get(language_id, language_id))
        if language is not None:
            return language
    suffix = PurePath(path).suffix.lower()
    return next((language for language in LANGUAGES if suffix in language.extensions), None)
