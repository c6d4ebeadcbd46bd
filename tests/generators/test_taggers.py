"""Taggers: the rule tier on the labelled set, human factors kept, the LLM tier and its fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generators.backends.base import BackendError
from generators.backends.registry import BackendConfig, create_backend
from generators.tagging import LLMTagger, RuleTagger, make_tagger, parse_answer
from generators.tagging.rules import code_only, final_index
from schemas.factors import load_factors, parse_factors
from schemas.records import Step

VOCABULARY = load_factors()
LABELLED = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "factor_steps.jsonl"


def chains() -> list[dict]:
    return [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_labelled_set_covers_every_factor() -> None:
    labels = [s["factor"] for c in chains() for s in c["steps"]]
    assert len(labels) >= 60 and set(labels) == set(VOCABULARY.names)


def test_rule_tagger_accuracy_on_the_labelled_set() -> None:
    tagger = RuleTagger(VOCABULARY)
    pairs = [(s["factor"], d.factor) for c in chains()
             for s, d in zip(c["steps"], tagger.tag([Step(s["text"]) for s in c["steps"]], c["problem"]), strict=True)]
    accuracy = sum(a == b for a, b in pairs) / len(pairs)
    print(f"rule tagger accuracy: {accuracy:.3f} on {len(pairs)} steps")
    assert accuracy >= 0.8
    for name in VOCABULARY.names:  # every factor is found at least once where the label says so
        assert any(a == b == name for a, b in pairs), name


def test_rule_tagger_recognises_the_vocabulary_examples() -> None:
    tagger = RuleTagger(VOCABULARY)
    for factor in VOCABULARY.factors:
        for example in factor.examples:
            assert tagger.decide(example, 1, 3).factor == factor.name, example


def test_rules_use_position_signals_and_default() -> None:
    tagger = RuleTagger(VOCABULARY)
    plain = "Natalia has some clips"
    first, middle, last = tagger.tag([Step(plain), Step(plain), Step(plain)])
    assert (first.factor, middle.factor, last.factor) == ("RephraseTarget", "Compute", "Conclude")
    assert middle.unsure and middle.confidence == 0.0  # nothing voted: the vocabulary's default
    code = tagger.decide("```python\ndef f(x):\n    return x + 1\n```", 1, 3)
    assert code.factor == "Compute" and not code.unsure
    assert tagger.decide("rw [h₀] at h₁", 1, 3).factor == "Compute"


@pytest.mark.parametrize("text", [
    "The next step is to find out how many more tokens Sandy will have than any of her siblings.",
    "The next step is to multiply 900 by 25.",
    "First, let's find the cost of the pens.",
    "Next, we find the cost of the notebooks.",
    "Then we need to work out how long the second leg takes.",
    "Now we need to compute the area of the triangle.",
    "Let's find how many apples he gives away in total.",
    "We need to look at the last two digits only.",
])
def test_planning_lines_are_decompose_not_compute(text: str) -> None:
    decision = RuleTagger(VOCABULARY).decide(text, 2, 6)
    assert decision.factor == "Decompose", text


@pytest.mark.parametrize("text", [
    "The next step is to multiply 25 by 30: 25 * 30 = 750.",
    "First find the total practice time per day: 60 minutes + 20 minutes = 80 minutes",
    "Then multiply that number by 6 to find the total: 2400 * 6 = 14400 pieces",
])
def test_a_planned_step_that_reaches_its_result_is_compute(text: str) -> None:
    assert RuleTagger(VOCABULARY).decide(text, 2, 6).factor == "Compute", text


@pytest.mark.parametrize("text, index, factor", [
    ("1. I need to turn a title into a URL slug: lowercase words joined by hyphens.", 0, "RephraseTarget"),
    ("We are looking for a two-digit number equal to the square of the sum of its digits.", 0, "RephraseTarget"),
    ("2. The plan is to normalise the case, drop punctuation, and then join the words with hyphens.", 1, "Decompose"),
    ("Instead of adding up the sum, we can find the residue of each number.", 1, "Proposer"),
    ("Let me list the candidates: 18, 27, 36, 45.", 1, "Proposer"),
    ("Therefore, we have 11 + 11^2 + ... + 11^9 = 459 (mod 100), so 59.", 2, "Compute"),
    ("Since any positive integer is a multiple of 5 plus its last digit, only the last digit matters.", 0, "Compute"),
    ("4. An empty list should simply give an empty result, and the loop already does that.", 3, "Verify"),
    ("Two pointers would avoid the copy, but that doesn't help here.", 2, "Refute"),
    ("Hmm, I misread the question: it asks for the perimeter, so 2 * (4 + 5) = 18 instead.", 2, "SelfCorrect"),
    ("In total, Anna ate 4 + 8 + 2 = 14 apples.", 5, "Conclude"),
    ("6. The function returns the list of pieces.", 5, "Conclude"),
    ("Maybe the answer is 7 * 6 * 5 = 210.", 1, "Proposer"),
])
def test_each_factor_from_the_rulebook(text: str, index: int, factor: str) -> None:
    assert RuleTagger(VOCABULARY).decide(text, index, 6).factor == factor, text


def test_the_chain_concludes_before_a_trailing_tactic_block() -> None:
    steps = [Step("When you divide 139 steps by 11 steps, you get 12 with a remainder of 7."),
             Step("Therefore, Tim lands on step 7."), Step("simp_all only [one_div]\nlinarith")]
    assert final_index([s.text for s in steps]) == 1 and code_only(steps[2].text) and not code_only(steps[1].text)
    assert [d.factor for d in RuleTagger(VOCABULARY).tag(steps)] == ["Compute", "Conclude", "Compute"]
    mid = RuleTagger(VOCABULARY).tag([Step("Thus x - p = (2 - p) - p = 2 - 2p."), Step("The answer is 2 - 2p.")])
    assert [d.factor for d in mid] == ["Compute", "Conclude"]


def test_rulebook_skips_factors_a_custom_vocabulary_lacks() -> None:
    vocabulary = parse_factors({"default": "Note", "factors": [{"name": "Note", "description": "anything"}]})
    assert RuleTagger(vocabulary).rules == ()
    assert RuleTagger(vocabulary).decide("The next step is to find out the total.", 1, 3).factor == "Note"


def test_human_factors_are_kept() -> None:
    steps = [Step("The answer is 4.", "Verify"), Step("Wait, 2 + 2 = 4."), Step("x", "Decompose")]
    decisions = RuleTagger(VOCABULARY).tag(steps)
    assert [(d.factor, d.tier) for d in decisions] == [("Verify", "human"), ("SelfCorrect", "rules"), ("Decompose", "human")]


def test_custom_vocabulary_drives_the_rules() -> None:
    vocabulary = parse_factors({"default": "Note", "factors": [
        {"name": "Note", "description": "anything else"},
        {"name": "Check", "description": "checks", "cues": ["double check", "re:^sanity\\b"]},
        {"name": "Calc", "description": "computes", "signals": ["arithmetic"]},
    ]})
    tagger = RuleTagger(vocabulary)
    texts = ["Sanity: fine.", "We double check it.", "So 3 * 4 = 12.", "Hello."]
    assert [d.factor for d in tagger.tag([Step(t) for t in texts])] == ["Check", "Check", "Calc", "Note"]


def test_huge_step_is_tagged_quickly_enough_to_finish() -> None:
    decision = RuleTagger(VOCABULARY).decide("Wait, " + "x " * 2_500_000, 0, 1)
    assert decision.factor == "SelfCorrect"


@pytest.mark.parametrize("answer, factor", [
    ("Compute", "Compute"), ("  verify.", "Verify"), ('"SelfCorrect"', "SelfCorrect"), ("Answer: Refute", "Refute"),
    ("The label is Conclude", "Conclude"), ('The kind of the step is "Decompose" here', "Decompose"),
    ("**Proposer**\nmore text", "Proposer"), ("", None), ("I think it computes", None),
    ("Compute or Verify? Hard to say", "Compute"), ("Either Verify or Refute", None), ("Guess", None),
])
def test_parse_answer(answer: str, factor: str | None) -> None:
    assert parse_answer(answer, VOCABULARY.names) == factor


def scripted(rules: list[tuple[str, str]], default: str = "I am not sure.") -> object:
    return create_backend(BackendConfig(backend="scripted", model=json.dumps({"rules": rules, "default": default})))


def test_llm_tagger_answers_and_falls_back_to_the_rules() -> None:
    backend = scripted([("Step: first", "Decompose"), ("Step: second", "Verify\nbecause ...")], default="no idea")
    steps = [Step("first we plan"), Step("second, 3 + 4 = 7"), Step("Wait, 7 is wrong."), Step("kept", "Conclude")]
    decisions = LLMTagger(backend, VOCABULARY).tag(steps, "P?")
    assert [(d.factor, d.tier) for d in decisions] == [
        ("Decompose", "llm"), ("Verify", "llm"), ("SelfCorrect", "llm_fallback"), ("Conclude", "human")]
    assert backend.calls == 1  # all steps of a CoT in one backend call


def test_both_asks_the_llm_only_where_the_rules_are_unsure() -> None:
    backend = scripted([], default="Refute")
    steps = [Step("Let's check: 2 + 2 = 4."), Step("Some plain words here"), Step("The answer is 4.")]
    tagger = make_tagger("both", VOCABULARY, backend)
    decisions = tagger.tag(steps)
    assert [(d.factor, d.tier) for d in decisions] == [("Verify", "rules"), ("Refute", "llm"), ("Conclude", "rules")]
    assert tagger.prompt_version == "tag_factor/v1" and make_tagger("rules", VOCABULARY).prompt_version == "tag_rules/v1"
    sure = [Step("Let's check: 2 + 2 = 4.")]
    calls = backend.calls
    tagger.tag(sure)
    assert backend.calls == calls  # nothing unsure: no model call


def test_llm_prompt_is_the_template_with_the_vocabulary() -> None:
    tagger = LLMTagger(scripted([]), VOCABULARY)
    request = tagger.request([Step("x " * 1000)], 0)
    messages = request.message_dicts()
    assert messages[0]["role"] == "system" and "- SelfCorrect: Finds and fixes its own earlier mistake." in messages[0]["content"]
    assert [m["content"] for m in messages if m["role"] == "assistant"] == list(VOCABULARY.names)
    assert messages[-1]["content"].startswith("Step: x x") and len(messages[-1]["content"]) < 700  # long steps are clipped
    assert request.params.temperature == 0.0


def test_backend_errors_propagate_and_tiers_need_a_backend() -> None:
    with pytest.raises(BackendError):
        LLMTagger(scripted([], default="__FAIL__"), VOCABULARY).tag([Step("a")])
    with pytest.raises(ValueError, match="needs an LLM backend"):
        make_tagger("llm", VOCABULARY)
    with pytest.raises(ValueError, match="unknown tagger"):
        make_tagger("magic", VOCABULARY, scripted([]))


@pytest.mark.model
def test_llm_tagger_on_the_embedded_model(embedded_model_dir: Path) -> None:
    backend = create_backend(BackendConfig(threads=1, max_batch_size=4))
    try:
        steps = [Step("We need to find the total."), Step("48 / 2 = 24."), Step("Wait, I made a mistake."),
                 Step("The answer is 72.")]
        decisions = LLMTagger(backend, VOCABULARY).tag(steps, "How many clips?")
    finally:
        backend.close()
    assert len(decisions) == 4
    for decision in decisions:
        assert decision.factor in VOCABULARY and decision.tier in ("llm", "llm_fallback")
    print("embedded model tags:", [(d.factor, d.tier) for d in decisions])
