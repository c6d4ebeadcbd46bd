"""Re-exports: which module really defines ``pkg.name`` (``from .more import *`` and the like).

A test calls ``mi.chunked(...)`` after ``import more_itertools as mi``; ``chunked`` is defined in
``more_itertools/more.py`` and re-exported by ``from .more import *`` in the package's
``__init__``. Extraction keys a function by its defining module, so the link ``(more_itertools,
chunked)`` has to be followed to ``(more_itertools.more, chunked)``.

Each parsed module yields a :class:`ModuleNames` (what its top level binds, names only);
:func:`alias_table` takes all of one repository's and maps every re-exported ``(module, name)``
to the ``(module, name)`` that defines it, following explicit ``from X import f [as g]``, star
imports (honouring a literal ``__all__``; without one, the public names as Python's star import
takes them) and chains of both, with cycles cut. :func:`resolve_link` applies it to a test's link
(``Class.method`` by its class). Names only: nothing is imported or run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

from pipelines.sources.code.syntax import resolve_from, top_statements

Name = tuple[str, str]  # (dotted module, top-level name)
#: how far a chain of re-exports is followed (a deeper one is left where it stopped)
MAX_HOPS = 32


@dataclass(frozen=True)
class ModuleNames:
    """What a module's top level binds, for re-exports: ``defined`` (by ``def``, ``class`` or an
    assignment), ``imported`` (``(bound, source module, name)`` per ``from S import name as bound``,
    in order), ``star`` (the modules of its ``from S import *``, in order) and ``all`` (its
    ``__all__`` when a literal list or tuple of strings, else None)."""

    module: str
    defined: frozenset[str] = frozenset()
    imported: tuple[tuple[str, str, str], ...] = ()
    star: tuple[str, ...] = ()
    all: tuple[str, ...] | None = None

    @property
    def reexports(self) -> bool:
        """Whether the module binds any name it did not define (else it aliases nothing)."""
        return bool(self.imported or self.star)


_UNKNOWN = object()


def _literal_names(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.List | ast.Tuple) and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                                                        for e in node.elts):
        return [e.value for e in node.elts]
    return None


def _all_names(tree: ast.Module) -> tuple[str, ...] | None:
    """A literal ``__all__`` (``=``, ``+=``, ``.extend([...])``, ``.append("x")`` of literals), else None."""
    names: list[str] | None | object = None
    for node in top_statements(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                continue
            got = _literal_names(node.value) if node.value is not None else None
            if got is None or (isinstance(node, ast.AugAssign) and not isinstance(names, list)):
                names = _UNKNOWN
            else:
                names = [*names, *got] if isinstance(node, ast.AugAssign) else got
        elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
              and isinstance(node.value.func, ast.Attribute) and isinstance(node.value.func.value, ast.Name)
              and node.value.func.value.id == "__all__"):
            call = node.value
            if call.func.attr == "extend" and len(call.args) == 1 and _literal_names(call.args[0]) is not None:
                names = [*names, *_literal_names(call.args[0])] if isinstance(names, list) else _UNKNOWN
            elif (call.func.attr == "append" and len(call.args) == 1 and isinstance(call.args[0], ast.Constant)
                  and isinstance(call.args[0].value, str)):
                names = [*names, call.args[0].value] if isinstance(names, list) else _UNKNOWN
            else:
                names = _UNKNOWN
    return tuple(names) if isinstance(names, list) else None


def _targets(node: ast.expr) -> Iterable[str]:
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Tuple | ast.List):
        for elt in node.elts:
            yield from _targets(elt)
    elif isinstance(node, ast.Starred):
        yield from _targets(node.value)


def module_names(tree: ast.Module, module: str, is_package: bool) -> ModuleNames:
    """The :class:`ModuleNames` of a parsed module named ``module`` (a package's ``__init__`` when ``is_package``)."""
    defined: set[str] = set()
    imported: list[tuple[str, str, str]] = []
    star: list[str] = []
    for node in top_statements(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                defined.update(_targets(target))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
        elif isinstance(node, ast.Import):
            defined.update(a.asname or a.name.split(".")[0] for a in node.names)  # modules: never a function
        elif isinstance(node, ast.ImportFrom):
            source = resolve_from(node, module, is_package)
            for a in node.names:
                if a.name == "*":
                    star.append(source)
                else:
                    imported.append((a.asname or a.name, source, a.name))
    return ModuleNames(module, frozenset(defined), tuple(imported), tuple(star), _all_names(tree))


class _Resolver:
    """Follows names through one repository's modules (memoised; cycles cut)."""

    def __init__(self, modules: dict[str, ModuleNames]):
        self.modules = modules
        self._exported: dict[str, frozenset[str] | None] = {}

    def exported(self, module: str) -> frozenset[str] | None:
        """The names ``from module import *`` binds; None for a module not in the repository."""
        if module in self._exported:
            return self._exported[module]
        names = self.modules.get(module)
        if names is None:
            return None
        self._exported[module] = frozenset()  # a cycle of star imports adds nothing
        if names.all is not None:
            found = frozenset(names.all)
        else:
            bound = set(names.defined) | {b for b, _, _ in names.imported}
            for source in names.star:
                bound |= self.exported(source) or frozenset()
            found = frozenset(n for n in bound if not n.startswith("_"))
        self._exported[module] = found
        return found

    def resolve(self, module: str, name: str) -> Name:
        """The ``(module, name)`` that defines ``module.name``, as far as the repository says."""
        seen: set[Name] = set()
        current = (module, name)
        for _ in range(MAX_HOPS):
            if current in seen:
                break
            seen.add(current)
            nxt = self._step(*current)
            if nxt is None:
                break
            current = nxt
        return current

    def _step(self, module: str, name: str) -> Name | None:
        names = self.modules.get(module)
        if names is None or name in names.defined:
            return None
        for bound, source, original in reversed(names.imported):  # the last binding wins
            if bound == name:
                return source, original
        for source in reversed(names.star):
            exported = self.exported(source)
            if exported is not None and name in exported:
                return source, name
        return None


def alias_table(records: Iterable[ModuleNames]) -> dict[Name, Name]:
    """Every re-exported ``(module, name)`` of one repository → the ``(module, name)`` defining it
    (only names some module of the repository defines). Two files with the same module name: the
    first by sort order counts."""
    modules: dict[str, ModuleNames] = {}
    for record in sorted(records, key=repr):
        modules.setdefault(record.module, record)
    resolver = _Resolver(modules)
    table: dict[Name, Name] = {}
    for record in modules.values():
        if not record.reexports:
            continue
        names = {b for b, _, _ in record.imported}
        for source in record.star:
            names |= resolver.exported(source) or frozenset()
        for name in sorted(names - record.defined):
            target = resolver.resolve(record.module, name)
            owner = modules.get(target[0])
            if target != (record.module, name) and owner is not None and target[1] in owner.defined:
                table[(record.module, name)] = target
    return table


def resolve_link(aliases: dict[Name, Name], module: str, symbol: str) -> Name:
    """``(module, symbol)`` of a test's link, moved to the module defining it (``Class.method``
    follows its class)."""
    head, dot, tail = symbol.partition(".")
    target = aliases.get((module, head))
    if target is None:
        return module, symbol
    return target[0], target[1] + dot + tail
