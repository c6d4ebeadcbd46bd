"""``@pytest.mark.parametrize`` read from syntax: each case with pytest's id and its arguments.

Only what can be known without running anything is expanded: argument names as a string or a
list of strings; argument values as a list or tuple (or a name the test module assigns one to)
whose items are literals, names the test module binds at its top level (``Namespace``: its defs
and classes, its ``from M import f``, its constants) and lists, tuples, sets and dicts of these,
or ``pytest.param(...)`` of them; ``ids=`` as a literal list. Ids are made as pytest 9 makes them
(``_pytest.python.IdMaker``): a given id first, else each value's own id (strings and bytes
ASCII-escaped, over 100 characters ``argnameN``; numbers, booleans and None by ``str``; a def, a
class or an imported name by its ``__name__``, an imported name taken for a function or class;
anything else ``argnameN``) joined by ``-``; duplicates numbered (``1-1_0``, ``x0``). Stacked
decorators combine as pytest combines them: the one nearest the ``def`` first in the id and
slowest to vary. Anything else (``indirect=``, an ``ids`` callable, calls as values, a
``pytest.param`` with marks) raises :class:`Unexpandable` with the reason it is counted under.
"""

from __future__ import annotations

import ast
import itertools
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipelines.sources.code.syntax import chain

LONG_STRING = 100  # pytest 9's default parametrize_long_str_id_strategy ("short"): longer values get argnameN


class Unexpandable(Exception):
    """A parametrization this reading cannot expand; ``reason`` is how it is counted."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Case:
    """One case of a test: its id (``[...]`` of the node id, "" for none), its arguments (argument
    name → the value's source: literals and the test module's top-level names) and the arguments
    that are a name the module binds to a function or class (argument name → that name)."""

    id: str
    args: tuple[tuple[str, str], ...]
    objects: tuple[tuple[str, str], ...] = ()

    def source(self) -> str:
        """The arguments as a dict literal's source (what the sandbox's harness evaluates)."""
        return "{" + ", ".join(f"{name!r}: {value}" for name, value in self.args) + "}"


def is_mark(decorator: ast.expr, names: frozenset[str]) -> str | None:
    """The mark a decorator applies (``pytest.mark.NAME``, ``mark.NAME``, their calls) when
    ``NAME`` is in ``names``, else None."""
    node = decorator.func if isinstance(decorator, ast.Call) else decorator
    parts = chain(node)
    if parts and len(parts) >= 2 and parts[-2] == "mark" and parts[-1] in names:
        return parts[-1]
    return None


_NON_PRINTABLE = {i: f"\\x{i:02x}" for i in range(128) if i not in range(32, 127)} | {
    ord("\t"): "\\t", ord("\r"): "\\r", ord("\n"): "\\n"}


def ascii_escaped(value: str | bytes) -> str:
    """pytest's ``_pytest.compat.ascii_escaped``."""
    if isinstance(value, bytes):
        text = value.decode("ascii", "backslashreplace")
    else:
        text = value.encode("unicode_escape").decode("ascii")
    return text.translate(_NON_PRINTABLE)


def value_id(value: object, argname: str, index: int) -> str:
    if isinstance(value, str | bytes):
        return ascii_escaped(value) if len(value) <= LONG_STRING else f"{argname}{index}"
    if value is None or isinstance(value, float | int | bool | complex):
        return str(value)
    return f"{argname}{index}"


def given_id(value: object, index: int) -> str | None:
    """An id from ``ids=[...]`` (pytest's ``_idval_from_value_required``); None: make one."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        return ascii_escaped(value)
    if isinstance(value, float | int | bool | complex):
        return str(value)
    raise Unexpandable("parametrize_ids")


def unique(ids: list[str]) -> list[str]:
    """pytest's ``make_unique_parameterset_ids``: a repeated id gets a counter (``_`` before it
    after a digit)."""
    if len(ids) == len(set(ids)):
        return ids
    counts, suffixes, out = Counter(ids), defaultdict(int), list(ids)
    for i, ident in enumerate(ids):
        if counts[ident] > 1:
            sep = "_" if ident and ident[-1].isdigit() else ""
            new = f"{ident}{sep}{suffixes[ident]}"
            while new in set(out):
                suffixes[ident] += 1
                new = f"{ident}{sep}{suffixes[ident]}"
            out[i] = new
            suffixes[ident] += 1
    return out


@dataclass(frozen=True)
class Namespace:
    """What a test module binds at its top level that a parametrize value may name: ``objects``
    (bound name → the ``__name__`` pytest's id takes: a ``def``, a ``class``, a ``from M import
    x [as y]`` other than an upper-case constant) and ``values`` (a name assigned once, to a
    literal, a container or another such name → that expression)."""

    objects: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, ast.expr] = field(default_factory=dict)

    def resolve(self, node: ast.expr) -> ast.expr:
        """``node``, or what the name it is stands for (names of names followed)."""
        for _ in range(16):
            if not (isinstance(node, ast.Name) and node.id in self.values):
                break
            node = self.values[node.id]
        return node

    def check(self, node: ast.expr) -> None:
        """Raise Unexpandable unless ``node`` is a literal, a name of this namespace, or a list,
        tuple, set or dict of these (what the sandbox's harness evaluates in the test module)."""
        if isinstance(node, ast.Name):
            if node.id in self.objects or node.id in self.values:
                return
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    raise Unexpandable("parametrize_not_literal")
                self.check(elt)
            return
        elif isinstance(node, ast.Dict):
            if None in node.keys:
                raise Unexpandable("parametrize_not_literal")
            for part in (*node.keys, *node.values):
                self.check(part)
            return
        _literal(node)

    def ident(self, node: ast.expr, argname: str, index: int) -> str:
        """The id pytest gives the value ``node`` (see the module docstring)."""
        node = self.resolve(node)
        if isinstance(node, ast.Name) and node.id in self.objects:
            return self.objects[node.id]
        try:
            return value_id(ast.literal_eval(node), argname, index)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return f"{argname}{index}"


def namespace(tree: ast.Module) -> Namespace:
    """The :class:`Namespace` of a test module (its top-level statements)."""
    objects: dict[str, str] = {}
    assigned: dict[str, list[ast.expr]] = defaultdict(list)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            objects[node.name] = node.name
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                if a.name != "*" and not a.name.isupper():
                    objects[a.asname or a.name] = a.name
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigned[node.targets[0].id].append(node.value)
    values = {name: exprs[0] for name, exprs in assigned.items() if len(exprs) == 1}
    while True:  # until every value left names only values left (or objects)
        partial = Namespace(objects, values)
        kept = {}
        for name, expr in values.items():
            try:
                partial.check(expr)
            except Unexpandable:
                continue
            kept[name] = expr
        if len(kept) == len(values):
            break
        values = kept
    for name in values:
        objects.pop(name, None)  # assigned after an import or def of the same name: the assignment wins
    return Namespace(objects, values)


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise Unexpandable("parametrize_not_literal") from None


def _argnames(node: ast.expr) -> list[str]:
    value = _literal(node)
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",") if n.strip()]
    elif isinstance(value, list | tuple) and all(isinstance(n, str) for n in value):
        names = list(value)
    else:
        raise Unexpandable("parametrize_not_literal")
    if not names or len(set(names)) != len(names):
        raise Unexpandable("parametrize_not_literal")
    return names


def _is_param(node: ast.expr) -> bool:
    parts = chain(node.func) if isinstance(node, ast.Call) else None
    return bool(parts) and parts[-1] == "param" and (len(parts) == 1 or parts[-2] == "pytest")


def _case(item: ast.expr, names: list[str], ns: Namespace) -> tuple[str | None, list[ast.expr], bool]:
    """``(given id, value nodes, marked)`` of one item of the argument values (a ``pytest.param``
    with ``marks=`` is marked: skip, xfail ... are pytest's to run, never linked here)."""
    given: str | None = None
    marked = False
    if _is_param(item):
        keywords = {k.arg: k.value for k in item.keywords}
        if None in keywords or set(keywords) - {"id", "marks"} or any(isinstance(a, ast.Starred) for a in item.args):
            raise Unexpandable("parametrize_not_literal")
        marked = "marks" in keywords
        if "id" in keywords:
            ident = _literal(keywords["id"])
            if ident is not None and not isinstance(ident, str):
                raise Unexpandable("parametrize_ids")
            given = None if ident is None else ascii_escaped(ident)
        values = list(item.args)
    elif len(names) == 1:
        values = [item]
    elif isinstance(ns.resolve(item), ast.Tuple | ast.List):
        values = list(ns.resolve(item).elts)
    else:
        raise Unexpandable("parametrize_not_literal")
    if len(values) != len(names) or any(isinstance(v, ast.Starred) for v in values):
        raise Unexpandable("parametrize_not_literal")
    for value in values:
        ns.check(value)
    return given, values, marked


def expand(call: ast.Call, ns: Namespace | None = None) -> tuple[list[str], list[Case | None]]:
    """The argument names and the cases of one ``parametrize(...)`` decorator, in order (None for
    a case carrying marks); ``ns``: the test module's names (none by default)."""
    ns = ns or Namespace()
    if len(call.args) != 2 or any(isinstance(a, ast.Starred) for a in call.args):
        raise Unexpandable("parametrize_not_literal")
    keywords = {k.arg: k.value for k in call.keywords}
    if None in keywords:
        raise Unexpandable("parametrize_not_literal")
    if "indirect" in keywords and _literal(keywords["indirect"]) not in (False, None, [], ()):
        raise Unexpandable("parametrize_indirect")
    if set(keywords) - {"indirect", "ids", "scope"}:
        raise Unexpandable("parametrize_not_literal")
    names = _argnames(call.args[0])
    items = ns.resolve(call.args[1])
    if not isinstance(items, ast.List | ast.Tuple):
        raise Unexpandable("parametrize_not_literal")
    if not items.elts:
        raise Unexpandable("parametrize_empty")  # pytest makes one skipped test
    ids: list[object] = []
    if "ids" in keywords and not (isinstance(keywords["ids"], ast.Constant) and keywords["ids"].value is None):
        if not isinstance(keywords["ids"], ast.List | ast.Tuple):
            raise Unexpandable("parametrize_ids")
        ids = [_literal(e) for e in keywords["ids"].elts]
        if len(ids) != len(items.elts):
            raise Unexpandable("parametrize_ids")
    cases = [_case(item, names, ns) for item in items.elts]
    made: list[str] = []
    for i, (given, values, _marked) in enumerate(cases):
        if given is None and i < len(ids):
            given = given_id(ids[i], i)
        if given is None:
            given = "-".join(ns.ident(v, n, i) for v, n in zip(values, names, strict=True))
        made.append(given)
    made = unique(made)
    out: list[Case | None] = []
    for i, (_given, values, marked) in enumerate(cases):
        pairs = list(zip(names, values, strict=True))
        objects = tuple((n, v.id) for n, v in pairs if isinstance(v, ast.Name) and v.id in ns.objects)
        out.append(None if marked else Case(made[i], tuple((n, ast.unparse(v)) for n, v in pairs), objects))
    return names, out


def combine(per_mark: list[list[Case | None]]) -> list[Case | None]:
    """Cases of stacked decorators (nearest the ``def`` first): their product, ids joined by ``-``;
    a product holding a marked case is None. No decorator: one case with no id."""
    out: list[Case | None] = []
    for combo in itertools.product(*per_mark):
        if any(c is None for c in combo):
            out.append(None)
            continue
        args = [a for c in combo for a in c.args]
        if len({n for n, _ in args}) != len(args):
            raise Unexpandable("parametrize_not_literal")  # pytest refuses an argument named twice
        out.append(Case("-".join(c.id for c in combo), tuple(args), tuple(o for c in combo for o in c.objects)))
    return out
