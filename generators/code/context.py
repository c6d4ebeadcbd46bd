"""The module context of a function: what a programmer sees around it before writing it.

A function rarely stands alone: it uses its module's imports (``pi`` from ``from math import pi``),
calls helpers of the same module and reads its constants. A prompt that shows only the signature
and docstring teaches a model to use names it never saw, and the round trip, which substitutes the
answer into the module, cannot pass without them. ``function_context`` reads the module text with
``ast`` (never runs it) and gives, most relevant first, within a character budget:

1. the imports binding names the function reads (a star import when some name is found nowhere else);
2. for a method, its class: header, first docstring line, and the ``self.X = ...`` lines of
   ``__init__`` for the attributes the method reads;
3. the module-level constants it reads (and, for a method, class attributes it reads through ``self``/``cls``);
4. the same-module functions and classes it calls or names (and a method's sibling methods it
   calls through ``self``/``cls``): signature and first docstring line, never a body;
5. the module's other imports.

An item that does not fit the budget is left out (and counted); smaller ones after it may still fit.
"""

from __future__ import annotations

import ast
import builtins
import io
import textwrap
import tokenize
from dataclasses import dataclass
from typing import Any, Literal

from schemas.code import CodeFunction, source_lines

CONTEXT_CHARS = 2000  # the most characters of context one prompt gets
MAX_VALUE_CHARS = 200  # a constant (or attribute) longer than this is shown as ``NAME = ...  # a dict, 1,234 characters``
MAX_DOC_CHARS = 160  # a docstring's first line, cut here
_BUILTINS = frozenset(dir(builtins))

ItemKind = Literal["import", "class", "constant", "helper"]
_RENDER_ORDER: tuple[ItemKind, ...] = ("import", "constant", "class", "helper")


@dataclass(frozen=True)
class ContextItem:
    """One piece of context: what it is, the name it binds or defines, the lines shown, where it lies."""

    kind: ItemKind
    name: str
    text: str
    line: int = 0
    members: tuple[str, ...] = ()  # a class item: the attributes and methods of it shown


@dataclass(frozen=True)
class FunctionContext:
    """The context given with a function's prompts; ``left_out``: items over the budget."""

    items: tuple[ContextItem, ...] = ()
    left_out: int = 0

    def render(self) -> str:
        """The context as a Python block (imports, constants, the class, helpers), or ``(none)``."""
        if not self.items:
            return "(none)"
        groups = [[i for i in sorted(self.items, key=lambda i: i.line) if i.kind == kind] for kind in _RENDER_ORDER]
        blocks = ["\n".join(i.text for i in g) if g and g[0].kind in ("import", "constant") else "\n\n".join(i.text for i in g)
                  for g in groups if g]
        return "```python\n" + "\n\n".join(blocks) + "\n```"

    def record(self) -> dict[str, Any]:
        """What a row says of its context: the names given, by kind, and how many items did not fit."""
        owner = next((i for i in self.items if i.kind == "class"), None)
        out: dict[str, Any] = {f"{kind}s": [i.name for i in self.items if i.kind == kind]
                               for kind in ("import", "constant", "helper")}
        out["class"] = None if owner is None else {"name": owner.name, "members": list(owner.members)}
        out["left_out"] = self.left_out
        out["chars"] = sum(len(i.text) + 1 for i in self.items)
        return out


NO_CONTEXT = FunctionContext()


def module_text(raw: bytes) -> str:
    """A module's bytes as text, in the encoding Python would read it with (PEP 263)."""
    encoding = tokenize.detect_encoding(io.BytesIO(raw).readline)[0]
    return raw.decode(encoding)


# --- what the function uses -----------------------------------------------------------------------

@dataclass(frozen=True)
class _Uses:
    """Names the function reads but does not bind, and attributes it reaches through its first parameter."""

    free: frozenset[str]
    through_self: frozenset[str]


def _arg_names(args: ast.arguments) -> list[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return [a.arg for a in every if a is not None]


def _uses(node: ast.FunctionDef | ast.AsyncFunctionDef, is_method: bool) -> _Uses:
    loads: set[str] = set()
    bound: set[str] = set()
    declared_global: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (loads if isinstance(sub.ctx, ast.Load) else bound).add(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            bound.update(_arg_names(sub.args))
            if sub is not node and not isinstance(sub, ast.Lambda):
                bound.add(sub.name)
        elif isinstance(sub, ast.ClassDef):
            bound.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in sub.names)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            bound.add(sub.name)
        elif isinstance(sub, ast.Global):
            declared_global.update(sub.names)
    free = loads - (bound - declared_global)
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
    first = _arg_names(node.args)[:1] if is_method and not static else []
    through = {sub.attr for sub in ast.walk(node) if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name)
               and sub.value.id in first}
    return _Uses(frozenset(free), frozenset(through))


# --- how a definition is shown ----------------------------------------------------------------------

def _doc_line(node: ast.AST) -> str | None:
    doc = ast.get_docstring(node) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else None
    first = next((line.strip() for line in (doc or "").splitlines() if line.strip()), None)
    if first is None:
        return None
    first = first.replace('"""', "'''")
    return first if len(first) <= MAX_DOC_CHARS else first[: MAX_DOC_CHARS - 3].rstrip() + "..."


def _header(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, lines: list[str]) -> str:
    """The ``def``/``class`` line(s) as written (decorators included), dedented; rebuilt with
    ``ast.unparse`` when the body starts on the header's own line."""
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    if node.body and node.body[0].lineno > node.lineno:
        text = textwrap.dedent("".join(lines[start - 1: node.body[0].lineno - 1])).rstrip()
        if text.endswith(":"):
            return text
    bare = ast.ClassDef(node.name, node.bases, node.keywords, [ast.Pass()], node.decorator_list) \
        if isinstance(node, ast.ClassDef) else type(node)(node.name, node.args, [ast.Pass()], node.decorator_list,
                                                           node.returns, getattr(node, "type_comment", None))
    return ast.unparse(ast.fix_missing_locations(bare)).rsplit("\n", 1)[0]


def _indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line if line.strip() else line for line in text.splitlines())


def _stub(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> str:
    """A function's header, its docstring's first line and ``...``."""
    doc = _doc_line(node)
    body = (f'"""{doc}"""\n' if doc else "") + "..."
    return _header(node, lines) + "\n" + _indent(body)


def _value(node: ast.Assign | ast.AnnAssign, source: str) -> str:
    """An assignment as written, or ``TARGET = ...  # a KIND, N characters`` when long."""
    text = ast.get_source_segment(source, node) or ""
    if text and len(text) <= MAX_VALUE_CHARS and "\n" not in text.strip():
        return text.strip()
    target = node.targets[0] if isinstance(node, ast.Assign) else node.target
    kind = type(node.value).__name__.lower() if node.value is not None else "value"
    annotation = f": {ast.unparse(node.annotation)}" if isinstance(node, ast.AnnAssign) else ""
    return f"{ast.unparse(target)}{annotation} = ...  # a {kind}, {len(text):,} characters"


def _assigned(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return [node.target.id]
    return []


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """Module statements, those inside top-level ``if``/``try`` blocks included (guarded imports)."""
    out: list[ast.stmt] = []
    for node in tree.body:
        out.append(node)
        if isinstance(node, ast.If):
            out.extend([*node.body, *node.orelse])
        elif isinstance(node, ast.Try):
            out.extend([*node.body, *(s for h in node.handlers for s in h.body), *node.orelse, *node.finalbody])
    return out


def _import_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [f"{'.' * node.level}{node.module or ''}.*" if a.name == "*" else (a.asname or a.name) for a in node.names]
    return [(a.asname or a.name).split(".")[0] for a in node.names]


def _find(tree: ast.Module, fn: CodeFunction) -> tuple[ast.ClassDef | None, ast.FunctionDef | ast.AsyncFunctionDef | None]:
    """The function's class (for a method) and its ``def`` in the module: the one starting at
    ``fn.start_line`` where there is one, else the last of that name (a redefinition wins)."""
    owner_name = fn.symbol.rsplit(".", 1)[0] if "." in fn.symbol else None
    owner = None
    scope: list[ast.stmt] = tree.body
    if owner_name is not None:
        owner = next((n for n in reversed(tree.body) if isinstance(n, ast.ClassDef) and n.name == owner_name), None)
        if owner is None:
            return None, None
        scope = owner.body
    defs = [n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == fn.name]
    at = [n for n in defs if min([n.lineno, *(d.lineno for d in n.decorator_list)]) == fn.start_line]
    return owner, (at or defs[-1:] or [None])[0]


# --- the context ------------------------------------------------------------------------------------

def function_context(source: str, fn: CodeFunction, budget: int = CONTEXT_CHARS) -> FunctionContext:
    """The context of ``fn`` in its module's ``source`` (see the module docstring); empty when the
    module does not parse or does not hold the function."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return NO_CONTEXT
    owner, node = _find(tree, fn)
    if node is None:
        return NO_CONTEXT
    lines = source_lines(source)
    uses = _uses(node, owner is not None)
    ranked = _ranked(tree, owner, node, uses, source, lines)
    kept: list[ContextItem] = []
    used = 0
    for item in ranked:
        if used + len(item.text) + 1 > budget:
            continue
        kept.append(item)
        used += len(item.text) + 1
    return FunctionContext(tuple(kept), len(ranked) - len(kept))


def _ranked(tree: ast.Module, owner: ast.ClassDef | None, node: ast.FunctionDef | ast.AsyncFunctionDef,
            uses: _Uses, source: str, lines: list[str]) -> list[ContextItem]:
    statements = _top_level(tree)
    defined: dict[str, ast.stmt] = {}
    constants: dict[str, ast.Assign | ast.AnnAssign] = {}
    for stmt in statements:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined[stmt.name] = stmt
        for name in _assigned(stmt):
            constants[name] = stmt  # type: ignore[assignment]  # _assigned names only come from assignments
    imports = [s for s in statements if isinstance(s, (ast.Import, ast.ImportFrom))]
    bound = {name for s in imports for name in _import_names(s)}
    unresolved = uses.free - bound - set(defined) - set(constants) - _BUILTINS
    used_imports, other_imports = [], []
    for stmt in imports:
        names = _import_names(stmt)
        hit = any(n in uses.free or (n.endswith(".*") and unresolved) for n in names)
        item = ContextItem("import", ", ".join(names), ast.unparse(stmt), stmt.lineno)
        (used_imports if hit else other_imports).append(item)
    items = list(used_imports)
    if owner is not None:
        items.append(_class_item(owner, node, uses, source, lines))
    items += [ContextItem("constant", name, _value(stmt, source), stmt.lineno)
              for name, stmt in sorted(constants.items(), key=lambda kv: kv[1].lineno)
              if name in uses.free and name not in defined]
    helpers = sorted((d for name, d in defined.items() if name in uses.free and d is not node and d is not owner),
                     key=lambda d: d.lineno)
    items += [ContextItem("helper", d.name,  # type: ignore[attr-defined]
                          _class_stub(d, lines) if isinstance(d, ast.ClassDef) else _stub(d, lines),  # type: ignore[arg-type]
                          d.lineno) for d in helpers]
    return items + other_imports


def _class_stub(node: ast.ClassDef, lines: list[str]) -> str:
    """A class's header, its docstring's first line and its ``__init__``'s signature."""
    doc = _doc_line(node)
    parts = [f'"""{doc}"""'] if doc else []
    init = next((n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "__init__"), None)
    if init is not None:
        parts.append(_header(init, lines) + " ...")
    return _header(node, lines) + "\n" + _indent("\n".join(parts or ["..."]))


def _class_item(owner: ast.ClassDef, node: ast.FunctionDef | ast.AsyncFunctionDef, uses: _Uses, source: str,
                lines: list[str]) -> ContextItem:
    """A method's class: header, first docstring line, the class attributes the method reads, the
    ``__init__`` lines that set the attributes it reads (``self.counts = {}``), and the stubs of the
    sibling methods it calls through ``self``/``cls``; ``members`` names what is shown."""
    doc = _doc_line(owner)
    parts = [f'"""{doc}"""'] if doc else []
    members: list[str] = []
    for stmt in owner.body:
        for name in _assigned(stmt):
            if name in uses.through_self:
                parts.append(_value(stmt, source))  # type: ignore[arg-type]  # an assignment
                members.append(name)
    for d in owner.body:
        if not isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef)) or d is node:
            continue
        if d.name == "__init__":
            first = _arg_names(d.args)[:1]
            sets = [s for s in ast.walk(d) if isinstance(s, (ast.Assign, ast.AnnAssign))
                    and any(isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in first
                            and t.attr in uses.through_self for t in (s.targets if isinstance(s, ast.Assign) else [s.target]))]
            body = [_value(s, source) for s in sorted(sets, key=lambda s: s.lineno)]
            parts.append(_header(d, lines) + "\n" + _indent("\n".join([*body, "..."])))
            members.append("__init__")
        elif d.name in uses.through_self:
            parts.append(_stub(d, lines))
            members.append(d.name)
    text = _header(owner, lines) + "\n" + _indent("\n".join(parts or ["..."]))
    return ContextItem("class", owner.name, text, owner.lineno, tuple(members))
