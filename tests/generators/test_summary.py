"""The checks of a summary of a hidden CoT (``generators.summary``): the answer (math-verify), the leak
(tags, copied word n-grams) and the length; the request and the program, driven by the scripted backend
(a test double, not a model). No model."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from common.text_normal import words
from generators.backends.registry import BackendConfig
from generators.backends.scripted_backend import ScriptedBackend
from generators.engine.program import drive
from generators.prompts import template
from generators.summary import (
    ANSWER_MISMATCH,
    LEAKS_COT,
    TOO_LONG,
    SummarySettings,
    check_summary,
    copied_share,
    cot_text,
    has_tag,
    render_cot,
    summary_program,
    summary_request,
)
from schemas.records import GeneratorInfo, SFTRow, Source, Step
from schemas.tags import THINK_END, THINK_START, render_think
from verifiers.math_answer import MathVerifier

STEPS = [Step("There are 55-30 = 25 girls at the track meet.", "Compute"),
         Step("There are (25/5)*3 = 15 girls with long hair.", "Compute"),
         Step("There are 25-15 = 10 girls with short hair.", "Compute")]
COT = cot_text(STEPS)
SETTINGS = SummarySettings()


def settings(**changes: float) -> SummarySettings:
    return SummarySettings(**changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def verifier() -> Iterator[MathVerifier]:
    with MathVerifier() as checker:
        yield checker


def row(steps: list[Step] = STEPS, answer: str = "10", problem: str = "How many girls have short hair?") -> SFTRow:
    return SFTRow("r1", "seed", Source("file:///x"), problem, steps, answer, [], False, "none", "",
                  GeneratorInfo("rules", "rule-tagger", 0.0, 0, "tag_rules/v1"))


def test_the_cot_is_the_sft_rows_rendering_up_to_think_end() -> None:
    cot = render_cot(STEPS)
    assert cot.startswith(THINK_START) and cot.endswith(THINK_END)
    assert render_think(STEPS, "10") == cot + "\n10"  # the SFT row's assistant turn, without its answer
    assert "<ACT_Compute-Start> There are 55-30 = 25 girls at the track meet. <ACT_Compute-End>" in cot
    assert COT == "\n".join(s.text for s in STEPS) and "<" not in COT


@pytest.mark.parametrize("text", ["<Think_Start> x", "so <ACT_Compute-End> and", "<\\Think_End>", "cut <ACT_Comp",
                                  "bare ACT_Verify-Start here", "Think_End", "<think_start>", "<Think_End"])
def test_tags_whole_escaped_cut_or_bare_are_found(text: str) -> None:
    assert has_tag(text)


@pytest.mark.parametrize("text", ["a < b and c > d", "ACT now: think it through", "Thinking ends here. The answer is 3.",
                                  "<b>bold</b>"])
def test_plain_text_holds_no_tag(text: str) -> None:
    assert not has_tag(text)


def test_copied_share_counts_the_cot_words_inside_shared_6_grams() -> None:
    assert copied_share(COT, COT) == 1.0
    assert copied_share("25 girls, 15 with long hair, so 10 short. The answer is 10.", COT) == 0.0
    one_step = "There are 25-15 = 10 girls with short hair. The answer is 10."
    share = copied_share(one_step, COT)
    words_per_step = [len(words(s.text)) for s in STEPS]
    assert share == pytest.approx(words_per_step[2] / sum(words_per_step))
    # case, spacing and punctuation aside, and a copy of 5 words is not a copied 6-gram
    assert copied_share("THERE   ARE 25-15=10 GIRLS WITH short hair!", COT) == pytest.approx(share)
    assert copied_share("there are 25 15 10", COT) == 0.0
    assert copied_share("anything", "") == 0.0


def test_a_cot_shorter_than_the_gram_counts_only_when_copied_whole() -> None:
    assert copied_share("We get 20 + 22 = 42 here.", "20 + 22 = 42") == 1.0
    assert copied_share("We get 22 = 42 here.", "20 + 22 = 42") == 0.0
    assert copied_share("Calculator: 48/2 = 24.", "48/2 = <<48/2=24>>24") == 1.0  # GSM8K's <<...>> is not text


def test_a_good_summary_passes(verifier: MathVerifier) -> None:
    check = check_summary("25 girls, 15 with long hair, so 10 short. The answer is 10.", "10", COT, verifier, SETTINGS)
    assert check.reason is None and check.reasons == () and check.answer == "10" and check.answer_ok
    assert check.copied == 0.0 and 0 < check.ratio < SETTINGS.max_ratio


def test_answer_checked_with_math_verify(verifier: MathVerifier) -> None:
    assert check_summary("So it is \\boxed{\\frac{1}{2}}.", "0.5", "x " * 40, verifier, SETTINGS).reason is None
    wrong = check_summary("The answer is 11.", "10", COT, verifier, SETTINGS)
    assert wrong.reasons == (ANSWER_MISMATCH,) and wrong.answer == "11"
    none = check_summary("The girls with short hair are the rest.", "10", COT, verifier, SETTINGS)
    assert none.reasons == (ANSWER_MISMATCH,) and none.answer is None  # no answer at all: answer_mismatch


def test_a_tag_or_a_copy_leaks(verifier: MathVerifier) -> None:
    tagged = check_summary("<Think_Start> 10 short. The answer is 10.", "10", COT, verifier, SETTINGS)
    assert tagged.reasons == (LEAKS_COT,) and tagged.tagged
    copy = "There are (25/5)*3 = 15 girls with long hair. There are 25-15 = 10 girls with short hair. The answer is 10."
    copied = check_summary(copy, "10", COT, verifier, settings(max_ratio=2.0))
    assert copied.reasons == (LEAKS_COT,) and copied.copied > 0.5 and not copied.tagged
    assert check_summary(copy, "10", COT, verifier, settings(max_ratio=2.0, max_copied=0.7)).reason is None


def test_too_long_against_the_cots_characters(verifier: MathVerifier) -> None:
    cot = "20 + 22 = 42"
    long = check_summary("We add twenty and twenty-two, which gives forty-two. The answer is 42.", "42", cot, verifier,
                         SETTINGS)
    assert long.reasons == (TOO_LONG,) and long.ratio > 1
    exact = "x" * 8  # exactly 0.8 of a 10-character CoT is not shorter than it
    assert check_summary(exact, "42", "y" * 10, verifier, SETTINGS).reasons == (ANSWER_MISMATCH, TOO_LONG)


def test_every_failed_check_is_listed_in_order(verifier: MathVerifier) -> None:
    check = check_summary(COT + " <ACT_Compute-End> The answer is 11.", "10", COT, verifier, SETTINGS)
    assert check.reasons == (ANSWER_MISMATCH, LEAKS_COT, TOO_LONG) and check.reason == ANSWER_MISMATCH


def test_the_request_is_one_user_turn_with_the_problem_and_the_tagged_cot() -> None:
    request = summary_request(row(), render_cot(STEPS), SummarySettings(samples=3, seed=5, max_new_tokens=64))
    assert request.params.n == 3 and request.params.max_new_tokens == 64 and len(request.messages) == 1
    role, content = request.messages[0]
    assert role == "user" and "How many girls have short hair?" in content and render_cot(STEPS) in content
    assert "The answer is X" in content and template("summarize").id == "summarize/v1"
    other = summary_request(row(), render_cot(STEPS), SummarySettings(samples=3, seed=6))
    assert other.params.seed != request.params.seed


def scripted(replies: list[str]) -> ScriptedBackend:
    return ScriptedBackend(BackendConfig(backend="scripted", model=json.dumps({"default": replies})))


def test_the_first_sample_that_passes_is_kept(verifier: MathVerifier) -> None:
    replies = ["The answer is 11.", "<Think_End> The answer is 10.", "25 girls, 10 short. The answer is 10.",
               "Rest short. The answer is 10."]
    result = drive(summary_program(row(), verifier, SummarySettings(samples=4)), scripted(replies))
    assert result.texts == replies and result.kept == 2 and result.reason is None
    assert [c.reason for c in result.checks] == [ANSWER_MISMATCH, LEAKS_COT, None, None]
    assert result.prompt[0]["role"] == "user" and len(result.prompt) == 1


def test_none_passing_gives_the_first_samples_reason(verifier: MathVerifier) -> None:
    result = drive(summary_program(row(), verifier, SummarySettings(samples=2)),
                   scripted(["<Think_End> The answer is 10.", "The answer is 3."]))
    assert result.kept is None and result.reason == LEAKS_COT
