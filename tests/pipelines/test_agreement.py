"""``reverse-o1 eval labels``: hand-made human labels against hand-made PRM shards give the figures worked out by hand."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.errors import ConfigError
from pipelines import agreement, eval_labels
from pipelines.agreement import Solution, Tally
from schemas.arrow import PRM_SCHEMA

T, F = True, False


def prm_row(row_id: str, method: str, model: str, completions: list[str], labels: list[bool | None],
            prompt: str = "Problem?") -> dict[str, Any]:
    n = len(completions)
    return {"prompt": prompt, "completions": completions, "labels": labels, "soft_labels": [0.5] * n, "rollouts": [4] * n,
            "correct_rollouts": [2] * n, "method": method, "answer_correct": True, "id": row_id, "source_kind": "seed",
            "source": {"uri": "file:///seeds.jsonl", "commit": None, "path": "seeds.jsonl", "symbol": f"seed-{row_id}",
                       "license": "MIT", "dataset_license": None},
            "generator": {"backend": "scripted", "model": model, "temperature": 0.7, "seed": 0, "prompt_version": "v1"},
            "nodes": None}


def write_prm(folder: Path, shards: list[list[dict[str, Any]]]) -> Path:
    (folder / "prm").mkdir(parents=True)
    for i, rows in enumerate(shards):
        name = f"run-{i:05d}-of-{len(shards):05d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=PRM_SCHEMA), folder / "prm" / name)
    return folder


def studio(row_id: str, step: int, label: str, annotator: str = "ann", **extra: Any) -> dict[str, Any]:
    return {"row_id": row_id, "problem_id": f"seed-{row_id}", "step": step, "label": label, "annotator": annotator,
            "time": "2025-01-01T00:00:00Z", **extra}


def jsonl(path: Path, objs: list[Any]) -> Path:
    path.write_text("".join(json.dumps(o) + "\n" for o in objs), encoding="utf-8")
    return path


def wilson_ref(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's interval as usually printed: (2k + z² ± z·sqrt(z² + 4k(n-k)/n)) / (2(n + z²))."""
    root = z * math.sqrt(z * z + 4 * k * (n - k) / n)
    return (2 * k + z * z - root) / (2 * (n + z * z)), (2 * k + z * z + root) / (2 * (n + z * z))


def group(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in report["groups"] if g["group"] == name)


# --- the hand-made set --------------------------------------------------------------------------
# Rows (generated hard labels)           human verdicts (after latest and the vote)
# r1 shepherd/A  [T, T, F, F]            [correct, wrong, unsure (a wrong, b correct: a tie), wrong (a, b wrong; c unsure)]
# r2 shepherd/A  [T, F, None]            [correct, wrong, wrong]
# r3 binary/B    [T, F, T, T]            [correct, correct, correct, correct]
# r4 binary/B    [T, T, T]               [correct, correct, unsure]
# r5 binary/B    [T, T]                  [correct, correct]
# r6 binary/B    [F]                     no human label: not counted
# Steps (positive class: wrong): r1: TN, FN, unsure, TP; r2: TN, TP, null; r3: TN, FP, TN, TN; r4: TN, TN, unsure; r5: TN, TN
# First error (human, generated): r1 (1, 2) miss; r2 (1, 1) hit; r3 (-1, 1) miss; r4 skipped (step 2 unsure); r5 (-1, -1) hit
ROWS = [
    prm_row("r1", "shepherd", "A", ["a1", "a2", "a3", "a4"], [T, T, F, F]),
    prm_row("r2", "shepherd", "A", ["b1", "b2", "b3"], [T, F, None]),
    prm_row("r3", "binary", "B", ["c1", "c2", "c3", "c4"], [T, F, T, T]),
    prm_row("r4", "binary", "B", ["d1", "d2", "d3"], [T, T, T]),
    prm_row("r5", "binary", "B", ["e1", "e2"], [T, T]),
    prm_row("r6", "binary", "B", ["f1"], [F]),
]
HUMAN = [
    studio("r1", 0, "correct", "a", step_text="  a1 "),  # whitespace differs: still the same step
    studio("r1", 1, "correct", "a"),
    studio("r1", 2, "wrong", "a"),
    studio("r1", 2, "correct", "b"),
    studio("r1", 3, "wrong", "a"), studio("r1", 3, "wrong", "b"), studio("r1", 3, "unsure", "c"),
    studio("r1", 1, "wrong", "a"),  # later: replaces a's "correct" on r1 step 1
    studio("r2", 0, "correct"), studio("r2", 1, "wrong"), studio("r2", 2, "wrong"),
    *[studio("r3", i, "correct") for i in range(4)],
    studio("r4", 0, "correct"), studio("r4", 1, "correct"), studio("r4", 2, "unsure"),
    studio("r5", 0, "correct"), studio("r5", 1, "correct"),
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_prm(tmp_path / "out", [ROWS[:3], ROWS[3:]])


def test_figures_by_hand(tmp_path: Path, data: Path) -> None:
    report = eval_labels.agreement_report(str(jsonl(tmp_path / "human.jsonl", HUMAN)), [str(data)])
    assert [g["group"] for g in report["groups"]] == ["binary / B", "shepherd / A", "all"]
    assert (report["lines"], report["used"], report["superseded"], report["skipped"]) == (20, 19, 1, {})
    assert report["rows_read"] == 6

    a = group(report, "shepherd / A")
    assert a["counts"] == {"rows": 2, "solutions_compared": 2, "first_error_skipped": 0, "steps_compared": 5,
                           "human_unsure": 1, "generated_null": 1, "tp": 2, "fp": 0, "fn": 1, "tn": 2}
    assert a["step_accuracy"]["value"] == pytest.approx(4 / 5)  # TN, FN, TP, TN, TP
    assert (a["step_accuracy"]["low"], a["step_accuracy"]["high"]) == pytest.approx(wilson_ref(4, 5))
    assert a["wrong_steps"]["precision"]["value"] == 1.0  # 2 / (2 + 0)
    assert a["wrong_steps"]["recall"]["value"] == pytest.approx(2 / 3)  # 2 / (2 + 1)
    assert a["wrong_steps"]["f1"]["value"] == pytest.approx(0.8)  # 2·2 / (2·2 + 0 + 1)
    # Bootstrap over 2 solutions, r1 (tp 1, fn 1) and r2 (tp 1): a resample is {r1, r1} F1 4/6 (p 1/4), {r1, r2} 4/5
    # (p 1/2) or {r2, r2} 1 (p 1/4); with 1000 resamples ranks 24-25 are 4/6 and ranks 974-975 are 1.
    assert (a["wrong_steps"]["f1"]["low"], a["wrong_steps"]["f1"]["high"]) == pytest.approx((2 / 3, 1.0))
    fe = a["first_error"]
    assert (fe["erroneous"]["k"], fe["erroneous"]["n"], fe["erroneous"]["value"]) == (1, 2, 0.5)
    assert (fe["correct"]["n"], fe["correct"]["value"], fe["f1"]) == (0, None, None)
    assert fe["overall"]["value"] == 0.5

    b = group(report, "binary / B")
    assert b["counts"] == {"rows": 3, "solutions_compared": 2, "first_error_skipped": 1, "steps_compared": 8,
                           "human_unsure": 1, "generated_null": 0, "tp": 0, "fp": 1, "fn": 0, "tn": 7}
    assert b["step_accuracy"]["value"] == pytest.approx(7 / 8)
    assert b["wrong_steps"]["precision"]["value"] == 0.0 and b["wrong_steps"]["recall"]["value"] is None
    assert b["wrong_steps"]["f1"] == {"value": 0.0, "low": 0.0, "high": 0.0, "resamples": 1000}
    assert (b["first_error"]["correct"]["value"], b["first_error"]["erroneous"]["value"]) == (0.5, None)

    every = group(report, "all")
    assert every["counts"] == {"rows": 5, "solutions_compared": 4, "first_error_skipped": 1, "steps_compared": 13,
                               "human_unsure": 2, "generated_null": 1, "tp": 2, "fp": 1, "fn": 1, "tn": 9}
    assert every["step_accuracy"]["value"] == pytest.approx(11 / 13)
    assert (every["step_accuracy"]["low"], every["step_accuracy"]["high"]) == pytest.approx(wilson_ref(11, 13))
    p, r = every["wrong_steps"]["precision"], every["wrong_steps"]["recall"]
    assert (p["value"], r["value"]) == pytest.approx((2 / 3, 2 / 3))
    assert (p["low"], p["high"]) == pytest.approx(wilson_ref(2, 3))
    assert every["wrong_steps"]["f1"]["value"] == pytest.approx(2 / 3)  # 4 / (4 + 1 + 1)
    f1 = every["wrong_steps"]["f1"]
    assert 0 <= f1["low"] <= f1["value"] <= f1["high"] <= 1
    fe = every["first_error"]
    assert (fe["erroneous"]["value"], fe["correct"]["value"], fe["overall"]["value"]) == (0.5, 0.5, 0.5)
    assert fe["f1"] == pytest.approx(0.5)  # 2·0.5·0.5 / (0.5 + 0.5)
    assert (fe["overall"]["low"], fe["overall"]["high"]) == pytest.approx(wilson_ref(2, 4))
    again = eval_labels.agreement_report(str(tmp_path / "human.jsonl"), [str(data)])
    assert again == report  # the bootstrap is seeded: the same input, the same report


def test_wilson_known_values() -> None:
    figure = agreement.wilson(8, 10)
    assert (round(figure["low"], 4), round(figure["high"], 4)) == (0.4902, 0.9433)
    assert (figure["low"], figure["high"]) == pytest.approx(wilson_ref(8, 10))
    assert (agreement.wilson(0, 5)["low"], agreement.wilson(5, 5)["high"]) == (0.0, 1.0)
    assert agreement.wilson(0, 0)["value"] is None


def test_vote() -> None:
    assert agreement.vote(["correct", "wrong"]) == "unsure"  # a tie
    assert agreement.vote(["wrong", "wrong", "unsure"]) == "wrong"
    assert agreement.vote(["unsure", "unsure", "correct"]) == "unsure"  # most annotators unsure
    assert agreement.vote(["unsure", "correct"]) == "correct"


def test_first_error_needs_verdicts_up_to_the_error() -> None:
    def solution(labels: tuple, human: tuple) -> Solution:
        return Solution("x", "m", "g", labels, human)

    # steps after the human first error need no verdict or label
    assert agreement.first_errors(solution((T, F, None), ("correct", "wrong", None))) == (1, 1)
    assert agreement.first_errors(solution((T, None, F), ("correct", "wrong", "wrong"))) is None  # null label at the error
    assert agreement.first_errors(solution((T, T), ("correct", None))) is None  # correct so far, but not all labelled
    assert agreement.first_errors(solution((F, T), ("correct", "correct"))) == (-1, 0)


def test_bootstrap_identical_solutions_is_the_point() -> None:
    tallies = [Tally(tp=1, fp=1, fn=0) for _ in range(5)]  # every resample has F1 2/3
    assert agreement.bootstrap_f1(tallies) == pytest.approx((2 / 3, 2 / 3))
    assert agreement.bootstrap_f1([Tally(tn=3)]) == (None, None)


PROBLEM = "What is  1 + 1?\n"
PRM800K = {
    "labeler": "L1",
    "question": {"problem": PROBLEM, "ground_truth_answer": "2"},
    "label": {"finish_reason": "solution", "steps": [
        {"completions": [{"text": "One plus one", "rating": 1}, {"text": "bad", "rating": -1}], "chosen_completion": 0},
        {"completions": [{"text": "", "rating": 1}], "chosen_completion": 0},  # empty: the seed leaves it out
        {"completions": [{"text": "is  two", "rating": 0}], "chosen_completion": 0},
        {"completions": [{"text": "x", "rating": -1}], "chosen_completion": None,
         "human_completion": {"text": "so 2", "rating": None}},  # a human completion without a rating: 1
        {"completions": [{"text": "Answer: 3", "rating": -1}], "chosen_completion": 0},
        {"completions": [{"text": "never reached"}], "chosen_completion": None, "human_completion": None},
        {"completions": [{"text": "after the end", "rating": 1}], "chosen_completion": 0},
    ]},
}


def test_prm800k_matched_by_problem_and_steps(tmp_path: Path) -> None:
    # p1 and p2 were labelled from the seed of PRM800K (same problem and steps); p3 has other steps
    steps = ["One plus one", "is two", "so 2", "Answer: 3"]
    data = write_prm(tmp_path / "out", [[
        prm_row("p1", "shepherd", "A", steps, [T, T, F, F], prompt="What is 1 + 1?"),
        prm_row("p2", "binary", "B", steps, [T, T, T, F], prompt="What is 1 + 1?"),
        prm_row("p3", "binary", "B", ["One plus one", "is three"], [T, F], prompt="What is 1 + 1?"),
    ]])
    other = {**PRM800K, "question": {"problem": "Another?", "ground_truth_answer": "1"}}
    human = jsonl(tmp_path / "prm800k.jsonl", [PRM800K, other])
    # human verdicts: [correct, neutral, correct, wrong]; neutral unsure by default
    # p1 [T, T, F, F]: TN, -, FP, TP; first error skipped (step 1 unsure)
    # p2 [T, T, T, F]: TN, -, TN, TP
    report = eval_labels.agreement_report(str(human), [str(data)])
    assert report["skipped"] == {"no_rows_matched": 1} and report["used"] == 1
    every = group(report, "all")
    assert every["counts"] == {"rows": 2, "solutions_compared": 0, "first_error_skipped": 2, "steps_compared": 6,
                               "human_unsure": 2, "generated_null": 0, "tp": 2, "fp": 1, "fn": 0, "tn": 3}
    # with neutral = correct: p1 (3, 2) miss, p2 (3, 3) hit; erroneous 1/2
    report = eval_labels.agreement_report(str(human), [str(data)], "prm800k", "correct")
    every = group(report, "all")
    assert (every["counts"]["steps_compared"], every["counts"]["tn"], every["counts"]["solutions_compared"]) == (8, 5, 2)
    assert every["first_error"]["erroneous"]["value"] == 0.5
    assert group(report, "shepherd / A")["first_error"]["erroneous"]["value"] == 0.0


def test_bad_lines_are_counted_and_the_run_goes_on(tmp_path: Path, data: Path) -> None:
    good = [json.dumps(o).encode() for o in (studio("r2", 0, "correct"), studio("r2", 1, "wrong"))]
    lines = [
        good[0],
        b'{"row_id": "r2", "step": ',  # malformed
        b'{"row_id": "r2", "step": 0, "label": "correct", "annotator": "\xff\xfe"}',  # not UTF-8
        json.dumps(studio("r2", "1", "wrong")).encode(),  # step is a string
        json.dumps(studio("r2", 0, "maybe")).encode(),  # not a verdict
        json.dumps([1, 2]).encode(),
        json.dumps(studio("nope", 0, "wrong")).encode(),
        json.dumps(studio("r2", 7, "wrong")).encode(),
        json.dumps(studio("r2", 2, "wrong", step_text="something else")).encode(),
        json.dumps(studio("r2", 2, "wrong", annotator="big", step_text="x" * 2_000_000)).encode(),
        b"",
        good[1],
        b'{"row_id": "r2", "step": 2, "lab',  # truncated last line, no newline
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines))
    report = eval_labels.agreement_report(str(path), [str(data)])
    assert report["skipped"] == {"bad_field:label": 1, "bad_field:record": 1, "bad_field:step": 1, "line_too_large": 1,
                                 "malformed_json": 2, "mismatched_text": 1, "not_utf8": 1, "step_out_of_range": 1,
                                 "unknown_row": 1}
    assert (report["lines"], report["used"]) == (12, 2)
    assert report["examples"][0] == f"{path}:2: malformed_json (Expecting value: column 26)"
    reasons = [e.split(": ", 1)[1].split(" (")[0] for e in report["examples"]]  # the first ten, in file order
    assert reasons == ["malformed_json", "not_utf8", "bad_field:step", "bad_field:label", "bad_field:record", "unknown_row",
                       "step_out_of_range", "mismatched_text", "line_too_large", "malformed_json"]
    assert f"{path}:13: malformed_json" in report["examples"][-1]
    assert group(report, "all")["counts"]["steps_compared"] == 2


def test_capped_lines_never_holds_a_long_line() -> None:
    import io

    data = b"ab\n" + b"x" * 100 + b"\ncd\r\n\nlast"
    assert list(eval_labels.capped_lines(io.BytesIO(data), max_bytes=10)) == [(1, b"ab"), (2, None), (3, b"cd"), (4, b""),
                                                                              (5, b"last")]
    assert list(eval_labels.capped_lines(io.BytesIO(b"y" * 11), max_bytes=10)) == [(1, None)]
    assert list(eval_labels.capped_lines(io.BytesIO(b"y" * 10 + b"\n"), max_bytes=10)) == [(1, b"y" * 10)]


def test_cli_prints_the_table_and_writes_the_json(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    human = jsonl(tmp_path / "human.jsonl", HUMAN)
    parser = argparse.ArgumentParser()
    eval_labels.add_arguments(parser)
    more = write_prm(tmp_path / "more", [[prm_row("r7", "binary", "B", ["g1"], [T]), ROWS[0]]])  # r1 again: the first wins
    args = parser.parse_args(["--human", str(human), "--data", str(data), "--data", str(more),
                              "--json", str(tmp_path / "report.json")])
    assert eval_labels.run(args) == 0
    out = capsys.readouterr().out
    assert "shepherd / A" in out and "0.800 [" in out and "first error (ProcessBench)" in out
    written = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert written == eval_labels.agreement_report(str(human), [str(data), str(more)])
    assert written["rows_read"] == 8 and group(written, "all")["counts"]["rows"] == 5
    assert eval_labels.format_table(written) in out


def test_missing_inputs_are_config_errors(tmp_path: Path, data: Path) -> None:
    human = jsonl(tmp_path / "human.jsonl", HUMAN)
    with pytest.raises(ConfigError, match="no such file"):
        eval_labels.agreement_report(str(tmp_path / "missing.jsonl"), [str(data)])
    (tmp_path / "empty" / "prm").mkdir(parents=True)
    with pytest.raises(ConfigError, match="no PRM shards"):
        eval_labels.agreement_report(str(human), [str(tmp_path / "empty")])
    with pytest.raises(ConfigError, match="no such directory"):
        eval_labels.agreement_report(str(human), [str(tmp_path / "nowhere")])
    with pytest.raises(ConfigError, match="cannot read"):
        eval_labels.agreement_report(str(tmp_path), [str(data)])
