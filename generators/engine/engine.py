"""One generation engine per worker process: many programs at once, their requests merged.

The engine runs *programs* (``generators.engine.program``) for many elements at once and keeps
the backend full:

- up to ``inflight`` programs run at once (``Engine.wait_for_room`` holds a caller back past it);
- every request any running program yields goes to one queue; each of ``lanes`` threads takes
  from it up to ``max_batch_sequences`` sequences (never splitting a request) and makes one
  ``backend.generate`` call of them. A local model has one lane and large calls; a server has
  ``--max-concurrency`` lanes of one request each, so its requests are in flight at once and each
  program goes on as soon as its own completions are back (no call waits for another's);
- one driver thread advances the programs: it hands each program its completions when all the
  requests of its last yield are answered, and queues what it yields next. A lane with a partial
  batch waits only while the driver still has programs to advance (they may add to it);
- each request is checked against the backend's prompt budget before it is queued: a prompt over
  it is thrown into its own program (``PromptTooLong``) and never reaches a merged call;
- a failed call that carried several programs' requests is split, each program's requests sent
  again on their own, so that one element's bad request fails that element only; a failure of a
  program's own call is thrown into the program (which may handle it; else the element fails);
- each finished program's result (or exception) goes to the owner that submitted it
  (``take``/``drain``), as soon as it finishes.

Results depend only on each request (backends sample each request with its own seed), never on
which requests shared a call, so ``inflight`` and ``max_batch_sequences`` change speed, not output.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from generators.backends.base import BackendError, Completion, GenRequest, LLMBackend
from generators.engine.program import Program


@dataclass(frozen=True)
class EngineSettings:
    """How hard one engine drives its backend (``--inflight``, ``--max-batch-sequences``, lanes)."""

    inflight: int = 16  # programs (elements) running at once
    max_batch_sequences: int = 16  # sequences per backend call; a request larger than this goes alone
    lanes: int = 1  # backend calls at once

    def __post_init__(self) -> None:
        if self.inflight < 1 or self.max_batch_sequences < 1 or self.lanes < 1:
            raise ValueError(f"engine settings must be >= 1: {self}")


def engine_settings(backend: LLMBackend, inflight: int | None = None, max_batch_sequences: int | None = None
                    ) -> EngineSettings:
    """Settings sized to ``backend`` (its ``engine_lanes``, ``engine_batch_sequences`` and
    ``engine_inflight``), with ``--inflight``/``--max-batch-sequences`` where given."""
    return EngineSettings(inflight=inflight or backend.engine_inflight,
                          max_batch_sequences=max_batch_sequences or backend.engine_batch_sequences,
                          lanes=backend.engine_lanes)


@dataclass(frozen=True)
class Finished:
    """A program's end: ``value`` its result, or ``error`` the exception that ended it."""

    key: Any
    value: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class _Running:
    owner: Hashable
    key: Any
    program: Program[Any]
    requests: list[GenRequest] = field(default_factory=list)
    results: list[list[Completion] | None] = field(default_factory=list)
    left: int = 0
    error: BaseException | None = None  # a call of this program's requests failed


_Item = tuple[_Running, int, GenRequest]  # (program, index in its last yield, request)


@dataclass
class EngineStats:
    calls: int = 0
    failed_calls: int = 0
    split_calls: int = 0  # failed merged calls sent again one program at a time
    sequences: Counter[int] = field(default_factory=Counter)  # sequences per call → calls
    peak_running: int = 0
    first_start: float | None = None  # monotonic time the first call started
    last_end: float | None = None  # ... and the latest call ended: the span the backend was in use

    @property
    def span(self) -> float:
        return (self.last_end - self.first_start) if self.first_start is not None and self.last_end is not None else 0.0

    def histogram(self) -> dict[str, int]:
        """Calls by sequences per call, in power-of-two buckets (``1``, ``2``, ``3-4``, ``5-8``...)."""
        out: Counter[str] = Counter()
        for size, calls in self.sequences.items():
            top = 1
            while top < size:
                top *= 2
            out[str(top) if top <= 2 else f"{top // 2 + 1}-{top}"] += calls
        return dict(sorted(out.items(), key=lambda kv: int(kv[0].split("-")[-1])))


class Engine:
    """See the module docstring. Thread-safe: any number of owners submit and take at once."""

    def __init__(self, backend: LLMBackend, settings: EngineSettings):
        self.backend = backend
        self.settings = settings
        self.stats = EngineStats()
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._queued = 0  # sequences in _queue
        self._solo: deque[list[_Item]] = deque()  # one program's requests, sent again alone
        self._inbox: deque[tuple[str, Any]] = deque()  # driver work: ("start", running) / ("done", ...)
        self._driving = False
        self._running: Counter[Hashable] = Counter()
        self._total = 0
        self._results: dict[Hashable, deque[Finished]] = {}
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._reported: Counter[int] = Counter()
        self._reported_span = 0.0

    # --- what owners call -----------------------------------------------------------------------

    def submit(self, owner: Hashable, key: Any, program: Program[Any]) -> None:
        """Start ``program`` for ``owner``; its ``Finished`` comes back through ``take``/``drain``."""
        with self._cond:
            if self._closed:
                raise BackendError("the generation engine is closed")
            self._start_threads()
            self._running[owner] += 1
            self._total += 1
            self.stats.peak_running = max(self.stats.peak_running, self._total)
            self._inbox.append(("start", _Running(owner, key, program)))
            self._cond.notify_all()

    def wait_for_room(self, owner: Hashable) -> list[Finished]:
        """Block until fewer than ``inflight`` programs run; then the owner's finished ones (maybe none)."""
        with self._cond:
            self._cond.wait_for(lambda: self._total < self.settings.inflight or self._closed)
            return self._pop(owner)

    def take(self, owner: Hashable) -> list[Finished]:
        """The owner's programs finished so far (without waiting)."""
        with self._cond:
            return self._pop(owner)

    def drain(self, owner: Hashable) -> list[Finished]:
        """Wait for every program of ``owner`` to finish; their results."""
        with self._cond:
            self._cond.wait_for(lambda: self._running[owner] == 0 or self._closed)
            return self._pop(owner)

    def report(self) -> tuple[int, dict[str, int], float]:
        """Calls made since the last report, their sizes (``EngineStats.histogram``'s buckets) and the
        seconds the span of calls grew by: each call is reported once, whichever owner asks."""
        with self._cond:
            new = self.stats.sequences - self._reported
            self._reported = Counter(self.stats.sequences)
            grown, self._reported_span = self.stats.span - self._reported_span, self.stats.span
        return sum(new.values()), EngineStats(sequences=new).histogram(), grown

    def running(self, owner: Hashable | None = None) -> int:
        with self._cond:
            return self._total if owner is None else self._running[owner]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    # --- internals ------------------------------------------------------------------------------

    def _pop(self, owner: Hashable) -> list[Finished]:
        done = self._results.pop(owner, None)
        return list(done) if done else []

    def _start_threads(self) -> None:
        if self._threads:
            return
        self._threads = [threading.Thread(target=self._drive, name="engine-driver", daemon=True)]
        self._threads += [threading.Thread(target=self._lane, name=f"engine-lane-{i}", daemon=True)
                          for i in range(self.settings.lanes)]
        for thread in self._threads:
            thread.start()

    def _finish(self, running: _Running, value: Any = None, error: BaseException | None = None) -> None:
        with self._cond:
            self._results.setdefault(running.owner, deque()).append(Finished(running.key, value, error))
            self._running[running.owner] -= 1
            self._total -= 1
            self._cond.notify_all()

    # the driver: the only thread that advances programs

    def _drive(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._inbox) or self._closed)
                if self._closed:
                    return
                kind, payload = self._inbox.popleft()
                self._driving = True
            try:
                if kind == "start":
                    self._advance(payload, "start", None)
                else:
                    self._route(*payload)
            finally:
                with self._cond:
                    self._driving = bool(self._inbox)
                    self._cond.notify_all()

    def _advance(self, running: _Running, how: str, value: Any) -> None:
        """Resume ``running`` (start it, send it completions, or throw an error in) until it yields
        requests that are queued, or ends."""
        program = running.program
        while True:
            try:
                if how == "start":
                    requests = next(program)
                elif how == "throw":
                    requests = program.throw(value)
                else:
                    requests = program.send(value)
            except StopIteration as stop:
                self._finish(running, value=stop.value)
                return
            except Exception as exc:  # noqa: BLE001 - a bug in one program fails its element only
                self._finish(running, error=exc)
                return
            requests = list(requests or [])
            if not requests:
                how, value = "send", []
                continue
            try:
                for request in requests:
                    self.backend.check_prompt(request)
            except BackendError as exc:
                how, value = "throw", exc
                continue
            running.requests, running.results = requests, [None] * len(requests)
            running.left, running.error = len(requests), None
            with self._cond:
                for i, request in enumerate(requests):
                    self._queue.append((running, i, request))
                    self._queued += max(1, request.params.n)
                self._cond.notify_all()
            return

    def _route(self, batch: list[_Item], outputs: list[list[Completion]] | None, error: BaseException | None) -> None:
        if error is not None:
            owners = {id(running): running for running, _, _ in batch}
            if len(owners) > 1:  # whose request failed it? each program's requests again, alone
                with self._cond:
                    self.stats.split_calls += 1
                    for running in owners.values():
                        self._solo.append([item for item in batch if item[0] is running])
                    self._cond.notify_all()
                return
            running = batch[0][0]
            running.error = error
            running.left -= len(batch)
            self._settle(running)
            return
        assert outputs is not None
        for (running, index, _request), completions in zip(batch, outputs, strict=True):
            running.results[index] = completions
            running.left -= 1
        for running in {id(r): r for r, _, _ in batch}.values():
            self._settle(running)

    def _settle(self, running: _Running) -> None:
        if running.left > 0:
            return
        if running.error is not None:
            self._advance(running, "throw", running.error)
        else:
            self._advance(running, "send", list(running.results))

    # the lanes: each makes backend calls, one at a time

    def _ready(self) -> bool:
        if self._solo:
            return True
        if not self._queue:
            return False
        return self._queued >= self.settings.max_batch_sequences or not (self._driving or self._inbox)

    def _take_batch(self) -> list[_Item]:
        if self._solo:
            return self._solo.popleft()
        batch: list[_Item] = []
        size = 0
        while self._queue:
            n = max(1, self._queue[0][2].params.n)
            if batch and size + n > self.settings.max_batch_sequences:
                break
            batch.append(self._queue.popleft())
            size += n
        self._queued -= size
        return batch

    def _lane(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._ready() or self._closed)
                if self._closed:
                    return
                batch = self._take_batch()
            outputs: list[list[Completion]] | None = None
            error: BaseException | None = None
            started = time.monotonic()
            try:
                outputs = self.backend.generate([request for _, _, request in batch])
                if len(outputs) != len(batch):
                    raise BackendError(f"the backend answered {len(outputs)} of {len(batch)} requests")
            except Exception as exc:  # noqa: BLE001 - routed to the programs of this call
                error = exc
            with self._cond:
                if self.stats.first_start is None or started < self.stats.first_start:
                    self.stats.first_start = started
                self.stats.last_end = time.monotonic()
                self.stats.calls += 1
                self.stats.failed_calls += error is not None
                self.stats.sequences[sum(max(1, r.params.n) for _, _, r in batch)] += 1
                self._inbox.append(("done", (batch, outputs, error)))
                self._cond.notify_all()
