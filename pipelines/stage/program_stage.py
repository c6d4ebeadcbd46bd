"""``ProgramStage``: a stage whose LLM work runs as programs on the worker's generation engine.

A subclass says how an element starts (``start``: a program, ``generators.engine.program``, or an
outcome at once, such as ``RESUMED``) and what a finished program's result becomes (``finish``:
an outcome, as ``Stage.run`` returns). The kernel does the rest: ``process`` hands each program
to this process's engine (``BackendHandle.engine``: one per worker process, shared by every
DoFn and thread of it) and emits the outcomes of whichever elements finished meanwhile, holding
back only while ``--inflight`` programs run; ``finish_bundle`` waits for the rest of the bundle.
Counting, dead letters, ``prompt_too_long``, resume and progress bars are the stage kernel's
(``pipelines.stage.kernel``), so they hold for every such stage by construction: a program that
raises, or whose backend call fails, dead-letters its own element only.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from generators.backends.base import PromptTooLong
from generators.backends.handle import BackendHandle
from generators.engine.engine import Engine, Finished
from pipelines.stage.kernel import Filtered, Stage


class ProgramStage(Stage):
    """See the module docstring."""

    def __init__(self, stage: str, handle: BackendHandle):
        super().__init__(stage)
        self.handle = handle

    # --- what a subclass implements -----------------------------------------------------------

    def start(self, element: Any, **side: Any) -> Any:
        """A program for ``element``, or an outcome now (``RESUMED``, ``Filtered``...)."""
        raise NotImplementedError

    def finish(self, element: Any, result: Any) -> Any:
        """The outcome of ``element`` once its program returned ``result``."""
        raise NotImplementedError

    # --- the kernel ---------------------------------------------------------------------------

    def setup(self) -> None:
        self._owner = uuid.uuid4().hex
        self._engine: Engine | None = None

    def engine(self) -> Engine:
        if self._engine is None:  # the model loads on first use, not for an all-resumed run
            self._engine = self.handle.engine()
        return self._engine

    def process(self, element, **side):  # unannotated, as Stage.process
        self.counters.read()
        try:
            started = self.start(element, **side)
        except Exception as exc:  # noqa: BLE001 - one bad element must not stop the run
            self._tick()
            yield self._dead_letter(element, exc)
            return
        if not inspect.isgenerator(started):
            self._tick()
            yield from self._settle(element, started)
            return
        engine = self.engine()
        engine.submit(self._owner, element, started)
        for finished in engine.wait_for_room(self._owner):
            yield from self._complete(finished)

    def finish_bundle(self):
        if self._engine is not None:
            for finished in self._engine.drain(self._owner):
                for out in self._complete(finished):
                    yield _windowed(out)
            self._report_engine()
        super().finish_bundle()

    def _complete(self, finished: Finished) -> Iterator[Any]:
        self._tick()
        element = finished.key
        if finished.error is not None:
            if isinstance(finished.error, PromptTooLong):
                yield from self._settle(element, Filtered(finished.error.reason))
            else:
                yield self._dead_letter(element, finished.error)  # type: ignore[arg-type]
            return
        try:
            outcome = self.finish(element, finished.value)
        except PromptTooLong as exc:
            outcome = Filtered(exc.reason)
        except Exception as exc:  # noqa: BLE001
            yield self._dead_letter(element, exc)
            return
        yield from self._settle(element, outcome)

    def _report_engine(self) -> None:
        """The engine's calls since its last report, as stats: ``engine_calls``, ``call_sequences:BUCKET``
        (calls by sequences per call) and ``engine_span_ms`` (from its first call's start to its
        latest call's end: the time the backend was in use, for tokens/s)."""
        assert self._engine is not None
        calls, sizes, span = self._engine.report()
        if calls:
            self.stat("engine_calls", calls)
        for bucket, n in sizes.items():
            self.stat(f"call_sequences:{bucket}", n)
        if span > 0:
            self.stat("engine_span_ms", round(span * 1000))

    def teardown(self) -> None:
        if self.handle is not None:
            self.handle.release()


def _windowed(out: Any) -> Any:
    """An output of ``finish_bundle``: Beam needs its window and timestamp said (the global window)."""
    if isinstance(out, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(out.tag, WindowedValue(out.value, MIN_TIMESTAMP, [GlobalWindow()]))
    return WindowedValue(out, MIN_TIMESTAMP, [GlobalWindow()])


class CheckedProgramStage(ProgramStage):
    """A ``ProgramStage`` over problems (``Trajectory``) whose programs check answers: one math-verify
    verifier per DoFn instance (``self.verifier``), made in ``setup`` and closed in ``teardown``."""

    def setup(self) -> None:
        from verifiers.math_answer import MathVerifier

        super().setup()
        self.verifier = MathVerifier()

    def preview(self, element: Any) -> str:
        return element.id

    def teardown(self) -> None:
        verifier = getattr(self, "verifier", None)
        if verifier is not None:
            verifier.close()
        super().teardown()
