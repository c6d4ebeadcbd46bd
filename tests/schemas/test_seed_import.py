"""Importers of public step-by-step data into seeds (schemas/seed_import.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.seed_import import IMPORTERS, SeedImportError, gsm8k_to_seed, prm800k_to_seed
from schemas.seeds import SeedError, seed_from_obj

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "gsm8k_sample.jsonl"
GSM8K = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def test_fixture_is_the_real_sample():
    assert len(GSM8K) == 20
    assert all(set(obj) == {"question", "answer"} for obj in GSM8K)


@pytest.mark.parametrize("index", range(20))
def test_gsm8k_line_becomes_a_valid_seed(index):
    obj = GSM8K[index]
    seed = gsm8k_to_seed(obj, ref=f"gsm8k_sample.jsonl:{index + 1}")
    *solution, final = obj["answer"].splitlines()
    assert final.startswith("#### ")
    assert seed["answer"] == final[len("#### "):].replace(",", "").strip()
    assert seed["problem"] == obj["question"].strip()
    assert len(seed["steps"]) == len([line for line in solution if line.strip()])
    for line, step in zip(solution, seed["steps"], strict=True):
        assert "<<" not in step["text"] and ">>" not in step["text"]
        assert step["text"] in line or "<<" in line  # unchanged unless a mark was cut out
    assert seed["notes"] == f"imported from GSM8K gsm8k_sample.jsonl:{index + 1}"
    parsed = seed_from_obj(seed, index + 1)
    assert parsed.id == seed["id"] and len(parsed.steps) == len(seed["steps"])


def test_gsm8k_first_line_exactly():
    # line 1 of the fixture: the socks problem, one calculator mark on the second line
    seed = gsm8k_to_seed(GSM8K[0])
    assert seed["answer"] == "3"
    assert [s["text"] for s in seed["steps"]] == [
        "Two white socks cost 25 cents more than a single brown sock, "
        "meaning a brown sock is sold at $0.45-$0.25=$0.20",
        "The cost of buying 15 brown socks is 15*$0.20=$3",
    ]
    assert seed["domain"] == "math"


def test_gsm8k_marks_are_removed_in_place():
    seed = gsm8k_to_seed(GSM8K[1])
    assert seed["steps"][0]["text"] == "There are 55-30 = 25 girls at the track meet."
    assert seed["answer"] == "10"


def test_gsm8k_ids_are_deterministic_and_distinct():
    ids = [gsm8k_to_seed(obj)["id"] for obj in GSM8K]
    assert ids == [gsm8k_to_seed(obj)["id"] for obj in GSM8K]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("gsm8k-") for i in ids)


def test_gsm8k_answer_commas_are_removed():
    # shaped like GSM8K train lines whose answers run past a thousand ("#### 1,152")
    obj = {"question": "How many?", "answer": "It is 1,000+152 = <<1000+152=1152>>1,152 in all.\n#### 1,152"}
    seed = gsm8k_to_seed(obj)
    assert seed["answer"] == "1152"
    assert seed["steps"] == [{"text": "It is 1,000+152 = 1,152 in all."}]


def test_gsm8k_mark_holding_a_comparison_is_removed():
    obj = {"question": "Which?", "answer": "Since 5 > 3, <<5>3>>it is 5.\n#### 5"}
    assert gsm8k_to_seed(obj)["steps"] == [{"text": "Since 5 > 3, it is 5."}]


@pytest.mark.parametrize(
    "obj, match",
    [
        ({"question": "q?", "answer": "Two and two make four."}, "no '#### N'"),
        ({"question": "q?", "answer": "Two and two.\n####   "}, "no '#### N'"),
        ({"question": "q?", "answer": "#### 4"}, "no solution steps"),
        ({"answer": "2+2=4\n#### 4"}, "question"),
        ({"question": "  ", "answer": "2+2=4\n#### 4"}, "question"),
        ({"question": 7, "answer": "2+2=4\n#### 4"}, "question"),
        ({"question": "q?"}, "answer"),
        ({"question": "q?", "answer": 4}, "answer"),
        (["q?", "2+2=4\n#### 4"], "expected an object"),
        ("q?", "expected an object"),
        (None, "expected an object"),
    ],
)
def test_gsm8k_bad_inputs(obj, match):
    with pytest.raises(SeedImportError, match=match):
        gsm8k_to_seed(obj)


# --- PRM800K ----------------------------------------------------------------------------------


def prm800k_record(**label_changes):
    """A small hand-written line following PRM800K's published schema (openai/prm800k README):
    question.problem / ground_truth_answer, label.steps[] with completions[] (text, rating,
    flagged), human_completion (phase 1 only, else null), chosen_completion (index or null),
    label.finish_reason in solution | found_error | give_up | bad_problem.
    """
    label = {
        "steps": [
            {
                "completions": [{"text": "Let $x$ be the number.", "rating": 0, "flagged": None}],
                "human_completion": None,
                "chosen_completion": 0,
            },
            {
                "completions": [
                    {"text": "Then $2x = 12$, so $x = 5$.", "rating": -1, "flagged": None},
                    {"text": "Then $2x = 12$, so $x = 6$.", "rating": 1, "flagged": False},
                ],
                "human_completion": None,
                "chosen_completion": 1,
            },
            {
                "completions": [{"text": "So the answer is 7.", "rating": -1, "flagged": None}],
                "human_completion": {"text": "Check: $2 \\cdot 6 = 12$.", "rating": None, "source": "human",
                                     "flagged": False, "corrected_rating": None},
                "chosen_completion": None,
            },
            {
                "completions": [{"text": "# Answer\n\n6", "rating": 1, "flagged": None}],
                "human_completion": None,
                "chosen_completion": 0,
            },
        ],
        "total_time": 81234,
        "finish_reason": "solution",
    }
    label.update(label_changes)
    return {
        "labeler": "00000000-0000-0000-0000-000000000000",
        "timestamp": "2023-01-22T04:34:27.052924",
        "generation": None,
        "is_quality_control_question": False,
        "is_initial_screening_question": False,
        "question": {
            "problem": "Twice a number is 12. What is the number?",
            "ground_truth_solution": "$2x = 12$ gives $x = \\boxed{6}$.",
            "ground_truth_answer": "6",
        },
        "label": label,
    }


def test_prm800k_takes_the_chosen_or_human_step():
    seed = prm800k_to_seed(prm800k_record(), ref="phase1_train.jsonl:1")
    assert [s["text"] for s in seed["steps"]] == [
        "Let $x$ be the number.",
        "Then $2x = 12$, so $x = 6$.",
        "Check: $2 \\cdot 6 = 12$.",
        "# Answer\n\n6",
    ]
    assert (seed["problem"], seed["answer"]) == ("Twice a number is 12. What is the number?", "6")
    assert seed["id"].startswith("prm800k-") and seed["id"] == prm800k_to_seed(prm800k_record())["id"]
    assert seed["notes"] == "imported from PRM800K phase1_train.jsonl:1"
    assert len(seed_from_obj(seed, 1).steps) == 4


def test_prm800k_human_completion_as_plain_text():
    record = prm800k_record()
    record["label"]["steps"][2]["human_completion"] = "Check: $2 \\cdot 6 = 12$."
    assert prm800k_to_seed(record)["steps"][2] == {"text": "Check: $2 \\cdot 6 = 12$."}


def test_prm800k_trajectory_ends_at_a_step_with_nothing_chosen():
    record = prm800k_record()
    record["label"]["steps"][2]["human_completion"] = None
    assert len(prm800k_to_seed(record)["steps"]) == 2


@pytest.mark.parametrize("reason", ["found_error", "give_up", "bad_problem"])
def test_prm800k_only_complete_solutions(reason):
    with pytest.raises(SeedImportError, match="finish_reason"):
        prm800k_to_seed(prm800k_record(finish_reason=reason))


def broken(path: str, value):
    record = prm800k_record()
    target = record
    *parents, last = path.split("/")
    for key in parents:
        target = target[int(key) if key.isdigit() else key]
    target[int(last) if last.isdigit() else last] = value
    return record


@pytest.mark.parametrize(
    "record, match",
    [
        (broken("question/problem", None), "question.problem"),
        (broken("question/ground_truth_answer", 6), "ground_truth_answer"),
        (broken("question", "Twice a number"), "'question' object"),
        (broken("label", ["steps"]), "label"),
        (broken("label/steps", {"0": {}}), "label.steps"),
        (broken("label/steps", []), "label.steps"),
        (broken("label/steps/1", "Then x = 6."), "step objects"),
        (broken("label/steps/1/chosen_completion", 5), "chosen_completion 5"),
        (broken("label/steps/1/chosen_completion", True), "chosen_completion True"),
        (broken("label/steps/1/completions", {"1": {"text": "x"}}), "chosen_completion 1"),
        (broken("label/steps/1/completions/1", "x = 6"), "chosen_completion 1"),
        (broken("label/steps/1/completions/1/text", 6), r"label.steps\[1\]"),
        (broken("label/steps/0/chosen_completion", None), "no chosen or human completion"),
        ([], "'question' object"),
    ],
)
def test_prm800k_bad_inputs(record, match):
    with pytest.raises(SeedImportError, match=match):
        prm800k_to_seed(record)


def test_importers_by_format_name():
    assert IMPORTERS == {"gsm8k": gsm8k_to_seed, "prm800k": prm800k_to_seed}


# --- properties: any JSON in, only SeedImportError out -----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
texts = st.text(max_size=30)
words = st.text(min_size=1, max_size=30).filter(str.strip)  # text an importer can keep
prm_positions = st.fixed_dictionaries(
    {},
    optional={
        "completions": st.lists(st.fixed_dictionaries({}, optional={"text": texts | json_values}), max_size=3)
        | json_values,
        "chosen_completion": st.none() | st.integers(-1, 2) | json_values,
        "human_completion": st.none() | texts | st.fixed_dictionaries({"text": texts | json_values}),
    },
)
prm_good_positions = st.fixed_dictionaries(
    {
        "completions": st.lists(st.fixed_dictionaries({"text": words}), min_size=1, max_size=3),
        "chosen_completion": st.just(0),
    }
) | st.fixed_dictionaries({"chosen_completion": st.none(), "human_completion": words})
prm_records = st.fixed_dictionaries(
    {
        "question": st.fixed_dictionaries({"problem": words | texts, "ground_truth_answer": words | json_values}),
        "label": st.fixed_dictionaries(
            {"steps": st.lists(prm_good_positions | prm_positions | json_values, max_size=4)},
            optional={"finish_reason": st.sampled_from(["solution", "found_error"]) | json_values},
        )
        | json_values,
    }
)
gsm8k_solutions = st.tuples(st.lists(words | texts, max_size=4), st.sampled_from(["", "#### ", "####"]), words).map(
    lambda parts: "\n".join([*parts[0], parts[1] + parts[2]])
)
gsm8k_records = st.fixed_dictionaries({"question": words | json_values, "answer": gsm8k_solutions | json_values})


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(IMPORTERS)), json_values | gsm8k_records | prm_records)
def test_importers_raise_only_import_errors_and_make_valid_seeds(name, obj):
    try:
        seed = IMPORTERS[name](obj)
    except SeedImportError:
        return
    try:
        seed_from_obj(seed, 1)
    except SeedError as err:  # only text that is not valid Unicode gets past an importer
        assert all("surrogate" in p.message for p in err.problems), err
