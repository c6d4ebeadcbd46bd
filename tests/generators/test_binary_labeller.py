"""BinaryLabeller against policies that are test doubles (not models) and the real MathVerifier.

The scripted policy answers wrongly whenever the prefix it continues holds the "BAD" step, so
the true first error is known; ShepherdLabeller (a rollout from every prefix) is the brute force
the search must agree with.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

import pytest

from generators.backends.base import Completion, GenRequest, LLMBackend
from generators.backends.registry import BackendConfig
from generators.backends.scripted_backend import ScriptedBackend
from generators.labelling import BinaryLabeller, LabelSettings, ShepherdLabeller
from generators.labelling.binary import chunk_sizes
from schemas.records import Source, Step, Trajectory
from verifiers.math_answer import MathVerifier, extract_answer

GOLD = "42"


@pytest.fixture(scope="module")
def verifier() -> Iterator[MathVerifier]:
    checker = MathVerifier()
    yield checker
    checker.close()


def solution(m: int, bad: int | None, answer: str | None = None, tid: str = "t") -> Trajectory:
    """``m`` steps, step ``bad`` (if any) marked BAD; the answer is wrong exactly when a step is bad."""
    steps = tuple(Step(f"Step {i}: {'BAD move' if i == bad else 'fine'}.") for i in range(m))
    if answer is None:
        answer = GOLD if bad is None else "0"
    return Trajectory(tid, "What is six times seven?", steps, answer, GOLD, "seed", Source(uri="test://"))


def scripted(rules: list[tuple[str, str]] | None = None, default: str = f"So the answer is {GOLD}.") -> ScriptedBackend:
    import json

    return ScriptedBackend(BackendConfig(backend="scripted", model=json.dumps({"rules": rules or [], "default": default})))


BAD_POLICY_RULES = [("BAD", "So the answer is 0.")]


class CoinPolicy(LLMBackend):
    """Test double: from a prefix without "BAD", each sample reaches the gold answer with
    probability ``p`` (seeded by the request's seed and the sample index); never otherwise.
    Logs every request as (key, n, seed)."""

    name = "coin"

    def __init__(self, p: float):
        self.p = p
        self.log: list[tuple[int, int, int]] = []

    @property
    def model_name(self) -> str:
        return "coin"

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        out = []
        for request in requests:
            self.log.append((request.key, request.params.n, request.params.seed))
            clean = "BAD" not in request.messages[-1][1]
            rolls = [random.Random(f"{request.params.seed}/{i}").random() for i in range(request.params.n)]
            out.append([Completion(f"The answer is {GOLD if clean and r < self.p else 7}.", 5) for r in rolls])
        return out


class SuccessAtSample(LLMBackend):
    """Test double: at a clean prefix only the ``at``-th sample drawn there (0-based, counted over
    every call) is correct; records the size of every call."""

    name = "success-at"

    def __init__(self, at: int):
        self.at = at
        self.drawn: dict[int, int] = {}
        self.sizes: list[int] = []

    @property
    def model_name(self) -> str:
        return "success-at"

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        out = []
        for request in requests:
            key, n = request.key, request.params.n
            start = self.drawn.get(key, 0)
            self.drawn[key] = start + n
            self.sizes.append(n)
            clean = "BAD" not in request.messages[-1][1]
            out.append([Completion(f"The answer is {GOLD if clean and start + i == self.at else 1}.", 5) for i in range(n)])
        return out


def first_false(hard: list[bool | None]) -> int:
    return next((i for i, ok in enumerate(hard) if ok is False), len(hard))


def expected_hard(m: int, bad: int, probes: list[int]) -> list[bool | None]:
    """True before the first error, false at it, at a probed step and at the last one; null elsewhere."""
    return [True if i < bad else False if i == bad or i == m - 1 or i in probes else None for i in range(m)]


@pytest.mark.parametrize("chunk", [2, 8])
def test_finds_every_first_error_and_agrees_with_brute_force(verifier: MathVerifier, chunk: int) -> None:
    settings = LabelSettings(n=8, probe_chunk=chunk)
    for m in range(1, 17):
        for bad in range(m):
            trajectory = solution(m, bad)
            labels = BinaryLabeller(scripted(BAD_POLICY_RULES), verifier, settings).label(trajectory)
            brute = ShepherdLabeller(scripted(BAD_POLICY_RULES), verifier, settings).label(trajectory)
            assert labels.hard == expected_hard(m, bad, labels.probes), (m, bad)
            assert first_false(labels.hard) == first_false(brute.hard) == bad
            # where both measured a step they agree; after the first error only probes and the answer measured
            assert all(b is None or b == s for b, s in zip(labels.hard, brute.hard, strict=True))
            assert all(labels.hard[i] is None for i in range(bad + 1, m - 1) if i not in labels.probes)
            assert len(labels.probes) <= (math.ceil(math.log2(m)) if m > 1 else 0)
            assert len(set(labels.probes)) == len(labels.probes)
            assert labels.answer_correct is False and labels.soft[-1] == 0.0 and labels.rollouts[-1] == 0


def test_completions_spent_are_counted_exactly(verifier: MathVerifier) -> None:
    # all-or-nothing policy: a positive probe stops after its first chunk (2), a negative one spends all 8
    for m, bad in [(8, 0), (8, 3), (8, 7), (13, 5), (16, 15)]:
        backend = scripted(BAD_POLICY_RULES)
        labels = BinaryLabeller(backend, verifier, LabelSettings(n=8, probe_chunk=2)).label(solution(m, bad))
        positive = [i for i in labels.probes if labels.hard[i]]
        negative = [i for i in labels.probes if not labels.hard[i]]
        assert labels.completions_spent == 2 * len(positive) + 8 * len(negative) == sum(labels.rollouts)
        assert labels.backend_calls == backend.calls == len(positive) + 3 * len(negative)  # chunks 2, 2, 4
        for i in range(m):
            probed = i in labels.probes
            assert (labels.soft[i] is None) == (not probed and i != m - 1)
            assert labels.rollouts[i] == (2 if i in positive else 8 if i in negative else 0)
            assert labels.correct[i] == (2 if i in positive else 0)
            if i in positive:
                assert labels.soft[i] == 1.0
            elif i in negative:
                assert labels.soft[i] == 0.0


def test_correct_final_answer_spends_nothing(verifier: MathVerifier) -> None:
    backend = scripted(BAD_POLICY_RULES)
    labels = BinaryLabeller(backend, verifier, LabelSettings(n=8)).label(solution(9, None))
    assert labels.hard == [True] * 9 and labels.answer_correct
    assert labels.soft == [None] * 8 + [1.0] and labels.rollouts == [0] * 9 and labels.correct == [0] * 9
    assert labels.completions_spent == labels.backend_calls == backend.calls == 0 and labels.probes == []


def test_wrong_answer_without_bad_step_blames_the_last_step(verifier: MathVerifier) -> None:
    labels = BinaryLabeller(scripted(BAD_POLICY_RULES), verifier, LabelSettings(n=4)).label(solution(6, None, answer="41"))
    assert labels.hard == [True] * 5 + [False]
    assert labels.probes and all(labels.correct[i] > 0 for i in labels.probes)


def test_steps_after_the_first_error_that_nothing_measured_are_null(verifier: MathVerifier) -> None:
    # m=8, bad=1: probes 3 (negative), 1 (negative), 0 (positive); steps 2, 4, 5, 6 are never rolled out from
    labels = BinaryLabeller(scripted(BAD_POLICY_RULES), verifier, LabelSettings(n=4)).label(solution(8, 1))
    assert labels.probes == [3, 1, 0]
    assert labels.hard == [True, False, None, False, None, None, None, False]
    assert labels.soft == [1.0, 0.0, None, 0.0, None, None, None, 0.0]
    assert labels.rollouts == [2, 4, 0, 4, 0, 0, 0, 0]
    for i, (hard, soft) in enumerate(zip(labels.hard, labels.soft, strict=True)):
        measured = labels.rollouts[i] > 0 or i == 7  # a probe, or the solution's own answer
        assert (soft is not None) == measured
        assert (hard is None) == (not measured and i > 1)  # before the error: covered by the positive probe at 0


def test_chunk_sizes_double_the_total_and_sum_to_k() -> None:
    assert chunk_sizes(8, 2) == [2, 2, 4]
    assert chunk_sizes(16, 2) == [2, 2, 4, 8]
    assert chunk_sizes(8, 3) == [3, 3, 2]
    assert chunk_sizes(8, 8) == chunk_sizes(8, 50) == [8]
    assert chunk_sizes(1, 2) == [1]
    for k in range(1, 40):
        for first in range(1, 10):
            assert sum(chunk_sizes(k, first)) == k


@pytest.mark.parametrize(("at", "sizes", "spent"), [(0, [2], 2), (3, [2, 2], 4), (5, [2, 2, 4], 8), (99, [2, 2, 4], 8)])
def test_adaptive_probe_stops_at_the_first_chunk_with_a_success(verifier: MathVerifier, at: int, sizes: list[int],
                                                               spent: int) -> None:
    backend = SuccessAtSample(at)
    # m=2 and a wrong final answer: exactly one probe, of the first step
    labels = BinaryLabeller(backend, verifier, LabelSettings(n=8, probe_chunk=2)).label(solution(2, None, answer="0"))
    assert labels.probes == [0] and backend.sizes == sizes
    assert labels.rollouts[0] == labels.completions_spent == spent
    found = at < 8
    assert labels.hard == [found, False] and labels.correct[0] == int(found)
    assert labels.soft[0] == pytest.approx(int(found) / spent)


def test_probe_chunk_at_least_n_samples_all_n_at_once(verifier: MathVerifier) -> None:
    backend = SuccessAtSample(0)
    labels = BinaryLabeller(backend, verifier, LabelSettings(n=8, probe_chunk=8)).label(solution(2, None, answer="0"))
    assert backend.sizes == [8] and labels.rollouts[0] == 8 and labels.correct[0] == 1 and labels.soft[0] == 1 / 8


def test_chunks_get_distinct_seeds_and_runs_are_deterministic(verifier: MathVerifier) -> None:
    def run(seed: int) -> tuple[object, list[tuple[int, int, int]]]:
        backend = CoinPolicy(p=0.3)
        labeller = BinaryLabeller(backend, verifier, LabelSettings(n=8, probe_chunk=2, seed=seed))
        results = [labeller.label(solution(12, bad, tid=f"t{bad}")) for bad in range(12)]
        return [(r.hard, r.soft, r.rollouts, r.correct, r.probes) for r in results], backend.log

    first, log = run(0)
    again, log_again = run(0)
    assert first == again and log == log_again
    other, other_log = run(1)
    assert {s for _, _, s in log}.isdisjoint({s for _, _, s in other_log})
    by_prefix: dict[int, list[int]] = {}
    for key, _n, seed in log:
        by_prefix.setdefault(key, []).append(seed)
    assert any(len(seeds) > 1 for seeds in by_prefix.values())  # some probe needed more than one chunk


def test_first_chunk_seed_is_the_shepherd_seed(verifier: MathVerifier) -> None:
    trajectory = solution(5, 2)
    settings = LabelSettings(n=8, probe_chunk=2)
    binary = BinaryLabeller(CoinPolicy(0.5), verifier, settings)
    shepherd = ShepherdLabeller(CoinPolicy(0.5), verifier, settings)
    plain = shepherd.rollout_request(trajectory, 1)
    assert plain.params.n == 8 and binary.rollout_request(trajectory, 1, 2, 0).params.seed == plain.params.seed
    salted = {binary.rollout_request(trajectory, 1, 2, c).params.seed for c in range(4)}
    assert len(salted) == 4


@pytest.mark.parametrize("text", ["", "and then we think some more " * 2000, "\\boxed{\\frac{", "\x00\udcff garbage ∞∞",
                                  "The answer is \\frac{1}{{((", "The answer is \udcff9^∞"])
def test_rollouts_without_a_usable_answer_count_as_failures(verifier: MathVerifier, text: str) -> None:
    labels = BinaryLabeller(scripted(default=text), verifier, LabelSettings(n=4, probe_chunk=2)).label(solution(4, None, "0"))
    assert labels.hard == [False, False, None, False]  # nothing ever reaches the gold answer: the first step is blamed
    assert labels.correct == [0] * 4 and labels.completions_spent == 8  # two negative probes of 4
    assert labels.probes == [1, 0]
    assert labels.rollouts_without_answer == (8 if extract_answer(text) is None else 0)
    if text.strip() == "" or text.startswith("and then"):
        assert labels.rollouts_without_answer == 8


def test_zero_steps_is_an_error(verifier: MathVerifier) -> None:
    with pytest.raises(ValueError, match="without steps"):
        BinaryLabeller(scripted(), verifier, LabelSettings()).label(solution(0, None, "0"))


def test_statistical_policy_agrees_with_brute_force_most_of_the_time(verifier: MathVerifier) -> None:
    # with p = 0.6 and k = 8 a clean prefix misses all samples with chance 0.4**8 ≈ 0.0007
    agree = 0
    cases = [(m, bad) for m in (8, 11, 16) for bad in range(0, m, 2)]
    for m, bad in cases:
        trajectory = solution(m, bad, tid=f"{m}-{bad}")
        settings = LabelSettings(n=8, probe_chunk=2)
        binary = BinaryLabeller(CoinPolicy(0.6), verifier, settings).label(trajectory)
        brute = ShepherdLabeller(CoinPolicy(0.6), verifier, settings).label(trajectory)
        agree += first_false(binary.hard) == first_false(brute.hard) == bad
        assert binary.completions_spent < brute.completions_spent
    assert agree >= len(cases) - 1
