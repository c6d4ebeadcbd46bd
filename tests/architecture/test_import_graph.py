"""The package's import graph: every import goes down a layer (or stays in its own), and none makes a cycle.

Imports inside functions count too: a lazy import that reaches upward is still a circle a reader
has to follow. The graph is read from the source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "schemas", "verifiers", "generators", "pipelines")

# (prefix, layer): the longest matching prefix decides. A module may import its own layer and those below;
# verifiers and generators are siblings on one layer and neither imports the other.
LAYERS: tuple[tuple[str, int], ...] = (
    ("common", 0),
    ("schemas", 1),
    ("verifiers", 2),
    ("generators", 2),
    ("pipelines.stage", 3),
    ("pipelines.io", 4),
    ("pipelines.sources", 5),
    ("pipelines", 6),
)
SIBLINGS = {("verifiers", "generators"), ("generators", "verifiers")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports, anywhere in its file (``from a import b`` is ``a.b``
    where ``a.b`` is a module, else ``a``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a package: the deepest module we have
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def layer(name: str) -> tuple[str, int]:
    for prefix, level in sorted(LAYERS, key=lambda item: -len(item[0])):
        if name == prefix or name.startswith(prefix + "."):
            return prefix, level
    raise AssertionError(f"{name}: in no layer of LAYERS")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def test_every_import_goes_down_or_stays(graph: dict[str, set[str]]) -> None:
    upward = []
    for name, targets in graph.items():
        prefix, level = layer(name)
        for target in targets:
            target_prefix, target_level = layer(target)
            if target_level > level or (prefix.split(".")[0], target_prefix.split(".")[0]) in SIBLINGS:
                upward.append(f"{name} -> {target}")
    assert not upward, "imports that reach up a layer:\n" + "\n".join(sorted(upward))


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(start: str) -> None:
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []
    assert layer("pipelines.io.card")[1] > layer("pipelines.stage.kernel")[1] > layer("generators.engine.engine")[1]
    assert layer("pipelines.cli")[1] == layer("pipelines.export.pairs")[1]
