"""``expand``'s whole search: every node in ``trees``, honest MCTS labels, and ``export policy-value``
(the real Beam runner, a scripted policy as the test double)."""

from __future__ import annotations

import collections
import glob
import os
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from schemas.factors import load_factors
from tests.pipelines.helpers import assert_balanced, prm_rows, seed, write_jsonl
from tests.pipelines.test_expand import expand


def tree_rows(out: Path) -> list[dict]:
    return [r for p in sorted(glob.glob(os.path.join(out, "trees", "*.parquet"))) for r in pq.read_table(p).to_pylist()]


@pytest.fixture(scope="module")
def factor_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One expand with factor actions, shared by the tests below (two seeds, one with a wrong branch)."""
    tmp = tmp_path_factory.mktemp("trees")
    seeds = write_jsonl(tmp / "s.jsonl", [seed(1, ["There are 40 apples.", "Tom buys 2 more."]),
                                          seed(2, ["Start.", "A BAD step.", "Conclude."])])
    out = expand(tmp, seeds, "out", "--factor-actions")
    assert main(["export", "policy-value", str(out)]) == 0
    return out


def test_every_node_is_a_row_and_the_tree_adds_up(factor_run: Path) -> None:
    data = assert_balanced(factor_run)
    rows = tree_rows(factor_run)
    assert len(rows) == data["stages"]["expand/expand"]["stats"]["nodes"] == data["stages"]["expand/trees"]["stats"]["nodes"]
    assert data["outputs"]["trees_rows"] == len(rows)
    by_id = {r["id"]: r for r in rows}
    assert len(by_id) == len(rows)
    children = collections.defaultdict(list)
    for r in rows:
        if r["parent"] is not None:
            assert r["parent"] in by_id and by_id[r["parent"]]["tree_id"] == r["tree_id"]
            assert r["depth"] == by_id[r["parent"]]["depth"] + 1 and r["problem"] is None
            children[r["parent"]].append(r)
    roots = [r for r in rows if r["parent"] is None]
    assert len(roots) == data["stages"]["expand/expand"]["stats"]["roots"] == len({r["tree_id"] for r in rows})
    for root in roots:
        assert root["problem"] and root["gold_answer"] == "42" and root["value"] is None and root["prefix"]
        assert root["visits"] == sum(c["visits"] for c in children[root["id"]])  # the root is never evaluated itself
    vocabulary = load_factors().names
    for r in rows:
        kids = children[r["id"]]
        if kids:  # visits = its children's + its own evaluation
            assert r["visits"] == sum(c["visits"] for c in kids) + (r["value"] is not None)
            assert {c["factor"] for c in kids} == set(vocabulary)  # factor actions: every factor tried at every node
            assert sum(c["prior"] for c in kids) == pytest.approx(1.0)
        if r["parent"] is not None:
            assert r["value"] in (1.0, -1.0) and (r["rollout"] is not None or r["terminal_reason"] == "answer")
            assert r["correct"] == round((r["value_sum"] + r["visits"]) / 2)
    assert any(not children[r["id"]] and r["visits"] == 1 for r in rows)  # children never selected are kept
    trees = datasets.load_dataset(str(factor_run), "trees", split="train", cache_dir=str(factor_run / ".hf"))
    assert len(trees) == len(rows)


def test_no_mcts_label_is_unmeasured(factor_run: Path) -> None:
    prm = prm_rows(factor_run)
    assert any(not r["answer_correct"] for r in prm)
    for row in prm:
        labels, visits = row["labels"], row["rollouts"]
        assert row["soft_labels"][:-1] == [None] * (len(labels) - 1)
        assert len(row["q_values"]) == len(labels)
        for i, label in enumerate(labels):
            later_true = any(x is True for x in labels[i + 1:])
            measured = row["answer_correct"] or visits[i] > 0 or i == len(labels) - 1 or later_true
            assert label is None or measured, (i, row)
            assert (row["q_values"][i] is None) == (visits[i] == 0)
        if not row["answer_correct"]:
            assert None in labels  # a wrong trajectory's rollout steps


def test_policy_value_targets(factor_run: Path) -> None:
    rows = [r for p in glob.glob(os.path.join(factor_run, "policy_value", "*.parquet")) for r in pq.read_table(p).to_pylist()]
    trees = tree_rows(factor_run)
    expanded = {r["parent"] for r in trees if r["parent"] is not None}
    assert rows and len(rows) == len(expanded)
    vocabulary = list(load_factors().names)
    for row in rows:
        assert row["factors"] == vocabulary and sum(row["pi"]) == pytest.approx(1.0, abs=1e-6)
        assert all(p >= 0 for p in row["pi"]) and row["value_target"] in (1.0, -1.0)
        assert row["chosen_factor"] in vocabulary and row["prompt"].count("<ACT_") >= 2
        assert row["pi"][vocabulary.index(row["chosen_factor"])] == max(row["pi"])
    data = datasets.load_dataset(str(factor_run), "policy_value", split="train", cache_dir=str(factor_run / ".hf"))
    assert len(data) == len(rows)


def test_policy_value_leaves_out_searches_without_factor_actions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(1, ["There are 40 apples.", "Tom buys 2 more."])])
    out = expand(tmp_path, seeds, "plain")
    assert tree_rows(out)
    assert main(["export", "policy-value", str(out)]) == 0
    assert "no_factor_actions" in capsys.readouterr().err
    assert not glob.glob(os.path.join(out, "policy_value", "*.parquet"))


def test_no_trees_and_resume(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(1, ["There are 40 apples.", "Tom buys 2 more."])])
    bare = expand(tmp_path, seeds, "bare", "--no-trees")
    assert prm_rows(bare) and not tree_rows(bare)
    out = expand(tmp_path, seeds, "out")
    first = tree_rows(out)
    again = expand(tmp_path, seeds, "out")  # a rerun resumes the seed: no tree written twice
    assert sorted(r["id"] for r in tree_rows(again)) == sorted(r["id"] for r in first)
    assert assert_balanced(again)["stages"]["expand/expand"]["resumed"] == 1


def test_policy_value_on_broken_trees(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from pipelines.io.shards import write_rows

    out = tmp_path / "out"
    node = {"tree_id": "t", "depth": 1, "visits": 1, "q": 1.0, "factor": "Compute", "value": 1.0, "path": [0]}
    write_rows([{"id": "orphan", "parent": "missing", **node}, {"id": "r2", "parent": None, **node, "tree_id": "u"},
                {"id": "r3", "parent": None, **node, "tree_id": "u"}], "trees", str(out / "trees" / "x-1.parquet"))
    assert main(["export", "policy-value", str(out)]) == 0
    assert "broken_tree 2" in capsys.readouterr().err
    (out / "trees" / "y-2.parquet").write_bytes(b"not parquet")
    assert main(["export", "policy-value", str(out)]) == 2
    assert "unreadable TREES shard" in capsys.readouterr().err
