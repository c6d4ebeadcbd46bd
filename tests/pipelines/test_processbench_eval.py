"""``eval labels --format processbench``: ProcessBench's first-error figures, worked out by hand, and the bar run
``seeds import --format processbench`` -> ``label --method binary`` (scripted policy) -> ``eval labels`` on the fixture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipelines import processbench_eval
from pipelines.processbench_eval import Judged, bootstrap_f1, predicted_first_error
from tests.pipelines.helpers import FIXTURES, assert_balanced, dead_letters, prm_rows, run
from tests.pipelines.test_agreement import jsonl, prm_row, wilson_ref, write_prm

T, F, N = True, False, None


def pb(item_id: str, steps: list[str], label: int, problem: str | None = None) -> dict[str, Any]:
    return {"id": item_id, "generator": "g", "problem": problem or f"Problem {item_id}?", "steps": steps,
            "final_answer_correct": label == -1, "label": label}


def group(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in report["groups"] if g["group"] == name)


@pytest.mark.parametrize(("labels", "predicted"), [
    ((T, T, T), -1), ((T, F, N), 1), ((F, N, F), 0), ((T, T, F), 2),
    ((T, N, F), None),  # a null before the first False: the first error may be step 1
    ((T, N), None),  # no False, but a step nothing measured
])
def test_predicted_first_error(labels: tuple[bool | None, ...], predicted: int | None) -> None:
    assert predicted_first_error(labels) == predicted


# --- the hand-made set ---------------------------------------------------------------------------
# item  human  binary/B row        predicted                shepherd/A row   predicted
# e1      1    [T, F, None]        1  hit                   [F, T, T]        0  miss
# e2      0    [F, None, F]        0  hit
# e3      2    [T, T, T]          -1  miss
# c1     -1    [T, T]             -1  hit
# c2     -1    [T, F]              1  miss
# u1      1    [T, None, F]        unmeasured (erroneous)
# u2     -1    [T, None]           unmeasured (correct)
# binary/B: erroneous 2/3, correct 1/2, F1 = 2·(2/3)·(1/2) / (2/3 + 1/2) = 4/7 = 0.5714;
#           unmeasured counted as misses: erroneous 2/4, correct 1/3, F1 = 2·(1/2)·(1/3) / (1/2 + 1/3) = 0.4
# all: erroneous 2/4 (the shepherd row of e1 misses), correct 1/2, F1 = 0.5
ITEMS = [pb("e1", ["a1", "a2", "a3"], 1), pb("e2", ["b1", "b2", "b3"], 0), pb("e3", ["c1", "c2", "c3"], 2),
         pb("c1", ["d1", "d2"], -1), pb("c2", ["e1", "e2"], -1), pb("u1", ["f1", "f2", "f3"], 1), pb("u2", ["g1", "g2"], -1)]
ROWS = [
    prm_row("r-e1", "binary", "B", ["a1", "a2", "a3"], [T, F, N], prompt="Problem e1?"),
    prm_row("r-e2", "binary", "B", ["b1", "  b2 ", "b3"], [F, N, F], prompt="Problem  e2?"),  # whitespace aside: the same
    prm_row("r-e3", "binary", "B", ["c1", "c2", "c3"], [T, T, T], prompt="Problem e3?"),
    prm_row("r-c1", "binary", "B", ["d1", "d2"], [T, T], prompt="Problem c1?"),
    prm_row("r-c2", "binary", "B", ["e1", "e2"], [T, F], prompt="Problem c2?"),
    prm_row("r-u1", "binary", "B", ["f1", "f2", "f3"], [T, N, F], prompt="Problem u1?"),
    prm_row("r-u2", "binary", "B", ["g1", "g2"], [T, N], prompt="Problem u2?"),
    prm_row("s-e1", "shepherd", "A", ["a1", "a2", "a3"], [F, T, T], prompt="Problem e1?"),
    prm_row("other", "binary", "B", ["z1"], [T], prompt="Unrelated?"),
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_prm(tmp_path / "out", [ROWS[:4], ROWS[4:]])


def test_figures_by_hand(tmp_path: Path, data: Path) -> None:
    human = jsonl(tmp_path / "pb.jsonl", ITEMS)
    report = processbench_eval.processbench_report(str(human), [str(data)])
    assert [g["group"] for g in report["groups"]] == ["binary / B", "shepherd / A", "all"]
    assert (report["lines"], report["used"], report["rows_read"], report["skipped"]) == (7, 7, 9, {})

    b = group(report, "binary / B")
    assert b["counts"] == {"rows": 7, "measured": 5, "erroneous": 3, "correct": 2, "unmeasured_erroneous": 1,
                           "unmeasured_correct": 1}
    assert (b["erroneous"]["k"], b["erroneous"]["n"], b["erroneous"]["value"]) == (2, 3, pytest.approx(2 / 3))
    assert (b["correct"]["k"], b["correct"]["n"], b["correct"]["value"]) == (1, 2, 0.5)
    assert (b["erroneous"]["low"], b["erroneous"]["high"]) == pytest.approx(wilson_ref(2, 3))
    assert (b["correct"]["low"], b["correct"]["high"]) == pytest.approx(wilson_ref(1, 2))
    assert b["f1"]["value"] == pytest.approx(4 / 7) and round(b["f1"]["value"], 4) == 0.5714
    assert b["f1"]["low"] <= b["f1"]["value"] <= b["f1"]["high"] and b["f1"]["resamples"] == 1000
    assert b["f1_unmeasured_wrong"] == pytest.approx(0.4)

    s = group(report, "shepherd / A")
    assert (s["erroneous"]["value"], s["correct"]["n"], s["f1"]["value"], s["f1"]["low"]) == (0.0, 0, None, None)
    a = group(report, "all")
    assert (a["erroneous"]["k"], a["erroneous"]["n"], a["correct"]["k"], a["correct"]["n"]) == (2, 4, 1, 2)
    assert a["f1"]["value"] == pytest.approx(0.5)

    predictions = {(p["item"], p["method"]): (p["label"], p["predicted"]) for p in report["predictions"]}
    assert predictions[("e1", "binary")] == (1, 1) and predictions[("e1", "shepherd")] == (1, 0)
    assert predictions[("u1", "binary")] == (1, None) and predictions[("c2", "binary")] == (-1, 1)
    table = processbench_eval.format_table(report)
    assert "0.667 [" in table and " 2/3" in table and "0.571 [" in table and "0.400" in table


def test_bootstrap_is_seeded_and_skips_one_sided_resamples() -> None:
    judged = [Judged(str(i), str(i), "m", "x", h, p) for i, (h, p) in enumerate([(1, 1), (0, 0), (2, -1), (-1, -1), (-1, 1)])]
    assert bootstrap_f1(judged) == bootstrap_f1(judged)
    low, high = bootstrap_f1(judged)
    assert 0 <= low <= 4 / 7 <= high <= 1
    assert bootstrap_f1([j for j in judged if j.human >= 0]) == (None, None)  # no correct item: no F1 at all


def test_unusable_items_are_counted_by_reason(tmp_path: Path, data: Path) -> None:
    lines = [json.dumps(i) for i in ITEMS] + [
        json.dumps(pb("bad", ["x"], 3)),  # label out of range
        json.dumps({**ITEMS[0], "generator": "again"}),  # the same id
        json.dumps({**ITEMS[1], "id": "copy"}),  # another id, the same problem and steps
        "{broken",
        json.dumps(pb("lonely", ["no row"], -1)),
    ]
    human = tmp_path / "pb.jsonl"
    human.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = processbench_eval.processbench_report(str(human), [str(data)])
    assert report["skipped"] == {"bad_field:label": 1, "duplicate_id": 1, "duplicate_item": 1, "malformed_json": 1,
                                 "no_rows_matched": 1}
    assert (report["lines"], report["used"]) == (12, 7)
    assert report["examples"][0] == (f"{human}:8: bad_field:label (label: 3 is out of range: -1 (no wrong step) "
                                     "or a step index 0..0)")
    assert report["examples"][-1] == f"{human}:12: no_rows_matched (lonely: no PRM row has this problem and these steps)"
    assert group(report, "binary / B")["f1"]["value"] == pytest.approx(4 / 7)  # the figures are untouched


def test_cli_json_array_and_json_out(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    human = tmp_path / "pb.json"
    human.write_text(json.dumps(ITEMS, indent=2), encoding="utf-8")
    out = tmp_path / "report.json"
    assert run(["eval", "labels", "--format", "processbench", "--human", human, "--data", data, "--json", out]) == 0
    printed = capsys.readouterr().out
    assert f"ProcessBench items: {human} (7 items: 7 used, 0 skipped); PRM rows read: 9" in printed
    assert json.loads(out.read_text())["groups"][0]["f1"]["value"] == pytest.approx(4 / 7)
    assert run(["eval", "labels", "--format", "processbench", "--human", tmp_path / "missing.json", "--data", data]) == 2


# --- the bar: import, label, eval on the fixture ----------------------------------------------------
# The scripted policy (a test double, not a model) answers wrongly from any prefix holding the fixture's
# planted errors, and rightly otherwise. What binary search then finds, per item (human label):
#   0 (-1) final answer right: all True, -1 hit     1 (1) probes 1-, 0+: first error 1 hit
#   2 (0)  probes 1-, 0-: first error 0, hit         3 (1) final answer right (a lucky fix): -1, miss
#   4 (-1) -1 hit                                   5 (1) its completer walks past step 1: probes 1+, 2-: 2, miss
#   6 (-1) no gold in the reference: dead-lettered no_gold_answer, so no row (skipped no_rows_matched)
# erroneous 2/4, correct 2/2, F1 = 2·0.5·1 / 1.5 = 2/3.
POLICY = json.dumps({"rules": [["90 + 20 = 100", "So the answer is 100."], ["7 * 8 = 54", "The answer is 57."],
                               ["8 + 16 = 24", "The answer is 24."], ["Tom reads", "The answer is 110."],
                               ["A box holds", "The answer is 59."], ["Mia buys", "The answer is 23."]],
                     "default": "The answer is 0."})


def test_import_label_eval_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items, rows, out = FIXTURES / "processbench" / "items.json", tmp_path / "rows.jsonl", tmp_path / "out"
    answers = FIXTURES / "processbench" / "gsm8k_answers.jsonl"
    assert run(["seeds", "import", "--format", "processbench", items, "--answers", answers, "--answers-format", "gsm8k",
                "-o", rows]) == 0
    assert run(["label", "--method", "binary", "--input", rows, "--out", out, "--backend", "scripted", "--model", POLICY,
                "--n", "4", "--decontaminate", "none"]) == 0
    labelled = {r["source"]["symbol"]: r["labels"] for r in prm_rows(out)}
    assert labelled == {"fixture-gsm8k-0": [T, T, T], "fixture-gsm8k-1": [T, F, F], "fixture-gsm8k-2": [F, F, F],
                        "fixture-gsm8k-3": [T, T, T], "fixture-gsm8k-4": [T, T, T], "fixture-gsm8k-5": [T, T, F, F]}
    assert [d["reason"] for d in dead_letters(out)] == ["no_gold_answer"]
    assert_balanced(out)
    capsys.readouterr()

    report_path = tmp_path / "pb.json"
    assert run(["eval", "labels", "--format", "processbench", "--human", items, "--data", out, "--json", report_path]) == 0
    printed = capsys.readouterr().out
    print(printed)  # the ProcessBench table, for -s
    report = json.loads(report_path.read_text())
    g = group(report, "binary / scripted")
    assert (g["erroneous"]["k"], g["erroneous"]["n"], g["correct"]["k"], g["correct"]["n"]) == (2, 4, 2, 2)
    assert g["f1"]["value"] == pytest.approx(2 / 3)
    assert report["skipped"] == {"no_rows_matched": 1} and report["used"] == 6
    assert "binary / scripted" in printed and "0.667 [" in printed


@pytest.mark.model
def test_end_to_end_with_the_embedded_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same commands with the real (embedded) completer on three fixture items: a correct one (no rollouts) and two
    with a wrong final answer (probed); its figures are whatever the model finds, so only their shape is checked."""
    items = tmp_path / "items.json"
    items.write_text(json.dumps(json.loads((FIXTURES / "processbench" / "items.json").read_text(encoding="utf-8"))[:3]))
    rows, out, answers = tmp_path / "rows.jsonl", tmp_path / "out", FIXTURES / "processbench" / "gsm8k_answers.jsonl"
    assert run(["seeds", "import", "--format", "processbench", items, "--answers", answers, "--answers-format", "gsm8k",
                "-o", rows]) == 0
    assert run(["label", "--method", "binary", "--input", rows, "--out", out, "--n", "2", "--max-new-tokens", "48",
                "--threads", "1", "--decontaminate", "none"]) == 0
    assert len(prm_rows(out)) == 3 and {r["generator"]["backend"] for r in prm_rows(out)} == {"transformers"}
    assert_balanced(out)
    capsys.readouterr()
    assert run(["eval", "labels", "--format", "processbench", "--human", items, "--data", out]) == 0
    printed = capsys.readouterr().out
    assert "(3 items: 3 used, 0 skipped)" in printed and "binary / " in printed
