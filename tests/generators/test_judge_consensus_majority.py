"""The LLM judge, consensus labels and the majority-vote gold answer, as plain programs.

Policies are scripted (test doubles, not models): the judge's reply is chosen by the step it is
asked about (the step's text is followed by the question in its prompt), the solver's samples by a
list cycled over the n completions of a request. Answers are grouped by the real MathVerifier.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest

from generators.backends.base import Completion
from generators.backends.registry import BackendConfig
from generators.backends.scripted_backend import ScriptedBackend
from generators.engine.program import drive
from generators.labelling.consensus import combine, first_error
from generators.labelling.judge import JudgeSettings, judge_program, judge_request, parse_verdict, soft_verdict
from generators.labelling.majority import MajoritySettings, Vote, answer_classes, majority_program
from schemas.records import Source, Step, Trajectory
from verifiers.math_answer import MathVerifier

QUESTION = "\n\nIs the step"  # what follows the judged step in the judge_step prompt


@pytest.fixture(scope="module")
def verifier() -> Iterator[MathVerifier]:
    checker = MathVerifier()
    yield checker
    checker.close()


def scripted(rules: list[tuple[str, object]], default: object = "correct") -> ScriptedBackend:
    return ScriptedBackend(BackendConfig(backend="scripted", model=json.dumps({"rules": rules, "default": default})))


def solution(*steps: str, gold: str | None = "42") -> Trajectory:
    return Trajectory("t", "What is six times seven?", tuple(Step(s) for s in steps), "42", gold, "seed", Source("test://"))


@pytest.mark.parametrize(("reply", "verdict"), [
    ("correct", True), ("Correct.", True), ("**Incorrect**", False), ("The step is not correct.", False),
    ("It is wrong: 6*7 is 42", False), ("This is right.", True), ("I cannot tell.", None), ("", None),
    ("incorrectly... no, correct", True),  # a word that merely contains the verdict is not one
])
def test_parse_verdict(reply: str, verdict: bool | None) -> None:
    assert parse_verdict(reply) is verdict


def test_soft_verdict_is_the_reply_probability_when_the_reply_is_the_word_alone() -> None:
    lp = math.log(0.8)
    assert soft_verdict(Completion("correct", 1, logprob=lp), True) == pytest.approx(0.8)
    assert soft_verdict(Completion(" Incorrect.\n", 2, logprob=lp), False) == pytest.approx(0.2)
    assert soft_verdict(Completion("correct", 1, logprob=None), True) is None  # the backend gave no log-prob
    assert soft_verdict(Completion("The step is correct", 4, logprob=lp), True) is None  # not the answer token alone
    assert soft_verdict(Completion("hmm", 1, logprob=lp), None) is None


def test_the_judge_sees_the_steps_before_and_the_step_and_never_the_gold() -> None:
    trajectory = solution("six times seven", "is 42", "The answer is 42.")
    first, third = (judge_request(trajectory, k, JudgeSettings()) for k in (0, 2))
    assert "six times seven" in first.messages[-1][1] and "Steps so far" not in first.messages[-1][1]
    user = third.messages[-1][1]
    assert "Step 1: six times seven\nStep 2: is 42" in user and "The answer is 42." + QUESTION in user
    assert first.params.temperature == 0.0 and first.params.logprobs and first.params.n == 1
    assert "gold" not in json.dumps(third.messages).lower()


def test_the_judge_labels_up_to_its_first_wrong_step_and_null_after() -> None:
    backend = scripted([("b BAD" + QUESTION, "incorrect"), ("d" + QUESTION, "incorrect"), ("c ???" + QUESTION, "hmm")])
    verdicts = drive(judge_program(solution("a", "c ???", "b BAD", "d", "e"), JudgeSettings()), backend)
    assert verdicts.first_error == 2 and backend.calls == 1  # one yield: every step's question at once
    assert verdicts.hard == [True, None, False, None, None]  # unparsed: null; after the first error: null
    assert verdicts.unparsed == 1 and verdicts.replies[3] == "incorrect"  # asked, but not a label
    # the scripted backend's first completion has log-prob -1
    assert verdicts.soft == [pytest.approx(math.exp(-1)), None, pytest.approx(1 - math.exp(-1)), None, None]
    clean = drive(judge_program(solution("a", "b"), JudgeSettings()), scripted([]))
    assert clean.hard == [True, True] and clean.first_error is None


def test_consensus_keeps_a_label_where_mc_and_the_judge_agree() -> None:
    agreed = combine([True, False, None, False], [True, False, None, None])
    assert agreed.labels == [True, False, None, None] and agreed.agreement == 1.0 and agreed.agrees_on_first_error
    lucky = combine([True, True, True, False], [True, False, None, None])  # MC: a wrong step, then a lucky answer
    assert lucky.labels == [True, None, None, None] and lucky.agreement == 0.5 and lucky.disagreeing_steps == 1
    assert (lucky.mc_first_error, lucky.judge_first_error) == (3, 1) and not lucky.agrees_on_first_error
    assert combine([None], [None]).agreement is None and first_error([True, None, True]) is None
    with pytest.raises(ValueError):
        combine([True], [True, True])


def vote(verifier: MathVerifier, replies: list[str], min_majority: float = 0.5) -> Vote:
    backend = scripted([], default=replies)
    settings = MajoritySettings(k=len(replies), min_majority=min_majority)
    return drive(majority_program(solution("x", gold=None), verifier, settings), backend)


def test_majority_gold_six_twelves_two_fourteens(verifier: MathVerifier) -> None:
    result = vote(verifier, ["The answer is 12."] * 3 + ["The answer is 14."] * 2 + ["The answer is 12.0."] * 3)
    assert result.classes == [("12", 6), ("14", 2)]  # 12.0 is 12 by math-verify
    assert result.gold == "12" and result.share == 0.75


def test_a_tie_or_a_share_under_the_bar_has_no_gold(verifier: MathVerifier) -> None:
    tie = ["The answer is 12."] * 4 + ["The answer is 14."] * 4
    assert vote(verifier, tie, 0.6).gold is None and vote(verifier, tie, 0.6).share == 0.5
    assert vote(verifier, tie, 0.5).gold is None  # a tie is never a majority
    # samples without an answer count in the share
    few = ["The answer is 12."] * 3 + ["I give up"] * 5
    assert vote(verifier, few).share == 0.375 and vote(verifier, few).gold is None
    assert vote(verifier, few, 0.3).gold == "12"
    assert vote(verifier, ["no idea"] * 4).gold is None


def test_answer_classes_group_by_math_verify(verifier: MathVerifier) -> None:
    classes = answer_classes(["1/2", "0.5", None, "\\frac{1}{2}", "3", "0.5"], verifier)
    assert classes[0][1] == 4 and classes[0][0] == "0.5" and classes[1] == ("3", 1)
