"""The generation engine with the scripted backend (a test double, named as such): merged calls,
results equal to one program at a time, failures confined to their own element, budgets, room."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

import pytest

from generators.backends.base import BackendError, Completion, GenerationParams, GenRequest, PromptTooLong
from generators.backends.registry import BackendConfig, create_backend
from generators.backends.scripted_backend import ScriptedBackend
from generators.engine.engine import Engine, EngineSettings, EngineStats
from generators.engine.program import Program, drive


def scripted(**extra) -> ScriptedBackend:
    script = {"rules": [["boom", "__FAIL__"], ["echo", ["a", "b", "c"]]], "default": "x y", **extra}
    backend = create_backend(BackendConfig(backend="scripted", model=json.dumps(script)))
    assert isinstance(backend, ScriptedBackend)
    return backend


class Recording:
    """Wraps a backend and records the requests of each call (to see what was merged)."""

    def __init__(self, backend: ScriptedBackend):
        self.backend = backend
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        return getattr(self.backend, name)

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        with self._lock:
            self.calls.append([r.messages[-1][1] for r in requests])
        return self.backend.generate(requests)


def ask(text: str, n: int = 1, tokens: int = 8) -> GenRequest:
    return GenRequest.chat([{"role": "user", "content": text}], GenerationParams(n=n, max_new_tokens=tokens))


def rounds(name: str, k: int, width: int = 2) -> Program[list[str]]:
    """``k`` rounds of ``width`` requests; returns every completion's text in order."""
    seen: list[str] = []
    for i in range(k):
        out = yield [ask(f"echo {name} {i} {j}", n=3) for j in range(width)]
        seen += [c.text for completions in out for c in completions]
        if i == 1:
            yield []  # an empty yield is answered at once
    return seen


def run_all(engine: Engine, programs: dict[str, Program], owner: str = "o") -> dict:
    finished = []
    for key, program in programs.items():
        engine.submit(owner, key, program)
        finished += engine.wait_for_room(owner)
    return {f.key: f for f in finished + engine.drain(owner)}


def test_many_programs_merge_into_large_calls_with_the_same_results() -> None:
    alone = {f"p{i}": drive(rounds(f"p{i}", 3), scripted()) for i in range(12)}
    backend = Recording(scripted())
    engine = Engine(backend, EngineSettings(inflight=64, max_batch_sequences=24))
    done = run_all(engine, {f"p{i}": rounds(f"p{i}", 3) for i in range(12)})
    engine.close()
    assert {k: f.value for k, f in done.items()} == alone
    assert all(f.error is None for f in done.values())
    assert max(len(call) for call in backend.calls) == 8  # 24 sequences of n=3: eight requests
    assert len(backend.calls) < 3 * 12  # merged across programs, not one call per yield
    assert sum(engine.stats.sequences.values()) == engine.stats.calls == len(backend.calls)


def test_one_program_raising_fails_its_element_only() -> None:
    def broken() -> Program[None]:
        yield [ask("echo fine")]
        raise ValueError("a bug in this program")

    engine = Engine(scripted(), EngineSettings(inflight=8, max_batch_sequences=8))
    done = run_all(engine, {"bad": broken(), "good": rounds("good", 2)})
    engine.close()
    assert isinstance(done["bad"].error, ValueError) and done["good"].error is None and len(done["good"].value) == 12


def test_a_failing_request_in_a_merged_call_fails_its_own_element_only() -> None:
    def fails() -> Program[None]:
        yield [ask("boom")]

    backend = Recording(scripted())
    engine = Engine(backend, EngineSettings(inflight=8, max_batch_sequences=64))
    done = run_all(engine, {"bad": fails(), **{f"p{i}": rounds(f"p{i}", 2) for i in range(4)}})
    engine.close()
    assert isinstance(done["bad"].error, BackendError)
    assert all(done[f"p{i}"].error is None for i in range(4))
    assert engine.stats.failed_calls >= 1 and (engine.stats.split_calls >= 1 or len(backend.calls[0]) == 1)


def test_a_program_may_handle_its_backend_error() -> None:
    def retries() -> Program[str]:
        try:
            yield [ask("boom")]
        except BackendError:
            out = yield [ask("echo again")]
            return out[0][0].text
        return "unreachable"

    engine = Engine(scripted(), EngineSettings())
    done = run_all(engine, {"r": retries()})
    engine.close()
    assert done["r"].value == "a" and drive(retries(), scripted()) == "a"


def test_a_prompt_over_the_budget_never_reaches_a_merged_call() -> None:
    backend = Recording(scripted(context=20))

    def long() -> Program[None]:
        yield [ask("echo " + "word " * 30)]

    engine = Engine(backend, EngineSettings(inflight=8, max_batch_sequences=64))
    done = run_all(engine, {"long": long(), "short": rounds("short", 1)})
    engine.close()
    assert isinstance(done["long"].error, PromptTooLong) and done["short"].error is None
    assert all("word word" not in text for call in backend.calls for text in call)
    assert engine.stats.failed_calls == 0


def test_no_more_than_inflight_programs_run() -> None:
    engine = Engine(scripted(delay=0.002), EngineSettings(inflight=3, max_batch_sequences=64))
    results = []
    for i in range(10):
        engine.submit("o", i, rounds(str(i), 2))
        results += engine.wait_for_room("o")
        assert engine.running() < 3 + 1
    results += engine.drain("o")
    engine.close()
    assert sorted(f.key for f in results) == list(range(10)) and engine.stats.peak_running <= 3


def test_owners_get_their_own_results() -> None:
    engine = Engine(scripted(), EngineSettings(inflight=16))
    engine.submit("a", 1, rounds("a", 1))
    engine.submit("b", 2, rounds("b", 1))
    assert [f.key for f in engine.drain("a")] == [1] and [f.key for f in engine.drain("b")] == [2]
    engine.close()
    with pytest.raises(BackendError):
        engine.submit("a", 3, rounds("a", 1))


def test_histogram_buckets() -> None:
    stats = EngineStats()
    stats.sequences.update({1: 2, 2: 1, 3: 1, 4: 2, 16: 5, 17: 1})
    assert stats.histogram() == {"1": 2, "2": 1, "3-4": 3, "9-16": 5, "17-32": 1}
