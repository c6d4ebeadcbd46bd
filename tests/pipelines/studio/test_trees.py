"""The studio's tree view: every node from ``DIR/trees`` (a hand-built folder and a scripted ``expand``), the
PRM rows' ``nodes`` as the fallback for folders without trees, and null (unmeasured) labels on the review page."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from pipelines.io.shards import write_rows
from pipelines.studio.app import StudioSettings, create_app
from pipelines.studio.data_view import root_of
from schemas.arrow import PRM_SCHEMA, TREE_SCHEMA
from tests.pipelines.helpers import prm_rows

SOURCE = {"uri": "file:///x", "commit": None, "path": None, "symbol": "p7", "license": "MIT", "dataset_license": None}
GENERATOR = {"backend": "scripted", "model": "m", "temperature": 0.0, "seed": 0, "prompt_version": "v1"}


def client(tmp_path: Path, data: list[Path]) -> TestClient:
    settings = StudioSettings(data=[str(d) for d in data], labels=str(tmp_path / "labels.jsonl"), port=8765)
    return TestClient(create_app(settings), base_url="http://127.0.0.1:8765")


def node(ident: str, parent: str | None, depth: int, text: str | None, factor: str | None, visits: int, value_sum: float,
         **extra: Any) -> dict[str, Any]:
    row = {name: None for name in TREE_SCHEMA.names}
    row.update({"id": ident, "tree_id": "T1", "parent": parent, "depth": depth, "path": [], "text": text, "factor": factor,
                "prior": None if parent is None else 0.5, "visits": visits, "value_sum": value_sum,
                "q": value_sum / visits if visits else 0.0, "correct": round((value_sum + visits) / 2),
                "expanded": False, "seed_id": "s7", "cut": 1, "source_kind": "seed", "source": SOURCE, "generator": GENERATOR})
    return row | extra


# root (3 visits) -> a (expanded; its children: a1 answers right, a2 never visited) and b (a dead end);
# visits = children's visits + 1 for a node's own evaluation (``value``), as TREE_SCHEMA says
TREE = [
    node("root", None, 0, None, None, 3, 1.0, expanded=True, problem="What is 3 + 4?", gold_answer="7",
         prefix=[{"text": "Read the problem.", "factor": "RephraseTarget"}]),
    node("a", "root", 1, "Add 3 and 4.", "Compute", 2, 2.0, expanded=True, value=1.0, answer="7", answer_correct=True,
         rollout=["3 + 4 = 7.", "The answer is 7."], factor_prior=0.125),
    node("a1", "a", 2, "The answer is 7.", "Conclude", 1, 1.0, terminal_reason="answer", answer="7", answer_correct=True,
         value=1.0),
    node("a2", "a", 2, "Check the sum.", "Verify", 0, 0.0),
    node("b", "root", 1, "Guess.", "Hypothesize", 1, -1.0, terminal_reason="dead_end", value=-1.0),
]


def prm(ident: str, nodes: list[dict[str, Any] | None], labels: list[bool | None], soft: list[float | None],
        correct: bool = True) -> dict[str, Any]:
    return {"prompt": "What is 3 + 4?", "completions": [f"step {i}" for i in range(len(labels))], "labels": labels,
            "soft_labels": soft, "rollouts": [0] * len(labels), "correct_rollouts": [0] * len(labels), "method": "mcts",
            "answer_correct": correct, "id": ident, "source_kind": "seed", "source": SOURCE, "generator": GENERATOR,
            "nodes": nodes, "q_values": [None if n is None else n["q"] for n in nodes]}


def mark(ident: str, parent: str | None, q: float, visits: int) -> dict[str, Any]:
    return {"id": ident, "parent": parent, "q": q, "visits": visits, "prior": None if parent is None else 0.5}


ROWS = [prm("r1", [mark("root", None, 1 / 3, 3), mark("a", "root", 1.0, 2), mark("a1", "a", 1.0, 1)],
            [True, True, True], [None, None, 1.0]),
        prm("r2", [mark("root", None, 1 / 3, 3), mark("b", "root", -1.0, 1), None],  # a wrong trajectory: nulls
            [True, None, False], [None, None, 0.0], correct=False)]


@pytest.fixture
def hand_folder(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    write_rows(TREE, "trees", str(out / "trees" / "expand-a-0.parquet"))
    write_rows(ROWS, "prm", str(out / "prm" / "expand-a-0.parquet"))
    return out


def test_every_node_of_the_tree_comes_from_trees(tmp_path: Path, hand_folder: Path) -> None:
    c = client(tmp_path, [hand_folder])
    assert c.get("/api/info").json()["data"][0]["trees"] == 1
    for n in TREE:  # the fixture keeps TREE_SCHEMA's invariant
        below = sum(k["visits"] for k in TREE if k["parent"] == n["id"])
        assert n["visits"] == below + (n["value"] is not None) or not n["expanded"]
    tree = c.get("/api/data/0/tree/r2").json()
    assert tree["source"] == "trees" and tree["root"] == "root" and tree["tree_id"] == "T1"
    assert tree["problem"] == "What is 3 + 4?" and tree["gold_answer"] == "7" and tree["seed_id"] == "s7" and tree["cut"] == 1
    assert tree["prefix"] == [{"text": "Read the problem.", "factor": "RephraseTarget"}]
    assert tree["counts"] == {"nodes": 5, "expanded": 2, "dead_ends": 1, "answers": 1, "unvisited": 1}
    nodes = {n["id"]: n for n in tree["nodes"]}
    assert set(nodes) == {"root", "a", "a1", "a2", "b"}  # the dead end and the child never visited too
    a = nodes["a"]
    assert (a["text"], a["factor"], a["visits"], a["q"], a["correct"], a["value"]) == ("Add 3 and 4.", "Compute", 2, 1.0, 2, 1.0)
    assert a["rollout"] == ["3 + 4 = 7.", "The answer is 7."] and a["factor_prior"] == 0.125 and not a["terminal"]
    assert nodes["a1"]["terminal_reason"] == "answer" and nodes["a1"]["verified"] and nodes["a1"]["answer"] == "7"
    assert nodes["b"]["terminal_reason"] == "dead_end" and nodes["b"]["terminal"] and not nodes["b"]["verified"]
    assert nodes["a2"]["visits"] == 0 and nodes["a2"]["trajectories"] == [] and nodes["a2"]["answer"] is None
    assert sorted(nodes["root"]["trajectories"]) == ["r1", "r2"] and nodes["a1"]["trajectories"] == ["r1"]
    assert {t["id"]: t["leaf"] for t in tree["trajectories"]} == {"r1": "a1", "r2": "b"}
    assert c.get("/api/data/0/tree/T1").json() == c.get("/api/data/0/tree/r1").json()  # by tree id, no row needed
    assert c.get("/api/data/0/tree/a").status_code == 404  # a node id is neither


def test_without_trees_the_tree_is_pieced_from_the_prm_rows(tmp_path: Path, hand_folder: Path) -> None:
    shutil.rmtree(hand_folder / "trees")
    tree = client(tmp_path, [hand_folder]).get("/api/data/0/tree/r1").json()
    nodes = {n["id"]: n for n in tree["nodes"]}
    assert tree["source"] == "prm" and tree["tree_id"] is None and set(nodes) == {"root", "a", "a1", "b"}  # not a2
    assert nodes["a1"]["terminal"] and nodes["a1"]["verified"]  # r1 ends on it, answer right
    assert not nodes["b"]["terminal"] and nodes["b"]["text"] == "step 1"  # r2 goes on below it (a rollout step)
    assert nodes["a"]["factor"] is None and nodes["a"]["terminal_reason"] is None  # not in the PRM rows


def test_null_labels_are_unmeasured_not_a_crash(tmp_path: Path, hand_folder: Path) -> None:
    c = client(tmp_path, [hand_folder])
    summary = {r["id"]: r for r in c.get("/api/data/0/rows").json()["rows"]}
    assert summary["r2"]["mean_soft"] == 0.0 and summary["r2"]["has_tree"]
    steps = c.get("/api/data/0/rows/r2").json()["steps"]
    assert [s["label"] for s in steps] == [True, None, False] and [s["soft"] for s in steps] == [None, None, 0.0]
    assert [s["q"] for s in steps] == [pytest.approx(1 / 3), -1.0, None]
    written = c.post("/api/labels", json={"data": 0, "row_id": "r2", "annotator": "ann", "labels": {"1": "wrong"}})
    assert written.status_code == 200 and len(written.json()["written"]) == 1
    agreement = c.get("/api/agreement")  # a human verdict on an unmeasured step: not compared, counted apart
    assert agreement.status_code == 200 and agreement.json()["groups"][-1]["counts"]["generated_null"] == 1


def test_an_older_prm_shard_without_q_values_still_reads(tmp_path: Path) -> None:
    import pyarrow as pa

    out = tmp_path / "old"
    (out / "prm").mkdir(parents=True)
    old = pa.schema([f for f in PRM_SCHEMA if f.name not in ("q_values",)])
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in ROWS[1].items() if k != "q_values"}], schema=old),
                   out / "prm" / "x.parquet")
    c = client(tmp_path, [out])
    assert [s["q"] for s in c.get("/api/data/0/rows/r2").json()["steps"]] == [None, None, None]
    assert c.get("/api/data/0/tree/r2").json()["source"] == "prm"


def test_a_damaged_trees_shard_is_named_and_the_rows_still_reviewed(tmp_path: Path, hand_folder: Path) -> None:
    (hand_folder / "trees" / "expand-b-0.parquet").write_bytes(b"PAR1 not parquet")
    c = client(tmp_path, [hand_folder])
    notes = c.get("/api/info").json()["data"][0]["notes"]
    assert len(notes) == 1 and notes[0].startswith("trees/expand-b-0.parquet: unreadable shard, skipped")
    assert c.get("/api/data/0/tree/r1").json()["source"] == "trees"


def test_the_tree_of_a_scripted_expand_is_its_trees_rows(tmp_path: Path, expanded_folder: Path) -> None:
    c = client(tmp_path, [expanded_folder])
    written = [r for p in sorted((expanded_folder / "trees").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    mcts = [r for r in prm_rows(expanded_folder) if r["method"] == "mcts"]
    for row in mcts[:3]:
        tree = c.get(f"/api/data/0/tree/{row['id']}").json()
        mine = [r for r in written if r["tree_id"] == tree["tree_id"]]
        assert tree["source"] == "trees" and {n["id"] for n in tree["nodes"]} == {r["id"] for r in mine}
        nodes = {n["id"]: n for n in tree["nodes"]}
        assert all(nodes[r["id"]]["visits"] == r["visits"] and nodes[r["id"]]["text"] == r["text"] for r in mine)
        assert {t["id"] for t in tree["trajectories"]} == {r["id"] for r in mcts if root_of(r) == tree["root"]}
        for n in nodes.values():  # visits = children's visits + the node's own evaluation
            children = [k for k in nodes.values() if k["parent"] == n["id"]]
            if n["expanded"]:
                assert n["visits"] == sum(k["visits"] for k in children) + (n["value"] is not None)


def test_a_value_model_search_shows_scores_and_best_of_candidates(tmp_path: Path) -> None:
    """``expand --value-model ... --best-of``'s columns reach the tree view; a hostile candidate text stays text."""
    pool = [{"text": "<img src=x onerror=alert(1)>", "score": 0.2, "kept": False},
            {"text": "Add 3 and 4.", "score": 0.9, "kept": True}]
    extra = {"value_model": "prm:prm1@abc", "value_mix": 0.0}
    rows = [node("root", None, 0, None, None, 1, 0.8, expanded=True, problem="What is 3 + 4?", gold_answer="7", checked=0,
                 **extra),
            node("a", "root", 1, "Add 3 and 4.", "Compute", 1, 0.8, value=0.8, score=0.9, candidates=pool, checked=0, **extra)]
    out = tmp_path / "out"
    write_rows(rows, "trees", str(out / "trees" / "expand-a-0.parquet"))
    tree = client(tmp_path, [out]).get("/api/data/0/tree/T1").json()
    a = {n["id"]: n for n in tree["nodes"]}["a"]
    assert a["score"] == 0.9 and a["checked"] == 0 and a["value_model"] == "prm:prm1@abc"
    assert [c["kept"] for c in a["candidates"]] == [False, True] and a["candidates"][0]["text"].startswith("<img")
