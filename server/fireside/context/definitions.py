"""Definitions, signatures, imports and the identifiers near the cursor, by tree-sitter.

A signature is a definition's header without its body: enough for a model to call a
function or use a class correctly, at a fraction of the tokens of its source. A class's
signature is its outline: its header and its members' signatures (and one-line fields).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from fireside.context.languages import Language
from fireside.context.parsed import Parsed


@dataclass(frozen=True)
class Definition:
    name: str
    kind: str  # function, method, class, struct, interface, type, enum, trait, impl, ...
    path: str
    start_line: int  # 0-based, inclusive
    end_line: int
    signature: str
    text: str
    scope: str = ""  # the class (struct, impl, namespace) it is a member of, if any


# Node types of every grammar, by what they define: the grammars mostly agree on names.
_KINDS = {
    "function_definition": "function", "function_declaration": "function", "generator_function_declaration": "function",
    "function_item": "function", "function_signature_item": "function", "method_definition": "method",
    "method_declaration": "method", "constructor_declaration": "constructor", "class_definition": "class",
    "class_declaration": "class", "abstract_class_declaration": "class", "class_specifier": "class",
    "interface_declaration": "interface", "trait_item": "trait", "impl_item": "impl", "struct_item": "struct",
    "struct_specifier": "struct", "union_item": "union", "union_specifier": "union", "enum_declaration": "enum",
    "enum_item": "enum", "enum_specifier": "enum", "record_declaration": "record", "type_alias_declaration": "type",
    "type_declaration": "type", "type_item": "type", "type_definition": "type", "lexical_declaration": "variable",
    "variable_declaration": "variable", "var_declaration": "variable", "const_declaration": "constant",
    "const_item": "constant", "static_item": "constant", "mod_item": "module", "namespace_definition": "namespace",
    "macro_definition": "macro",
}
# Kinds whose bodies hold members worth listing (and indexing) on their own.
_CLASSES = frozenset({"class", "interface", "trait", "impl", "struct", "union", "record"})
_CONTAINERS = _CLASSES | {"type", "module", "namespace"}
# Nodes that wrap a definition: decorators, `export`, C++ templates.
_WRAPPERS = {"decorated_definition": "definition", "export_statement": "declaration", "template_declaration": ""}
_IDENTIFIERS = frozenset({"identifier", "type_identifier", "field_identifier", "property_identifier", "shorthand_property_identifier", "namespace_identifier", "constant"})
# Where a definition's name sits, by field, from the definition down to the identifier:
# `def f`, C's `int *f(void)`, `impl Foo`, Lua's `function M.run`, C++'s `void A::f()`.
_NAME_FIELDS = ("name", "declarator", "field", "method", "type")
# Children that carry the name of a definition without a name field of its own.
_NAMED_CHILDREN = frozenset({"variable_declarator", "type_spec", "const_spec", "var_spec", "type_alias"})
_SHORT = 10  # lines: a definition without a body this short is its own signature
_BODY_DEPTH = 3  # how deep a body may sit: Go's `type T struct {` has it three levels down


def _unwrap(node: Node) -> Node:
    """The definition inside a decorator, an `export` or a template."""
    while node.type in _WRAPPERS:
        field = _WRAPPERS[node.type]
        inner = node.child_by_field_name(field) if field else (node.named_children[-1] if node.named_children else None)
        if inner is None:
            break
        node = inner
    return node


def _name(node: Node, parsed: Parsed) -> str | None:
    if node.type in _IDENTIFIERS:
        return parsed.node_text(node)
    for field in _NAME_FIELDS:
        child = node.child_by_field_name(field)
        if child is not None:
            return _name(child, parsed)
    child = next((c for c in node.named_children if c.type in _NAMED_CHILDREN), None)
    return _name(child, parsed) if child is not None else None


def body_of(node: Node, language: Language) -> Node | None:
    """The definition's body (the shallowest node of a body type), if it has one."""
    level = [node]
    for _ in range(_BODY_DEPTH):
        level = [child for parent in level for child in parent.named_children]
        body = next((child for child in level if child.type in language.blocks), None)
        if body is not None:
            return body
    return None


def _last_row(node: Node) -> int:
    end = node.end_point
    return end.row - 1 if end.column == 0 and end.row > node.start_point.row else end.row


def _indentation(node: Node, parsed: Parsed, default: str) -> str:
    before = parsed.slice(parsed.line_start_byte(node.start_byte), node.start_byte)
    return before if not before.strip() else default


def _signature(outer: Node, node: Node, kind: str, parsed: Parsed, language: Language, done: dict[int, str]) -> str:
    """`outer` is the definition with its decorators; `node` the definition itself.
    `done` holds the signatures made so far, by start byte: a class's outline makes its
    members', which are definitions too."""
    if outer.start_byte not in done:
        done[outer.start_byte] = _new_signature(outer, node, kind, parsed, language, done)
    return done[outer.start_byte]


def _new_signature(outer: Node, node: Node, kind: str, parsed: Parsed, language: Language, done: dict[int, str]) -> str:
    body = body_of(node, language)
    if body is None:
        text = parsed.node_text(outer)
        return text if text.count("\n") < _SHORT else text.split("\n", 1)[0]
    brace = next((child for child in body.children if child.type == "{"), None)
    header = parsed.slice(outer.start_byte, (brace or body).start_byte).rstrip()
    if kind not in _CONTAINERS:
        return header
    lines = [header + " {" if brace else header]
    for member in body.named_children:
        inner = _unwrap(member)
        if "comment" in member.type:
            continue
        if inner.type in language.definitions and _name(inner, parsed):
            line = _signature(member, inner, _kind(inner.type, kind), parsed, language, done)
        elif member.start_point.row == _last_row(member):
            line = parsed.node_text(member) + _punctuation_after(member, parsed)  # a field: `x: int = 0`, `private int x;`
        else:
            continue
        lines.append(_indentation(member, parsed, "    ") + line)
    if brace:  # and what follows the body: C's `} Point;`
        lines.append(_indentation(outer, parsed, "") + "}" + parsed.slice(body.end_byte, outer.end_byte).rstrip())
    return "\n".join(lines)


def _punctuation_after(node: Node, parsed: Parsed) -> str:
    """The `;` or `:` that ends a member but is not part of its node (`public:`)."""
    rest = parsed.source[node.end_byte : node.end_byte + 2].decode("utf-8", "replace")
    return rest[: len(rest) - len(rest.lstrip(";:,"))]


def _kind(node_type: str, container: str) -> str:
    """What a node defines; a function in a class (struct, impl, trait) is a method."""
    kind = _KINDS.get(node_type, node_type)
    return "method" if kind == "function" and container in _CLASSES else kind


def _is_require(node: Node, parsed: Parsed, language: Language) -> bool:
    """A statement whose value is a `require(...)` call: CommonJS's and Lua's imports."""
    if not language.require:
        return False
    level = [node]
    for _ in range(4):
        level = [child for parent in level for child in parent.named_children]
        for child in level:
            if child.type in ("call_expression", "function_call") and child.named_children:
                callee = child.named_children[0]
                if callee.type == "identifier" and parsed.node_text(callee) == language.require:
                    return True
    return False


def definitions(text: str, language: Language, path: str, parsed: Parsed | None = None) -> list[Definition]:
    """Top-level definitions and the members of classes (impl blocks, namespaces), in
    source order. Functions nested in functions are left out: nothing outside can call them."""
    parsed = parsed or Parsed.of(text, language)
    assert parsed.tree is not None
    found: list[Definition] = []
    signatures: dict[int, str] = {}

    def visit(container: Node, scope: str, scope_kind: str) -> None:
        for child in _statements(container):
            node = _unwrap(child)
            if node.type not in language.definitions or _is_require(node, parsed, language):
                continue
            name = _name(node, parsed)
            if not name:
                continue
            kind = _kind(node.type, scope_kind)
            signature = _signature(child, node, kind, parsed, language, signatures)
            found.append(Definition(name, kind, path, child.start_point.row, _last_row(child), signature, parsed.node_text(child), scope))
            body = body_of(node, language) if kind in _CONTAINERS else None
            if body is not None:
                visit(body, name, kind)

    visit(parsed.tree.root_node, "", "")
    return found


def import_header(text: str, language: Language, parsed: Parsed | None = None) -> str:
    """The file's top-level import (include, use, require, package) statements, in order."""
    parsed = parsed or Parsed.of(text, language)
    return "\n".join(parsed.node_text(n).rstrip() for n in import_statements(parsed))


def import_statements(parsed: Parsed) -> list[Node]:
    assert parsed.tree is not None and parsed.language is not None
    language = parsed.language
    return [n for n in _statements(parsed.tree.root_node) if n.type in language.imports or _is_require(n, parsed, language)]


def _statements(container: Node) -> Iterator[Node]:
    """The statements of a file or body. A line being typed may wrap the statements
    around it in an ERROR node: those inside it still count."""
    for child in container.named_children:
        if child.type == "ERROR":
            yield from child.named_children
        else:
            yield child


# Names too common to look up: builtins, and keywords for the line-based fallback.
_COMMON = frozenset({
    "self", "this", "cls", "super", "true", "false", "True", "False", "None", "null", "nil", "undefined", "def",
    "class", "return", "if", "else", "elif", "for", "while", "in", "not", "and", "or", "is", "import", "from", "as",
    "function", "const", "let", "var", "new", "func", "fn", "pub", "mut", "impl", "struct", "enum", "type", "int",
    "str", "float", "bool", "void", "public", "private", "protected", "static", "final", "package", "interface",
    "try", "except", "catch", "finally", "raise", "throw", "with", "yield", "async", "await", "lambda", "pass",
    "break", "continue", "local", "end", "then", "do", "print", "len", "range", "list", "dict", "set", "tuple",
    "object", "string", "char", "long", "double", "auto", "match", "case", "switch", "default", "go", "defer",
    "println", "printf", "console", "log", "error", "err", "ok", "Ok", "Err", "Some", "String", "Vec", "Box", "Self",
    "main", "std", "fmt", "args", "kwargs", "require", "pairs", "ipairs",
})
_WORD = re.compile(r"[A-Za-z_$][\w$]*")
# Fields whose identifiers a node binds (assigns, declares, takes as parameters), in the
# nodes that bind: `x = 1`, `def f(a)`, `for x in`, `let x`, `int x`, but not `a + b` (a
# `left` too) or `Config::load` (a `name`). Node types are matched by the words in them.
_BINDING_FIELDS = frozenset({"name", "left", "pattern", "declarator", "parameters", "parameter", "receiver", "alias"})
_BINDING_NODES = ("definition", "declaration", "declarator", "parameter", "assignment", "for", "item", "spec", "pattern", "lambda", "closure", "arrow", "clause", "signature", "variable")
_REBINDING_NODES = ("augmented", "compound")  # `total += x` uses a `total` bound elsewhere
# Fields that hold expressions even inside a binding (a default value, a type, an index).
_VALUE_FIELDS = frozenset({"value", "right", "type", "default", "arguments", "body", "return_type", "function", "object", "operand", "subscript", "index", "attribute", "property", "field", "result", "condition"})


def identifiers_near(text: str, offset: int, language: Language | None, lines: int = 30, parsed: Parsed | None = None) -> list[str]:
    """Names used in the `lines` lines before the cursor and on its line, nearest first:
    what the code being written refers to. Left out: the word being typed (it changes
    with every keystroke), keywords and common builtins, and names bound in the window
    (parameters, locals), whose definitions are already in view."""
    return [name for name, _ in identifier_uses(text, offset, language, lines, parsed)]


def identifier_uses(text: str, offset: int, language: Language | None, lines: int = 30, parsed: Parsed | None = None) -> list[tuple[str, int]]:
    """`identifiers_near` with the (0-based) line of each name's nearest use."""
    window_start = text.rfind("\n", 0, offset) + 1
    for _ in range(lines):
        if window_start == 0:
            break
        window_start = text.rfind("\n", 0, window_start - 1) + 1
    line_end = text.find("\n", offset)
    window_end = len(text) if line_end < 0 else line_end
    if language is None:
        at = offset
        first_line = text.count("\n", 0, window_start)
        uses = [
            _Use(m.start(), m.end(), m.group(), first_line + text.count("\n", window_start, m.start()), False)
            for m in _WORD.finditer(text, window_start, window_end)
        ]
    else:
        parsed = parsed or Parsed.of(text, language)
        assert parsed.tree is not None
        at = parsed.byte_offset(offset)
        window = (parsed.byte_offset(window_start), parsed.byte_offset(window_end))
        uses = list(_identifiers(parsed.tree.root_node, window, parsed, language, False))
    uses = [use for use in uses if not use.start <= at <= use.end]  # the word being typed
    bound = {use.name for use in uses if use.bound}
    nearest: dict[str, _Use] = {}
    for use in uses:
        if use.name in bound or use.name in _COMMON or len(use.name) < 2:
            continue
        if use.name not in nearest or abs(use.start - at) < abs(nearest[use.name].start - at):
            nearest[use.name] = use
    ordered = sorted(nearest.values(), key=lambda use: (abs(use.start - at), use.start))
    return [(use.name, use.line) for use in ordered]


@dataclass(frozen=True)
class _Use:
    start: int  # offset: bytes in a parsed text, code points in a plain one
    end: int
    name: str
    line: int
    bound: bool  # bound there (assigned, declared, a parameter) rather than used


def _identifiers(node: Node, window: tuple[int, int], parsed: Parsed, language: Language, binding: bool) -> Iterator[_Use]:
    """The identifiers in the window (bytes), and whether each is bound where it is."""
    start, end = window
    if node.type in _IDENTIFIERS:
        if node.start_byte >= start:
            yield _Use(node.start_byte, node.end_byte, parsed.node_text(node), node.start_point.row, binding)
        return
    if node.type in language.imports:
        return  # module paths: the imported names count where they are used
    binds = None  # whether this node binds: only asked of nodes with a binding field
    for index, child in enumerate(node.children):
        if not child.is_named or child.end_byte <= start or child.start_byte >= end:
            continue
        field = node.field_name_for_child(index)
        if field == "name" and node.type == "keyword_argument":
            continue  # `f(key=value)`: a parameter's name, not a use of `key`
        if field in _BINDING_FIELDS and binds is None:
            binds = any(word in node.type for word in _BINDING_NODES) and not any(word in node.type for word in _REBINDING_NODES)
        child_binding = (field in _BINDING_FIELDS and bool(binds)) or (binding and field not in _VALUE_FIELDS)
        yield from _identifiers(child, window, parsed, language, child_binding)
