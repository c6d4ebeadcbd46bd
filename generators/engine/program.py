"""Generators as resumable programs: the LLM work of one element as a Python generator.

A *program* yields the list of requests it needs next, receives their completions (one list per
request, in order), and returns its result::

    def label(trajectory) -> Program[StepLabels]:
        completions = yield [request_a, request_b]
        ...
        return labels

A program never calls a backend, so the logic of a search or a labeller stays plain Python,
testable without Beam or a model. ``drive`` runs one program against a backend, one yield per
call (the plain path: tools, unit tests); ``generators.engine.engine.Engine`` runs many at once
and merges their requests into large backend calls. A yield of an empty list is answered with an
empty list at once.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

from generators.backends.base import Completion, GenRequest, LLMBackend

T = TypeVar("T")
Program = Generator[list[GenRequest], list[list[Completion]], T]


def drive(program: Program[T], backend: LLMBackend) -> T:
    """Run ``program`` to its end against ``backend``, each yield one ``generate`` call; its result.

    A backend error is thrown into the program at its yield (it may handle it, as under the engine)."""
    try:
        requests = next(program)
        while True:
            try:
                results = backend.generate(requests) if requests else []
            except Exception as exc:  # noqa: BLE001 - the program decides; else it propagates
                requests = program.throw(exc)
                continue
            requests = program.send(results)
    except StopIteration as stop:
        return stop.value


def sequences(requests: list[GenRequest]) -> int:
    """Sequences a list of requests asks for (the ``n`` of each)."""
    return sum(max(1, r.params.n) for r in requests)
