"""``report``'s "Search trees" section (from ``DIR/trees``) and its hard labels, null (unmeasured) ones included."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pipelines.io import fs
from pipelines.io.shards import write_rows
from pipelines.report import render_report
from pipelines.report.data import load_figures
from schemas.arrow import TREE_SCHEMA
from schemas.factors import load_factors
from tests.pipelines.helpers import manifest, run, scripted, seed, write_jsonl
from tests.pipelines.report.test_report import GENERATOR, SOURCE, assert_inert, prm

FACTORS = ["Compute", "Verify", "Compute", "Hypothesize"]


def node(ident: str, tree: str, parent: str | None, depth: int, factor: str | None, visits: int, **extra: Any) -> dict[str, Any]:
    row = {name: None for name in TREE_SCHEMA.names}
    row.update({"id": ident, "tree_id": tree, "parent": parent, "depth": depth, "path": [], "text": f"text of {ident}",
                "factor": factor, "visits": visits, "value_sum": 0.0, "q": 0.0, "correct": 0, "expanded": False,
                "rollout": [f"secret rollout of {ident}"], "seed_id": "s", "cut": 0, "source_kind": "seed",
                "source": SOURCE, "generator": GENERATOR})
    return row | extra


def trees() -> list[dict[str, Any]]:
    """Tree A: a root with 4 children (one expanded into 2, one a dead end, one never visited); tree B: a bare root."""
    a = [node("A", "TA", None, 0, None, 5, expanded=True),  # visits: children's + 1 for a node's own value
         *(node(f"A{i}", "TA", "A", 1, f, [3, 1, 1, 0][i], expanded=i == 0, value=None if i == 3 else 1.0)
           for i, f in enumerate(FACTORS)),
         node("A00", "TA", "A0", 2, "Conclude", 1, terminal_reason="answer", answer="7", answer_correct=True),
         node("A01", "TA", "A0", 2, None, 1, terminal_reason="answer", answer="8", answer_correct=False)]
    a[2]["terminal_reason"] = "dead_end"  # A1
    return a + [node("B", "TB", None, 0, None, 0)]


def folder(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    rows = trees()
    write_rows(rows[:4], "trees", str(out / "trees" / "expand-a-0.parquet"))  # one tree over two shards
    write_rows(rows[4:], "trees", str(out / "trees" / "expand-a-1.parquet"))
    write_rows([prm(0, "mcts", [None, None, 1.0], [0, 0, 0], True), prm(1, "mcts", [None, 0.0], [0, 0], False),
                prm(2, "binary", [1.0, 0.0], [4, 4], False)], "prm", str(out / "prm" / "expand-a-0.parquet"))
    return out


def test_the_search_trees_figures_are_the_trees_rows(tmp_path: Path) -> None:
    fig = load_figures(str(folder(tmp_path)))
    t = fig.trees
    assert t is not None and (t.shards, t.nodes, t.trees, t.children) == (2, 8, 2, 6)
    assert (t.expanded, t.dead_ends, t.answers, t.answers_correct, t.unvisited) == (2, 1, 2, 1, 1)
    assert t.mean_branching == pytest.approx(6 / 2) and t.depths == {0: 2, 1: 4, 2: 2}
    assert t.factors == {"Compute": 2, "(no factor)": 1, "Conclude": 1, "Hypothesize": 1, "Verify": 1}
    shares = t.factor_shares()
    assert sum(s for _, _, s in shares) == pytest.approx(1.0) and shares[0] == ("Compute", 2, pytest.approx(1 / 3))
    assert t.root_visits == {0: 1, 5: 1} and t.mean_root_visits == 2.5
    assert not any("trees" in p for p in fig.problems)

    page = render_report(str(folder(tmp_path / "again")))
    assert_inert(page)
    section = page[page.index('<section id="trees">'):]
    section = section[: section.index("</section>")]
    assert "<h2>Search trees</h2>" in section and "<dt>trees (roots)</dt><dd>2</dd>" in section
    assert "<dt>dead ends</dt><dd>1</dd>" in section and "<dt>children never visited</dt><dd>1</dd>" in section
    assert "<dt>mean branching (children per expanded node)</dt><dd>3</dd>" in section
    assert "<dt>answers stated (correct / all)</dt><dd>1 / 2</dd>" in section
    assert "<title>Compute: 2 (33%)</title>" in section and "<title>depth 1: 4</title>" in section
    assert "<title>5 visits: 1 roots</title>" in section and "TREES 8 rows (nodes) in 2 shards" in page
    assert "text of" not in page and "secret rollout" not in page  # no text of the data on the page


def test_only_small_tree_columns_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    real = fs.parquet_file

    @contextmanager
    def recording(path: str) -> Iterator[Any]:
        with real(path) as parquet:
            read = parquet.read
            parquet.read = lambda columns=None, **kw: (asked.extend(columns or ["*"]), read(columns=columns, **kw))[1]
            yield parquet

    monkeypatch.setattr(fs, "parquet_file", recording)
    assert load_figures(str(folder(tmp_path))).trees is not None
    assert "factor" in asked and not {"*", "text", "rollout", "problem", "prefix", "completions"} & set(asked)


def test_hard_labels_count_nulls_as_unmeasured(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rows = [prm(0, "mcts", [None, None, 1.0], [0, 0, 0], True), prm(1, "mcts", [None, None, 0.0], [0, 0, 0], False)]
    rows[0]["labels"], rows[1]["labels"] = [True, True, True], [True, None, False]  # an unmeasured step on a wrong line
    rows.append({**prm(2, "shepherd", [None], [0], False), "labels": None})  # no labels at all: nothing counted, no crash
    write_rows(rows, "prm", str(out / "prm" / "expand-a-0.parquet"))
    fig = load_figures(str(out))
    assert fig.hard_labels == {"mcts": {"correct": 4, "wrong": 1, "unmeasured": 1}, "shepherd": {"correct": 0, "wrong": 0,
                                                                                                 "unmeasured": 0}}
    assert fig.soft_labels["mcts"][0].nulls == 2 and fig.soft_labels["mcts"][2].measured == 2
    page = render_report(str(out))
    assert_inert(page)
    assert "<h3>Hard labels by method</h3>" in page and "<title>mcts: unmeasured 1</title>" in page
    assert "could not be drawn" not in page
    assert "no search trees: this folder has no trees/ shards" in page and fig.trees is None
    assert not any("trees" in p for p in fig.problems)  # a folder without trees is no problem


def test_a_damaged_trees_shard_is_a_note(tmp_path: Path) -> None:
    out = folder(tmp_path)
    (out / "trees" / "expand-b-0.parquet").write_bytes(b"PAR1 not parquet at all")
    fig = load_figures(str(out))
    assert any(p.startswith("trees/expand-b-0.parquet cannot be read") for p in fig.problems) and fig.trees.nodes == 8
    assert "could not be drawn" not in render_report(str(out))


@pytest.mark.parametrize("factor_actions", [False, True])
def test_report_of_a_scripted_expand_counts_its_trees(tmp_path: Path, factor_actions: bool) -> None:
    seeds = write_jsonl(tmp_path / "seeds.jsonl", [seed(0, ["Start with 40.", "The answer is 42."], problem="40 plus 2?")])
    policy = scripted([("BAD", "So it is 7.\nThe answer is 7."),
                       ("Write the", ["Add the two numbers.", "BAD guess: multiply them."])],
                      default="So 40 + 2 = 42.\nThe answer is 42.")
    out = tmp_path / "out"
    assert run(["expand", "--seeds", seeds, "--out", out, "--backend", "scripted", "--model", policy,
                "--simulations", "3", "--branching", "2", "--max-depth", "4", *(["--factor-actions"] * factor_actions)]) == 0
    fig, data = load_figures(str(out)), manifest(out)
    t = fig.trees
    assert t is not None and t.nodes == data["outputs"]["trees_rows"] == data["stages"]["expand/trees"]["stats"]["nodes"]
    assert t.trees == 1 and t.depths[0] == 1 and t.mean_branching == pytest.approx(t.children / t.expanded)
    assert sum(t.factors.values()) == t.children and fig.hard_labels["mcts"]["correct"] > 0
    if factor_actions:  # every factor among the children of every expanded node
        assert set(t.factors) == set(load_factors(None).names) and min(t.factors.values()) >= t.expanded > 0
    page = render_report(str(out))
    assert f"{t.nodes} (the manifest: {t.nodes})" in page and "could not be drawn" not in page
