"""A test module's tests as pytest collects them, and the functions each test calls (syntax only).

Collected, with pytest's node ids (``path::Class::test_m``, ``path::test_f[1-2]``):

- every ``unittest.TestCase`` subclass whatever its name (a base named ``TestCase`` or ``...TestCase``,
  or a class of the same module that is one), its ``test*`` methods taking ``self`` only,
  inherited ones from classes of the same module included;
- pytest's ``Test*`` classes without ``__init__`` / ``__new__``, and module-level ``test*``
  functions, fixtures-free: every parameter without a default is an argument of a
  ``@pytest.mark.parametrize`` (of the def, or of its class) whose cases can be read statically
  (literals, the module's own names: ``parametrize.py``), each case one test;
- not collected, as in pytest: classes and functions with ``__test__ = False``, nested classes.

Not linked, and counted by reason (``Discovery.unlinked``): tests that need a fixture
(``needs_fixture``), unittest methods that take arguments (``needs_arguments``), async tests
(``async``), tests marked ``skip`` / ``skipif`` / ``xfail`` / ``usefixtures`` (pytest marks on the
def, its class or the module's ``pytestmark``, which the sandbox's runner does not evaluate) or
``unittest.expectedFailure`` (``marked``; unittest's ``skip*`` decorators are left to unittest at
run time, where a skipped test counts neither way), tests of a module or class with an autouse fixture (``autouse_fixture``:
the harness runs tests without pytest's fixtures), parametrizations that cannot be read
statically (``parametrize_*``), parametrized unittest methods (``parametrize_unittest``: pytest
refuses them too).

A test's calls are found through the test module's imports: ``f()`` for ``from M import f``;
``m.f()`` for ``import M as m`` / ``from P import m``; ``x.meth()`` in a test that names a class
``C`` imported from ``M`` → ``(M, "C.meth")``; a bare ``f()`` after ``from M import *`` →
``(M, "f")``; a case whose argument is a function the module imports, called by the test
(``@parametrize("function", [factorial, factorial_recursive])``, ``function(0)``) → that
function, for that case only. Links name the module the test imports from (``pkg`` for ``import pkg as mi;
mi.chunked()``); ``reexports.py`` moves them to the defining module.
"""

from __future__ import annotations

import ast
import builtins
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from pipelines.sources.code.parametrize import Case, Namespace, Unexpandable, combine, expand, is_mark, namespace
from pipelines.sources.code.syntax import chain, imports, resolve_from, top_statements
from schemas.code import TestRef

SKIP_MARKS = frozenset({"skip", "skipif", "xfail", "usefixtures"})
#: unittest's skip decorators are unittest's to decide when the test runs (a skipped test says
#: nothing either way); an expected failure would pass without showing anything
UNITTEST_SKIPS = frozenset({"expectedFailure"})
BUILTINS = frozenset(dir(builtins))
Link = tuple[str, str, TestRef]  # (module, symbol, test)
Def = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class SuiteTest:
    """One collected test: its name in the module (``test_f``, ``Class.test_m``, with ``[ID]`` for a
    parametrized case), the def whose body runs, and a case's arguments (a dict literal's source)."""

    name: str
    node: ast.FunctionDef
    args: str = ""
    objects: tuple[tuple[str, str], ...] = ()  # a case's arguments that name a function or class: (argument, name)


@dataclass
class Discovery:
    """The tests a module holds, and how many defs pytest would run that are not linked, by reason."""

    tests: list[SuiteTest] = field(default_factory=list)
    unlinked: Counter = field(default_factory=Counter)


def _decorator_names(decorators: list[ast.expr]) -> Iterator[str]:
    for d in decorators:
        parts = chain(d.func if isinstance(d, ast.Call) else d)
        if parts:
            yield parts[-1]


def _skipped(decorators: list[ast.expr]) -> bool:
    """Marked skip / skipif / xfail / usefixtures (pytest), or ``unittest.expectedFailure``."""
    return (any(is_mark(d, SKIP_MARKS) for d in decorators)
            or any(name in UNITTEST_SKIPS for name in _decorator_names(decorators)))


def _autouse(defs: list[ast.stmt]) -> bool:
    """Whether one of ``defs`` is a fixture with ``autouse=True``."""
    for node in defs:
        if not isinstance(node, Def):
            continue
        for d in node.decorator_list:
            if (isinstance(d, ast.Call) and (chain(d.func) or [""])[-1] == "fixture"
                    and any(k.arg == "autouse" and isinstance(k.value, ast.Constant) and k.value.value for k in d.keywords)):
                return True
    return False


def _module_marks(tree: ast.Module) -> list[ast.expr]:
    """The marks of ``pytestmark = mark`` / ``[marks]`` at the module's top level."""
    marks: list[ast.expr] = []
    for node in top_statements(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            marks = list(node.value.elts) if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
    return marks


def _test_attr(body: list[ast.stmt]) -> bool | None:
    """``__test__ = <constant>`` in a body: its truth; None when it says nothing."""
    for node in body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__test__" for t in node.targets)
                and isinstance(node.value, ast.Constant)):
            return bool(node.value.value)
    return None


class _Classes:
    """The module's top-level classes, with what pytest asks of each: TestCase or not, inherited
    test methods, ``__init__``, ``__test__`` (through bases of the same module only)."""

    def __init__(self, tree: ast.Module):
        self.by_name = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}  # a later class wins

    def lineage(self, cls: ast.ClassDef) -> list[ast.ClassDef]:
        """``cls`` and its bases defined in this module, depth first, each once."""
        out: list[ast.ClassDef] = []
        stack = [cls]
        while stack:
            node = stack.pop()
            if node in out:
                continue
            out.append(node)
            stack.extend(reversed([self.by_name[b.id] for b in node.bases
                                   if isinstance(b, ast.Name) and b.id in self.by_name and self.by_name[b.id] is not node]))
        return out

    def is_testcase(self, cls: ast.ClassDef) -> bool:
        for node in self.lineage(cls):
            for base in node.bases:
                parts = chain(base)
                if parts and parts[-1].endswith("TestCase") and not (len(parts) == 1 and parts[0] in self.by_name):
                    return True
        return False

    def collected(self, cls: ast.ClassDef) -> bool:
        for node in self.lineage(cls):
            said = _test_attr(node.body)
            if said is not None:
                if not said:
                    return False
                break
        if self.is_testcase(cls):
            return True
        has_init = any(isinstance(item, Def) and item.name in ("__init__", "__new__")
                       for node in self.lineage(cls) for item in node.body)
        return cls.name.startswith("Test") and not has_init

    def methods(self, cls: ast.ClassDef) -> dict[str, Def]:
        found: dict[str, Def] = {}
        for node in self.lineage(cls):
            for item in node.body:
                if isinstance(item, Def):
                    found.setdefault(item.name, item)
        return found


def _params(args: ast.arguments, bound: int) -> tuple[set[str], set[str]]:
    """``(required, optional)`` parameter names of a def, after ``bound`` leading ones (``self``)."""
    positional = [*args.posonlyargs, *args.args][bound:]
    with_default = len(args.defaults)
    required = {a.arg for a in positional[:len(positional) - with_default]} if with_default else {a.arg for a in positional}
    optional = {a.arg for a in positional} - required
    for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        (required if default is None else optional).add(a.arg)
    return required, optional


def _cases(node: ast.FunctionDef, class_decorators: list[ast.expr] | None, ns: Namespace) -> list[Case | None] | None:
    """The cases of a pytest-style test (nearest decorator first, then its class's), or None when
    it has no parametrize mark; raises Unexpandable, or for a fixture it would need."""
    marks = [d for d in reversed(node.decorator_list) if is_mark(d, frozenset({"parametrize"}))]
    marks += [d for d in reversed(class_decorators or []) if is_mark(d, frozenset({"parametrize"}))]
    expanded = []
    names: list[str] = []
    for mark in marks:
        if not isinstance(mark, ast.Call):
            raise Unexpandable("parametrize_not_literal")
        argnames, cases = expand(mark, ns)
        names += argnames
        expanded.append(cases)
    required, optional = _params(node.args, 1 if class_decorators is not None and _is_method(node) else 0)
    if len(set(names)) != len(names) or set(names) - required:
        raise Unexpandable("parametrize_arguments")  # pytest refuses: named twice, not a parameter, or has a default
    if required - set(names):
        raise Unexpandable("needs_fixture")
    return combine(expanded) if marks else None


def _is_method(node: Def) -> bool:
    return not any(name == "staticmethod" for name in _decorator_names(node.decorator_list))


def discover(tree: ast.Module) -> Discovery:
    """The tests of a test module, as pytest collects them (see the module docstring)."""
    found = Discovery()
    ns = namespace(tree)
    module_marks = _module_marks(tree)
    blocked = ("marked" if any(is_mark(m, SKIP_MARKS) for m in module_marks) else
               "parametrize_module" if any(is_mark(m, frozenset({"parametrize"})) for m in module_marks) else
               "autouse_fixture" if _autouse(tree.body) else None)
    functions = {n.name: n for n in tree.body if isinstance(n, Def)}  # a later def wins
    for name, node in functions.items():
        if name.startswith("test") and _test_attr_of(tree, name) is not False:
            _add(found, name, node, None, False, blocked, ns)
    classes = _Classes(tree)
    for cls in classes.by_name.values():
        if not classes.collected(cls):
            continue
        testcase = classes.is_testcase(cls)
        why = blocked or ("marked" if _skipped(cls.decorator_list) else None)
        methods = classes.methods(cls)
        if why is None and _autouse(list(methods.values())):
            why = "autouse_fixture"
        for name, node in methods.items():
            if name.startswith("test"):
                _add(found, f"{cls.name}.{name}", node, cls.decorator_list, testcase, why, ns)
    return found


def _test_attr_of(tree: ast.Module, name: str) -> bool | None:
    """``name.__test__ = False`` at the module's top level (pytest then skips the function)."""
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and any(chain(t) == [name, "__test__"] for t in node.targets)):
            return bool(node.value.value)
    return None


def _add(found: Discovery, name: str, node: Def, class_decorators: list[ast.expr] | None, testcase: bool,
         blocked: str | None, ns: Namespace) -> None:
    """One collected def: its tests (one, or one per case), or why none is linked."""
    if blocked or isinstance(node, ast.AsyncFunctionDef) or _skipped(node.decorator_list):
        found.unlinked[blocked or ("async" if isinstance(node, ast.AsyncFunctionDef) else "marked")] += 1
        return
    if testcase:
        if any(is_mark(d, frozenset({"parametrize"})) for d in node.decorator_list):
            found.unlinked["parametrize_unittest"] += 1
        elif _params(node.args, 1)[0]:
            found.unlinked["needs_arguments"] += 1
        else:
            found.tests.append(SuiteTest(name, node))
        return
    try:
        cases = _cases(node, class_decorators, ns)
    except Unexpandable as exc:
        found.unlinked[exc.reason] += 1
        return
    if cases is None:
        found.tests.append(SuiteTest(name, node))
        return
    for case in cases:
        if case is None:
            found.unlinked["marked"] += 1
        else:
            found.tests.append(SuiteTest(f"{name}[{case.id}]", node, case.source(), case.objects))


# --- what a test calls ------------------------------------------------------------------------------

Bindings = tuple[dict[str, list[str]], dict[str, list[tuple[str, str]]], list[str]]


def import_bindings(tree: ast.Module, own_module: str, is_package: bool) -> Bindings:
    """Names a test module binds by import: ``modules[name]`` (dotted module names it may be),
    ``symbols[name]`` (``(module, name)`` it may be), and the modules it star-imports."""
    modules: dict[str, list[str]] = {}
    symbols: dict[str, list[tuple[str, str]]] = {}
    star: list[str] = []
    for node in imports(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    modules.setdefault(a.asname, []).append(a.name)
                else:
                    modules.setdefault(a.name.split(".")[0], []).append(a.name.split(".")[0])
        else:
            source = resolve_from(node, own_module, is_package)
            for a in node.names:
                if a.name == "*":
                    star.append(source)
                    continue
                bound = a.asname or a.name
                symbols.setdefault(bound, []).append((source, a.name))
                modules.setdefault(bound, []).append(f"{source}.{a.name}" if source else a.name)
    return modules, symbols, star


class _Calls:
    """What the functions of one test module call, through its imports (memoised per def: the
    cases of a parametrized test share one body)."""

    def __init__(self, tree: ast.Module, own_module: str, is_package: bool):
        self.modules, self.symbols, self.star = import_bindings(tree, own_module, is_package)
        self.own = {n.name for n in tree.body if isinstance(n, Def | ast.ClassDef)}
        self._memo: dict[int, set[tuple[str, str]]] = {}

    def _bare(self, name: str) -> list[tuple[str, str]]:
        """What a name not bound by an import may be: a star import's (never a builtin or the module's own)."""
        if name in self.symbols:
            return self.symbols[name]
        if self.star and name not in self.own and name not in BUILTINS and name not in self.modules:
            return [(m, name) for m in self.star]
        return []

    def of(self, fn: ast.FunctionDef) -> set[tuple[str, str]]:
        if id(fn) in self._memo:
            return self._memo[id(fn)]
        called: set[tuple[str, str]] = set()
        classes: set[tuple[str, str]] = set()
        methods: set[str] = set()
        for n in (node for stmt in fn.body for node in ast.walk(stmt)):  # its body: not its decorators
            if isinstance(n, ast.Name | ast.Attribute) and isinstance(n.ctx, ast.Load):
                parts = chain(n)
                if parts and len(parts) == 1:
                    classes.update(self._bare(parts[0]))
                elif parts and parts[0] in self.modules:
                    classes.update((f"{m}.{'.'.join(parts[1:-1])}".rstrip("."), parts[-1]) for m in self.modules[parts[0]])
            if not isinstance(n, ast.Call):
                continue
            parts = chain(n.func)
            if isinstance(n.func, ast.Attribute):
                methods.add(n.func.attr)
            if not parts:
                continue
            if len(parts) == 1:
                called.update(self._bare(parts[0]))
            elif parts[0] in self.modules:
                called.update((".".join([m, *parts[1:-1]]), parts[-1]) for m in self.modules[parts[0]])
        for module, cls in classes:
            if cls[:1].isupper():
                called.update((module, f"{cls}.{meth}") for meth in methods)
        self._memo[id(fn)] = called
        return called

    def called_names(self, fn: ast.FunctionDef) -> set[str]:
        """The bare names its body calls (``function(0)``)."""
        return {n.func.id for stmt in fn.body for n in ast.walk(stmt)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def links_from_tests(tree: ast.Module, path: str, own_module: str) -> tuple[list[Link], Discovery]:
    """``(module, symbol, TestRef)`` per function a collected test calls, and the discovery itself
    (its tests and what was not linked)."""
    found = discover(tree) if not path.rsplit("/", 1)[-1] == "conftest.py" else Discovery()
    calls = _Calls(tree, own_module, path.endswith("__init__.py"))
    links: set[Link] = set()
    for test in found.tests:
        ref = TestRef("function", path, test.name, test.args)
        links.update((module, symbol, ref) for module, symbol in calls.of(test.node))
        for argument, bound in test.objects:  # test_zero[factorial]: function(0) calls factorial
            if argument in calls.called_names(test.node):
                links.update((module, symbol, ref) for module, symbol in calls.symbols.get(bound, ()))
    return sorted(links, key=lambda x: (x[0], x[1], x[2].path, x[2].name)), found
