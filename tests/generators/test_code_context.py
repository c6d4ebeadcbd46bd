"""The module context of a function (``generators.code.context``): what its prompts show of the
imports, helpers and constants it uses, most relevant first within a budget; and the prompts and
the task that carry it, against a scripted test double (not a model)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from generators.backends.base import Completion, GenRequest, LLMBackend
from generators.code import ReverseCoTWriter, RoundTripWriter, problem_of
from generators.code.context import NO_CONTEXT, function_context, module_text
from schemas.code import CodeFunction, RepoSnapshot

TINYTEXT = Path(__file__).resolve().parents[2] / "samples" / "code" / "tinytext" / "tinytext"

# TheAlgorithms' maths/ in miniature: the answer uses `pi` from an import, a same-module helper and a constant.
ARCS = '''"""Arcs and angles."""

import os
from math import pi, sqrt
from typing import NamedTuple

FULL_TURN = 360
UNITS = {"deg": 1.0, "rad": 180 / pi, "grad": 0.9, "turn": 360.0, "arcmin": 1 / 60, "arcsec": 1 / 3600,
         "mil": 0.05625, "quadrant": 90.0, "sextant": 60.0, "sign": 30.0, "octant": 45.0, "point": 11.25}


def check_angle(angle: float) -> float:
    """Reject an angle outside one full turn.

    More lines the prompt never shows.
    """
    if not 0 <= angle <= FULL_TURN:
        raise ValueError("angle out of range")
    return angle


class Arc(NamedTuple):
    """An arc: its radius and its angle in degrees."""

    radius: float
    angle: float


def arc_length(angle: float, radius: float) -> float:
    """The length of an arc of ``angle`` degrees on a circle of ``radius``.

    >>> round(arc_length(90, 10), 4)
    15.708
    """
    check_angle(angle)
    return 2 * pi * radius * (angle / FULL_TURN)


def to_degrees(value: float, unit: str) -> Arc:
    """An angle in degrees."""
    return Arc(1.0, value * UNITS[unit])
'''


def function(source: str, symbol: str, path: str = "maths/arcs.py") -> CodeFunction:
    import ast

    tree = ast.parse(source)
    owner, _, name = symbol.rpartition(".")
    scope = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner).body if owner else tree.body
    node = next(n for n in scope if isinstance(n, ast.FunctionDef) and n.name == name)
    code = ast.get_source_segment(source, node) or ""
    return CodeFunction(RepoSnapshot("https://example.org/maths.git", "b" * 40, "/nonexistent"), path,
                        path.removesuffix(".py").replace("/", "."), "", symbol, code.splitlines()[0],
                        ast.get_docstring(node) or "",
                        code, node.lineno, node.end_lineno or node.lineno, "")


def test_the_imports_helpers_and_constants_a_function_uses_are_its_context() -> None:
    context = function_context(ARCS, function(ARCS, "arc_length"))
    assert context.record() == {"imports": ["pi, sqrt", "os", "NamedTuple"], "constants": ["FULL_TURN"],
                                "helpers": ["check_angle"], "class": None, "left_out": 0,
                                "chars": sum(len(i.text) + 1 for i in context.items)}
    text = context.render()
    assert text.startswith("```python\nimport os\nfrom math import pi, sqrt\n") and text.endswith("\n```")
    assert "FULL_TURN = 360" in text
    assert 'def check_angle(angle: float) -> float:\n    """Reject an angle outside one full turn."""\n    ...' in text
    assert "raise ValueError" not in text and "More lines" not in text  # never a helper's body, one docstring line
    assert "return 2 * pi" not in text  # never the function's own body


def test_most_relevant_first_within_the_budget() -> None:
    fn = function(ARCS, "arc_length")
    whole = function_context(ARCS, fn)
    ranked = [i.name for i in whole.items]
    assert ranked[:3] == ["pi, sqrt", "FULL_TURN", "check_angle"]  # used imports, constants, helpers; then the rest
    small = function_context(ARCS, fn, budget=60)
    assert [i.name for i in small.items] == ["pi, sqrt", "FULL_TURN", "os"] and small.left_out == 2
    assert sum(len(i.text) + 1 for i in small.items) <= 60
    assert function_context(ARCS, fn, budget=0) == type(whole)((), len(whole.items))


def test_a_long_constant_is_named_not_shown_and_a_class_shows_its_header() -> None:
    context = function_context(ARCS, function(ARCS, "to_degrees"))
    text = context.render()
    assert "UNITS = ...  # a dict, " in text and "sextant" not in text
    assert 'class Arc(NamedTuple):\n    """An arc: its radius and its angle in degrees."""' in text
    assert context.record()["helpers"] == ["Arc"] and "NamedTuple" in context.record()["imports"][2]


def test_a_method_gets_its_class_the_attributes_it_reads_and_the_helpers_it_calls() -> None:
    source = (TINYTEXT / "words.py").read_text(encoding="utf-8")
    context = function_context(source, function(source, "Counter.add", "tinytext/words.py"))
    record = context.record()
    assert record["class"] == {"name": "Counter", "members": ["__init__"]} and record["helpers"] == ["words"]
    text = context.render()
    assert "class Counter:\n    \"\"\"Counts how often each word occurs, case-insensitively.\"\"\"\n" \
           "    def __init__(self):\n        self.counts = {}\n        ..." in text
    assert "def words(text):" in text and "_WORD.findall" not in text


def test_sibling_methods_and_class_attributes_reached_through_self() -> None:
    source = '''class Stack:
    """A bounded stack."""

    LIMIT = 8

    def __init__(self):
        self.items = []
        self.unused = 0

    def full(self) -> bool:
        """Whether no more fits."""
        return len(self.items) >= self.LIMIT

    def push(self, item):
        """Add ``item`` on top."""
        if self.full():
            raise OverflowError(f"more than {self.LIMIT}")
        self.items.append(item)
        return len(self.items)
'''
    context = function_context(source, function(source, "Stack.push", "stack.py"))
    assert context.record()["class"] == {"name": "Stack", "members": ["LIMIT", "__init__", "full"]}
    text = context.render()
    assert "LIMIT = 8" in text and "self.items = []" in text and "self.unused" not in text
    assert 'def full(self) -> bool:\n        """Whether no more fits."""\n        ...' in text
    assert "len(self.items) >=" not in text


def test_a_star_import_counts_when_a_name_is_found_nowhere_else() -> None:
    source = ("from .more import *\nimport sys\n\n\n"
              "def first(iterable):\n    \"\"\"The first item.\"\"\"\n    return take(1, iterable)[0]\n")
    context = function_context(source, function(source, "first", "pkg/recipes.py"))
    assert [i.name for i in context.items] == [".more.*", "sys"]  # the star import first: `take` comes from it
    alone = "from .more import *\n\n\ndef one():\n    \"\"\"One.\"\"\"\n    return 1\n"
    assert [i.name for i in function_context(alone, function(alone, "one", "pkg/recipes.py")).items] == [".more.*"]


def test_no_context_where_the_module_cannot_be_read_as_python() -> None:
    fn = function(ARCS, "arc_length")
    assert function_context("def broken(:\n", fn) == NO_CONTEXT
    assert function_context("x = 1\n", fn) == NO_CONTEXT  # the function is not there
    assert NO_CONTEXT.render() == "(none)" and NO_CONTEXT.record()["left_out"] == 0
    assert module_text("# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n".encode("latin-1")).endswith("café'\n")


class ListBackend(LLMBackend):
    """A scripted test double: one reply for every request; logs requests."""

    def __init__(self, reply: str):
        self.reply = reply
        self.requests: list[GenRequest] = []

    @property
    def model_name(self) -> str:
        return "list"

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        self.requests.extend(requests)
        return [[Completion(self.reply, len(self.reply.split()))] * r.params.n for r in requests]


def test_both_prompts_and_the_task_carry_the_same_context() -> None:
    fn = function(ARCS, "arc_length")
    context = function_context(ARCS, fn)
    backend = ListBackend("1. An arc is a share of the circumference, 2 pi r, in proportion to its angle over a full turn.\n"
                          "2. I check the angle first with the module's guard, then scale the circumference.")
    ReverseCoTWriter(backend).write(fn, context)
    RoundTripWriter(backend).write(fn, ["Scale the circumference."], context)
    reverse, back = (r.messages[-1][1] for r in backend.requests)
    assert context.render() in reverse and context.render() in back
    assert "return 2 * pi" in reverse and "return 2 * pi" not in back  # the round trip never sees the body
    task = problem_of(fn, context)
    assert context.render() in task and "return 2 * pi" not in task
    assert problem_of(fn) == problem_of(fn, NO_CONTEXT) and "Its module" not in problem_of(fn)
    bare = ListBackend("x")
    RoundTripWriter(bare).write(fn, ["Scale."])
    assert "(none)" in bare.requests[0].messages[-1][1]
