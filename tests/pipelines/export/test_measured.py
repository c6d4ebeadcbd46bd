"""Which PRM rows the step-label exports take (``pipelines.export.measured``), row by row."""

from __future__ import annotations

import pytest

from pipelines.export.measured import Selection, Tally, cut_row, select, step_values
from tests.pipelines.export.prm_shards import ROWS, N, T, prm

MEASURED = ("shepherd", "binary")


def chosen(selection: Selection) -> tuple[dict[str, list], Tally]:
    tally, seen = Tally(), set()
    out = {}
    for ident, case in ROWS.items():
        picked = select(prm(ident, *case), selection, seen, tally)
        if picked is not None:
            row, values = picked
            assert len(row["completions"]) == len(row["labels"]) == len(row["soft_labels"]) == len(values)
            out[ident] = values
    assert tally.read == len(ROWS) == len(out) + sum(tally.left_out.values())  # every row: written or one reason
    assert sum(tally.written.values()) == len(out)
    return out, tally


def test_the_default_takes_only_fully_measured_shepherd_and_binary_rows() -> None:
    out, tally = chosen(Selection(MEASURED))
    assert out == {"s1": [T, False, False], "s2": [T, T], "b2": [T, T, T]}
    assert tally.left_out == {"method_not_chosen:mcts": 3, "unmeasured_steps": 1}
    assert tally.written == {"shepherd": 2, "binary": 1} and tally.cut == 0
    assert all(v is not None for values in out.values() for v in values)


def test_cut_keeps_the_measured_steps_before_the_first_null() -> None:
    out, tally = chosen(Selection(("shepherd", "binary", "mcts"), "cut"))
    assert out["b1"] == [T, False] and out["m2"] == [T] and out["m1"] == [T, T, T]
    assert "m3" not in out and tally.left_out == {"unmeasured_first_step": 1}
    assert tally.cut == 2


def test_all_methods_with_drop_takes_measured_mcts_rows_only() -> None:
    out, tally = chosen(Selection(("shepherd", "binary", "mcts")))
    assert set(out) == {"s1", "s2", "b2", "m1"} and tally.left_out == {"unmeasured_steps": 3}


def test_soft_values_use_a_measured_hard_label_where_the_soft_one_is_null_and_never_fill_a_null() -> None:
    out, tally = chosen(Selection(("shepherd", "binary", "mcts"), "cut", soft=True))
    assert out["s1"] == [0.5, 0.0, 0.0] and out["b2"] == [1.0, 1.0, 1.0] and out["b1"] == [1.0, 0.0]
    assert out["m2"] == [1.0] and "m3" not in out
    assert tally.soft_from_hard == 2 + 1 + 2 + 1  # b2, b1 (cut), m1, m2 (cut)
    assert step_values(prm("x", "binary", [T, N, False], [N, N, 0.0]), soft=True) == [1.0, None, 0.0]


def test_malformed_and_repeated_rows_are_counted_once_each() -> None:
    tally, seen = Tally(), set()
    rows = [prm("a", "shepherd", [T], [1.0]), prm("a", "shepherd", [T], [1.0]),
            {**prm("b", "shepherd", [T], [1.0]), "labels": None},
            {**prm("c", "shepherd", [T, T], [1.0, 1.0]), "labels": [T]}, {**prm("d", "shepherd", [T], [1.0]), "prompt": " "},
            {**prm("e", "shepherd", [T], [1.0]), "completions": []}, prm("f", "binary", [N, False], [N, 0.0])]
    assert [select(r, Selection(MEASURED, "cut"), seen, tally) is not None for r in rows] == [True] + [False] * 6
    assert tally.left_out == {"duplicate_id": 1, "unlabelled": 1, "length_mismatch": 1, "no_problem": 1, "no_steps": 1,
                              "unmeasured_first_step": 1}
    soft = {**prm("g", "shepherd", [T, T], [1.0, 1.0]), "soft_labels": [1.0]}
    assert select(soft, Selection(MEASURED, soft=True), set(), tally) is None and tally.left_out["soft_length_mismatch"] == 1


def test_a_cut_cuts_every_per_step_column_and_nothing_else() -> None:
    row = {**prm("a", "mcts", [T, N, False], [N, N, 0.0]), "q_values": [0.5, N, -1.0], "nodes": [N, N, N]}
    cut = cut_row(row, 1)
    assert cut["completions"] == ["a step0"] and cut["labels"] == [T] and cut["q_values"] == [0.5] and cut["nodes"] == [N]
    assert cut["prompt"] == row["prompt"] and cut["id"] == row["id"] and row["labels"] == [T, N, False]


def test_an_unknown_unmeasured_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unmeasured"):
        Selection(MEASURED, "fill")
