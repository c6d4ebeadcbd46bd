"""Walking a module's ``ast`` for what extraction needs: statements, imports, names and dotted chains.

Shared by function extraction (``extract.py``), test discovery (``suite.py``) and re-export
resolution (``reexports.py``); reads syntax only, never imports or runs anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

STMT_LISTS = ("body", "orelse", "finalbody", "handlers", "cases")
SOURCE_ORDER = ("body", "handlers", "orelse", "finalbody", "cases")  # as a try statement runs its parts
def statements(tree: ast.AST) -> Iterator[ast.stmt]:
    """Every statement (at any depth: in defs, classes, branches, handlers), never an expression:
    imports are statements, so this finds them all at a fraction of ``ast.walk``'s cost."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for name in STMT_LISTS:
            children = getattr(node, name, None)
            if children:
                stack.extend(reversed(children))
        if isinstance(node, ast.stmt):
            yield node


def top_statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """The statements that run when the module is imported, in order: its body, and the bodies of
    its top-level ``if`` / ``try`` / ``with`` / loops / ``match`` (never the body of a def or a class)."""
    stack: list[ast.AST] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.stmt):
            yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        children = [child for name in SOURCE_ORDER for child in getattr(node, name, None) or ()]
        stack.extend(reversed(children))


def imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    return (n for n in statements(tree) if isinstance(n, ast.Import | ast.ImportFrom))


def resolve_from(node: ast.ImportFrom, own_module: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` reads, for a file that is ``own_module`` (a
    package's ``__init__`` when ``is_package``): ``from .more import x`` in ``pkg/__init__.py`` is
    ``pkg.more``; in ``pkg/a.py`` it is ``pkg.more`` too."""
    if not node.level:
        return node.module or ""
    base = own_module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *([node.module] if node.module else [])])


def chain(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None for anything that is not a name and attributes."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *parts]
    return None
