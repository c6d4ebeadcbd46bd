"""Math answers: extraction from free text and verification with the real math-verify (no mocks)."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator

import pytest

from verifiers.math_answer import TAIL_CHARS, MathVerifier, VerifyResult, extract_answer

# sympy never finishes factorial(10^(10^8)); math-verify's alarm or our wall-clock bound must stop it.
NEVER_FINISHES = "10^{10^{8}}!"


@pytest.fixture(scope="module")
def verifier() -> Iterator[MathVerifier]:
    with MathVerifier() as v:
        yield v


# ----------------------------------------------------------------------------- extract_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so the result is \\boxed{\\frac{1}{\\sqrt{2}}} indeed", "\\frac{1}{\\sqrt{2}}"),
        ("first \\boxed{3}, then corrected: \\boxed{4}", "4"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("good \\boxed{7} then a broken \\boxed{8", "7"),
        ("\\boxed{1,000}", "1000"),
        ("The answer is 18.", "18"),
        ("The answer is $18.", "18"),
        ("Answer: $18.00", "18.00"),
        ("The final answer is 1,234,567 dollars.", "1234567"),
        ("The answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("The answer is **-3**.", "-3"),
        ("The answer is x = 5.", "5"),
        ("The answer is (3, 4).", "(3, 4)"),
        ("So the final answer is:\n\n42", "42"),
        ("the answer is 5. Checking the answer: yes", "5"),
        ("Janet sells 16 - 3 - 4 = 9 eggs.\n#### 18", "18"),
        ("#### 1,000\n", "1000"),
        ("The answer is 3.\n#### 18", "18"),
        ("#### 18\nso \\boxed{20}", "20"),
        # where tag's own extractor (now removed) gave "": its regex took one level of nested braces, no \\fbox
        ("so \\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}"),
        ("\\fbox{7}", "7"),
        ("\\boxed{a^{b^{c}}}", "a^{b^{c}}"),
        ("\\boxed{\\left\\{1, \\{2\\}\\right\\}}", "\\left\\{1, \\{2\\}\\right\\}"),
        ("The answer is 42.", "42"),
    ],
)
def test_extract_answer(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "I computed 12 and then 13 but I am not sure.", "The answer is yes.", "\\boxed{}", "\\boxed{5"],
)
def test_extract_answer_none_without_a_stated_answer(text: str) -> None:
    assert extract_answer(text) is None


def test_extract_answer_last_number_only_on_request() -> None:
    text = "We get 3-5 options, totalling 1,200 apples."
    assert extract_answer(text) is None
    assert extract_answer(text, fallback_last_number=True) == "1200"


def test_extract_answer_reads_only_the_tail() -> None:
    assert extract_answer("The answer is 5." + "x" * TAIL_CHARS) is None
    assert extract_answer("y" * 10_000_000 + " The answer is 6.") == "6"


def test_extract_answer_non_ascii() -> None:
    assert extract_answer("Réponse… donc 🤔 la réponse est \\boxed{42} ✓") == "42"
    assert extract_answer("答案 The answer is π.") == "π"


# ----------------------------------------------------------------------------- verify


@pytest.mark.parametrize(
    ("gold", "answer", "correct"),
    [("72", "72.0", True), ("1,000", "1000", True), ("1000", "$1,000.", True), ("3", "4", False), ("-3", "3", False)],
)
def test_plain_numbers_take_the_fast_path(verifier: MathVerifier, gold: str, answer: str, correct: bool) -> None:
    assert verifier.verify(gold, answer) == VerifyResult(correct, "ok", "numeric comparison")


@pytest.mark.parametrize(
    ("gold", "answer", "correct"),
    [
        ("\\frac{1}{2}", "0.5", True),
        ("0.5", "\\frac{1}{2}", True),
        ("\\frac{1}{2}", "\\frac{1}{3}", False),
        ("2\\sqrt{3}", "\\sqrt{12}", True),
        ("0.5", "0.25", False),
        ("5", "x = 5", True),
    ],
)
def test_latex_through_math_verify(verifier: MathVerifier, gold: str, answer: str, correct: bool) -> None:
    result = verifier.verify(gold, answer)
    assert (result.correct, result.status) == (correct, "ok")


def test_verify_text(verifier: MathVerifier) -> None:
    assert verifier.verify_text("18", "16 - 3 - 4 = 9, 9 * 2 = 18\n#### 18").correct
    assert verifier.verify_text("18", "Adding up, the answer is 18.").correct
    assert verifier.verify_text("\\frac{1}{2}", "Hence $p = \\boxed{\\dfrac{1}{2}}$.").correct
    assert not verifier.verify_text("18", "The answer is 19.").correct


def test_no_answer(verifier: MathVerifier) -> None:
    assert verifier.verify_text("18", "I think it is about 18 or so").status == "no_answer"
    assert verifier.verify("18", None) == VerifyResult(False, "no_answer", "no final answer")
    assert verifier.verify("18", "   ").status == "no_answer"
    assert verifier.verify_text("18", "it is about 18", fallback_last_number=True).correct


def test_garbage_is_not_correct_and_does_not_crash(verifier: MathVerifier) -> None:
    assert verifier.verify("\\frac{1}{2}", "}{\\frac{{") == VerifyResult(False, "unparsable", "answer unparsable")
    assert verifier.verify("}{\\frac{{", "3").status == "error"
    assert not verifier.verify("1", "\\\\\\{{{$$$").correct
    assert verifier.verify("1", "1").correct  # the worker is still serving


def test_huge_inputs_are_bounded(verifier: MathVerifier) -> None:
    assert verifier.verify("18", "9" * 100_000).status == "unparsable"
    assert verifier.verify("1" * 5000, "1").status == "error"
    assert verifier.verify_text("18", "blah " * 2_000_000 + "The answer is 18.").correct


def test_non_ascii(verifier: MathVerifier) -> None:
    assert verifier.verify("\\pi", "π").correct
    assert verifier.verify_text("42", "Réponse finale… 🤔 \\boxed{42}").correct
    assert not verifier.verify("42", "四十二").correct


def test_from_other_threads(verifier: MathVerifier) -> None:
    cases = [("\\frac{1}{2}", "0.5", True), ("\\sqrt{2}", "2^{1/2}", True), ("\\frac{1}{3}", "0.5", False)] * 2
    results: list[VerifyResult | None] = [None] * len(cases)

    def run(i: int) -> None:
        results[i] = verifier.verify(*cases[i][:2])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [(r.correct, r.status) if r else None for r in results] == [(c, "ok") for *_, c in cases]


def test_pickle_round_trip() -> None:
    with MathVerifier(timeout_s=20.0) as original:
        assert original.verify("\\frac{1}{2}", "0.5").correct  # the child is running now
        with pickle.loads(pickle.dumps(original)) as copy:
            assert copy.timeout_s == 20.0
            assert copy.verify("\\frac{2}{4}", "\\frac{1}{2}").correct
        assert original.verify("\\frac{1}{4}", "0.25").correct


def test_close_is_idempotent_and_a_later_call_restarts() -> None:
    v = MathVerifier()
    v.close()
    assert v.verify("\\frac{1}{2}", "0.5").correct
    v.close()
    v.close()
    assert v.verify("\\frac{1}{2}", "0.5").correct
    v.close()


def test_wall_clock_bound_kills_the_worker_and_recovers() -> None:
    with MathVerifier(timeout_s=0.5, inner_timeout_s=60) as v:
        assert v.verify(NEVER_FINISHES, "3").status == "timeout"
        v.timeout_s = 30.0  # the recovery check must not race the clock
        assert v.verify("\\frac{1}{2}", "0.5") == VerifyResult(True, "ok", "math-verify: equal")


def test_math_verify_own_timeout_works_in_the_child() -> None:
    with MathVerifier(timeout_s=60.0, inner_timeout_s=1) as v:
        result = v.verify(NEVER_FINISHES, "3")
        assert (result.correct, result.status) == (False, "timeout")
        assert "math-verify" in result.detail  # the inner alarm, not the outer kill
