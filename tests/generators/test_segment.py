"""Segmentation on real text: GSM8K solutions, o1-style passages, Lean informal solutions; formulas and code stay whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from generators.tagging.segment import SegmentOptions, segment, split_answer
from schemas.seed_import import gsm8k_to_seed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("record", lines("gsm8k_sample.jsonl"), ids=lambda r: r["question"][:30])
def test_gsm8k_solution_lines_are_the_steps(record: dict) -> None:
    body, answer = split_answer(record["answer"])
    seed = gsm8k_to_seed(record)
    assert answer == record["answer"].rsplit("####", 1)[1].strip()
    assert segment(body) == [s["text"] for s in seed["steps"]]  # one step a line, calculator marks gone
    assert not any("<<" in s or "####" in s for s in segment(body))


# o1-style passages built from the cue phrases quoted in SPEC "Thought factors".
O1_PASSAGE = (
    "So the user wants the number of clips sold in April and May. We need to find the total.\n\n"
    "Approach: first, find May's sales, then add April's. "
    "Maybe May is half of April. Let's try 48 / 2 = 24. "
    "Wait, I made a mistake: the question says half as many, so 24 is right after all. "
    "Let's check: 24 * 2 = 48. Indeed. "
    "Alternatively, we could add first. That doesn't work: we need May's number first. "
    "Therefore 48 + 24 = 72. The answer is 72."
)


def test_o1_passage_splits_at_discourse_markers() -> None:
    assert segment(O1_PASSAGE) == [
        "So the user wants the number of clips sold in April and May. We need to find the total.",
        "Approach: first, find May's sales, then add April's.",
        "Maybe May is half of April.",
        "Let's try 48 / 2 = 24.",
        "Wait, I made a mistake: the question says half as many, so 24 is right after all.",
        "Let's check: 24 * 2 = 48.",
        "Indeed.",
        "Alternatively, we could add first.",
        "That doesn't work: we need May's number first.",
        "Therefore 48 + 24 = 72.",
        "The answer is 72.",
    ]


@pytest.mark.parametrize("record", lines("minif2f_valid_sample.jsonl"), ids=lambda r: r["name"])
def test_lean_informal_solutions(record: dict) -> None:
    proof = record["formal_proof"]
    steps = segment(proof)
    tactics = proof.split("-/", 1)[1].strip("\n")
    assert steps[-1] == "\n".join(line[2:] if line.startswith("  ") else line for line in tactics.split("\n")).strip()
    prose = steps[:-1]
    assert prose, "the informal solution gives at least one step"
    for step in prose:
        assert "/-" not in step and "-/" not in step
        assert step.count("\\begin{") == step.count("\\end{"), step  # no formula cut in two
        assert step.count("$$") % 2 == 0 and step.count("\\[") == step.count("\\]"), step
    # the prose is kept whole: every word of the comment is in some step, in order
    comment = proof.split("/-", 1)[1].split("-/", 1)[0]
    assert " ".join(" ".join(prose).split()) == " ".join(comment.split())


def test_lean_multi_sentence_comment_is_cut_at_markers() -> None:
    [record] = [r for r in lines("minif2f_valid_sample.jsonl") if r["name"] == "mathd_numbertheory_149"]
    steps = segment(record["formal_proof"])
    assert [s.split()[0] for s in steps] == ["We", "Thus", "Thus", "apply"]


def test_numbered_items_bullets_and_headers() -> None:
    text = "Plan:\n1. Find the price.\n2) Find the count.\n- multiply them\nStep 3: add tax"
    assert segment(text) == ["Plan:\n1. Find the price.", "2) Find the count.", "- multiply them", "Step 3: add tax"]


def test_formulas_and_code_are_never_split() -> None:
    text = (
        "We expand:\n$$\n(a+b)^2\n\n= a^2 + 2ab + b^2. Wait, yes.\n$$\n"
        "Then\n\\begin{align*}\nx &= 1 \\\\\n\nWait. &= 2\n\\end{align*}\n\n"
        "```python\ndef f(x):\n\n    return x. Wait\n```\n"
        "The value is $x = 1. Wait. y = 2$ indeed."
    )
    steps = segment(text)
    assert any(s.startswith("We expand:") and s.endswith("$$") and "Wait, yes." in s for s in steps)
    assert any("\\begin{align*}" in s and "\\end{align*}" in s for s in steps)
    assert any(s.startswith("```python") and s.endswith("```") for s in steps)
    assert "The value is $x = 1. Wait. y = 2$ indeed." in steps


def test_continuation_lines_join() -> None:
    text = ("The total cost of the items that she bought at the\nstore is 3 * 4 + 2 =\n14 dollars in all.\n"
            "So the answer is 14.")
    assert segment(text) == ["The total cost of the items that she bought at the\nstore is 3 * 4 + 2 =\n14 dollars in all.",
                             "So the answer is 14."]
    code = "def f(x):\n    y = x + 1\n    return y\nThen we call it."
    assert segment(code) == ["def f(x):\n    y = x + 1\n    return y", "Then we call it."]


def test_long_paragraphs_are_cut_at_sentence_ends() -> None:
    sentence = "This sentence has about fifty characters in it, e.g. this. "
    steps = segment(sentence * 40, SegmentOptions(max_chars=300))
    assert len(steps) > 5 and all(len(s) <= 300 for s in steps)
    assert " ".join(steps) == (sentence * 40).strip()


def test_edge_cases() -> None:
    assert segment("") == [] and segment(" \n\n\t ") == []
    assert segment("one line") == ["one line"]
    assert segment("a\r\nb\rc") == ["a", "b", "c"]
    assert split_answer("no final line") == ("no final line", None)
    assert split_answer("x\n#### 1,000") == ("x", "1,000")
    assert split_answer("x\n####   ") == ("x\n####   ", None)


def test_huge_text_is_segmented() -> None:
    paragraph = "We compute 3 + 4 = 7 and keep going with more words here. " * 80
    text = (paragraph + "\n\n") * 1000  # about 5 MB
    steps = segment(text)
    assert len(text) > 4_500_000 and len(steps) >= 1000
    assert re.sub(r"\s+", "", "".join(steps)) == re.sub(r"\s+", "", text)
