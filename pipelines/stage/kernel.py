"""The stage kernel: one base every DoFn follows, which owns the stage's counting.

After datatrove's ``BaseFilter.run``: a subclass says what happens to an element and the base
counts it, so every stage adds up (read = written + filtered + dead-lettered) by construction.

A subclass implements ``run(element, **side_inputs)`` and returns one *outcome*:

- a value: written, and emitted on the main output;
- ``Emit(*outputs)``: written once, emitting several outputs (``TaggedOutput``s allowed) or none;
- ``Filtered(reason)``: filtered, with its reason;
- ``RESUMED``: already in the output from an earlier run (counted as written and as resumed);
- ``Rejected(reason, error, value)``: dead-lettered with that reason, without an exception;
- ``Pending(value)``: read here and emitted, written or filtered by a later step of the same stage
  (``SelectFirst``, which keeps the first ``--limit`` records of all files in input order);
- or it raises: dead-lettered with ``failure_reason(exc)`` (``backend_error`` for a failed
  backend, else the stage's ``failure``), the exception's type and message as the error; except
  ``PromptTooLong`` (a prompt over the backend's budget, in whichever generator made it), which is
  filtered ``prompt_too_long``: the same for every stage that reaches a model, by construction.

A stage whose one element holds many inputs (a reader: one file, many records) sets
``per_item = True`` and makes ``run`` a generator of outcomes: each yielded outcome is one read,
and an exception part-way is one more read, dead-lettered for the rest of the element. A later
step of a stage that settles what an earlier step read (``Pending``), such as keeping the first of
each id, also sets ``counts_read = False``: its outcomes count, its inputs were counted already.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from generators.backends.base import PromptTooLong
from pipelines.stage.counters import StageCounters
from pipelines.stage.dead_letter import DeadLetter
from pipelines.stage.progress import Progress

DEAD = "dead"
REPORT = "report"  # the tagged output of ``Filtered.report`` records


@dataclass(frozen=True)
class Filtered:
    reason: str
    #: a JSON-able record of what was filtered, for a report file (``WriteReports``) beside the counts
    report: Any = None


@dataclass(frozen=True)
class Rejected:
    reason: str
    error: str
    value: Any = None
    ref: str | None = None  # default: the stage's ``ref(element)``


@dataclass(frozen=True)
class Pending:
    value: Any


class _Resumed:
    def __repr__(self) -> str:
        return "RESUMED"


RESUMED = _Resumed()


class Emit:
    """Written once; emits ``outputs`` (main or tagged), possibly none."""

    def __init__(self, *outputs: Any):
        self.outputs = outputs


class Stage(beam.DoFn):
    """Base of every DoFn; see the module docstring for the contract."""

    failure = "stage_error"
    per_item = False
    counts_read = True

    def __init__(self, stage: str):
        self.stage = stage
        self.counters = StageCounters(stage)

    # --- what a subclass implements or overrides --------------------------------------------

    def run(self, element: Any, **side: Any) -> Any:
        raise NotImplementedError

    def ref(self, element: Any) -> str:
        """Where the element came from, for its dead letter (``FILE:LINE``, a seed id...)."""
        return str(getattr(element, "ref", None) or getattr(element, "id", None) or element)[:500]

    def preview(self, element: Any) -> Any:
        """What the dead letter shows of the element (bounded by ``DeadLetter``)."""
        return getattr(element, "id", None) or element

    def failure_reason(self, exc: Exception) -> str:
        return self.failure

    def stat(self, name: str, n: int = 1) -> None:
        """A statistic outside the balance (tokens, rollouts without an answer...)."""
        self.counters.extra(name, n)

    # --- the kernel ---------------------------------------------------------------------------

    def _tick(self) -> None:
        """One more element done: the stage's progress bar (made on the first one; see ``progress.py``)."""
        bar = self.__dict__.get("_bar")
        if bar is None:
            bar = self.__dict__["_bar"] = Progress(self.stage, unit="item")
        bar.update()

    def finish_bundle(self) -> None:
        """The bar goes with its bundle (subclasses' own ``teardown`` need not remember it)."""
        bar = self.__dict__.pop("_bar", None)
        if bar is not None:
            bar.close()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_bar"}  # a bar stays in its process

    def process(self, element, **side):  # unannotated: Beam would type-check the side inputs as one dict
        if self.per_item:
            yield from self._each(element, side)
            return
        self.counters.read()
        try:
            outcome = self.run(element, **side)
        except PromptTooLong as exc:  # the element asked more of the model than its context holds
            outcome = Filtered(exc.reason)
        except Exception as exc:  # one bad element must not stop the run
            self._tick()
            yield self._dead_letter(element, exc)
            return
        self._tick()  # done with it: the bar counts finished elements
        yield from self._settle(element, outcome)

    def _each(self, element: Any, side: dict[str, Any]) -> Iterator[Any]:
        try:
            for outcome in self.run(element, **side):
                if self.counts_read:
                    self._tick()
                    self.counters.read()
                yield from self._settle(element, outcome)
        except Exception as exc:  # the rest of the element: one dead letter (or one filtered, for a long prompt)
            if self.counts_read:
                self.counters.read()
            if isinstance(exc, PromptTooLong):
                yield from self._settle(element, Filtered(exc.reason))
            else:
                yield self._dead_letter(element, exc)

    def _settle(self, element: Any, outcome: Any) -> Iterator[Any]:
        if isinstance(outcome, Filtered):
            self.counters.filtered(outcome.reason)
            if outcome.report is not None:
                yield beam.pvalue.TaggedOutput(REPORT, outcome.report)
        elif outcome is RESUMED:
            self.counters.resumed()
        elif isinstance(outcome, Rejected):
            self.counters.dead_lettered(outcome.reason)
            ref = outcome.ref if outcome.ref is not None else self.ref(element)
            yield beam.pvalue.TaggedOutput(DEAD, DeadLetter.of(self.stage, outcome.reason, ref, outcome.error,
                                                               outcome.value))
        elif isinstance(outcome, DeadLetter):  # a reader's decoding verdict, already a dead letter
            self.counters.dead_lettered(outcome.reason)
            yield beam.pvalue.TaggedOutput(DEAD, outcome)
        elif isinstance(outcome, Pending):
            yield outcome.value
        elif isinstance(outcome, Emit):
            self.counters.written()
            yield from outcome.outputs
        else:
            self.counters.written()
            yield outcome

    def _dead_letter(self, element: Any, exc: Exception) -> beam.pvalue.TaggedOutput:
        letter = DeadLetter.of_failure(self.stage, exc, self.ref(element), self.preview(element), self.failure_reason(exc))
        self.counters.dead_lettered(letter.reason)
        return beam.pvalue.TaggedOutput(DEAD, letter)
