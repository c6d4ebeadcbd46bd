"""Decontamination and near-duplicate bars on real data (GSM8K train and test, HumanEval), at the matcher level.

The fixtures are real benchmark items (``tests/fixtures/decontamination/README.md`` says where from):
20 GSM8K test problems and 10 HumanEval prompts, planted reformatted among GSM8K train problems or in
a module's docstrings, and 500 GSM8K train problems that must pass.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from common import minhash
from common.decontamination import Matcher, Reference, ReferenceError, benchmarks_for, load_bundled
from common.text_normal import words

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "decontamination"
UNITS = {"dollars": "bucks", "minutes": "mins", "hours": "hrs", "pounds": "lbs", "percent": "%", "miles": "mi"}


def jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def reformat(text: str, i: int) -> str:
    """A planted copy: other whitespace, number formats and unit words, as a careless re-upload would have."""
    out = re.sub(r"\b(\d{4,})\b", lambda m: f"{int(m.group(1)):,}", text)  # 1000 -> 1,000
    out = re.sub(r"\$(\d+)\b", lambda m: f"${m.group(1)}.00", out) if i % 2 else out  # $5 -> $5.00
    for word, other in UNITS.items():
        out = re.sub(rf"\b{word}\b", other, out)
    return ("  " if i % 3 else "\n").join(out.split(" "))


@pytest.fixture(scope="module")
def math_matcher() -> Matcher:
    return Matcher([load_bundled(n) for n in benchmarks_for("auto", "math")])


def test_gsm8k_test_problems_planted_among_train_problems_are_caught(math_matcher: Matcher) -> None:
    planted = [reformat(item["question"], i) for i, item in enumerate(jsonl("gsm8k_test_20.jsonl"))]
    train = [item["question"] for item in jsonl("gsm8k_train_500.jsonl")[:200]]
    caught = [math_matcher.check([text]) for text in planted]
    assert all(hit is not None and hit[0] == "gsm8k" for hit in caught), caught
    flagged = [t for t in train if math_matcher.check([t]) is not None]
    assert len(flagged) <= 2, flagged  # the bar: at most 2 of 200 train problems


def test_gsm8k_test_solutions_are_caught_as_steps(math_matcher: Matcher) -> None:
    item = jsonl("gsm8k_test_20.jsonl")[0]
    assert math_matcher.check(["An unrelated problem about apples?", item["answer"]]) is not None


def test_humaneval_prompts_in_docstrings_are_caught() -> None:
    matcher = Matcher([load_bundled(n) for n in benchmarks_for("auto", "code")])
    for i, item in enumerate(jsonl("humaneval_10.jsonl")):
        doc = re.search(r'"""(.*?)"""|\'\'\'(.*?)\'\'\'', item["prompt"], re.S)
        docstring = next(g for g in doc.groups() if g) if doc else item["prompt"]
        hit = matcher.check([reformat(docstring, i), "def f():\n    return 1\n"])
        assert hit is not None and hit[0] == "humaneval", (item["task_id"], hit)
    assert matcher.check(["Return the sum of the squares of a list, skipping None values.", "def g(x):\n    return x\n"]) is None


def test_demo_and_test_inputs_pass_untouched(math_matcher: Matcher) -> None:
    root = Path(__file__).resolve().parents[2]
    for path in ("samples/gsm8k/gsm8k_demo.jsonl", "tests/fixtures/gsm8k_sample.jsonl"):
        for line in (root / path).read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            assert math_matcher.check([item["question"], item["answer"]]) is None, item["question"][:60]
    lean = Matcher([load_bundled(n) for n in benchmarks_for("auto", "lean")])
    for line in (root / "tests/fixtures/minif2f_valid_sample.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)  # miniF2F *valid*: the test split's references must not take it
        assert lean.check([item.get("informal_prefix", ""), item.get("formal_statement", "")]) is None, item["name"]


def test_a_user_reference_and_bad_names() -> None:
    ref = Reference("mine")
    ref.add_text("A farmer has 17 cows and buys 5 more at the weekly cattle market in town.", "mine:1")
    copy = "a FARMER has 17 cows, and buys 5 more at the weekly cattle market in town!"
    assert Matcher([ref]).check([copy]) == ("mine", "whole_text")
    assert Matcher([Reference.from_json(ref.to_json())]).check(["A farmer has 17 cows and buys 5 more at the weekly cattle"])
    assert benchmarks_for("none", "math") == () and benchmarks_for("gsm8k,mbpp", "code") == ("gsm8k", "mbpp")
    with pytest.raises(ReferenceError, match="unknown benchmark"):
        benchmarks_for("gsm8k,aime", "math")
    with pytest.raises(ReferenceError):
        load_bundled("../secrets")


def near_copy(text: str, rng: random.Random) -> str:
    """A small edit: other numbers, other spacing, one word changed."""
    out = re.sub(r"\d+", lambda m: str(int(m.group(0)) + rng.randint(1, 9)), text)
    tokens = out.split(" ")
    j = rng.randrange(len(tokens))
    tokens[j] = {"the": "a", "a": "the", "and": "plus"}.get(tokens[j].lower(), tokens[j] + "s")
    return "  ".join(tokens)


def test_near_duplicates_caught_and_distinct_problems_not() -> None:
    from pipelines.screen import near_signature

    problems = [item["question"] for item in jsonl("gsm8k_train_500.jsonl")]
    index = minhash.LSHIndex(0.7)
    for i, text in enumerate(problems):
        hit = index.query(near_signature(text))
        assert hit is None, (i, hit)  # no false hit among 500 distinct problems
        index.add(str(i), near_signature(text))
    rng = random.Random(7)
    caught = sum(index.query(near_signature(near_copy(problems[i], rng))) is not None for i in range(50))
    assert caught >= 45, caught


def test_minhash_estimates_jaccard() -> None:
    a = words("one two three four five six seven eight nine ten eleven twelve")
    b = a[:-1] + ["thirteen"]
    est = minhash.similarity(minhash.signature(minhash.shingles(a)), minhash.signature(minhash.shingles(b)))
    true = 9 / 11  # 10 shingles each, 9 shared
    assert abs(est - true) < 0.15
    assert minhash.similarity(minhash.signature([]), minhash.signature([])) == 1.0
