"""``reverse-o1 export self-correction DIR``: on hand-made ``trees`` rows and after a real scripted ``expand``, with
the scripted backend (a test double) writing the SelfCorrect steps; and on bad input."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from generators.backends.registry import BackendConfig
from generators.backends.scripted_backend import ScriptedBackend
from generators.engine.program import drive
from generators.prompts.library import template
from generators.tagging import RuleTagger
from pipelines.export.self_correction import (
    correction_program,
    correction_request,
    drafts,
    finished_row,
)
from pipelines.export.self_correction_trees import trees_from_rows, wrong_steps
from schemas.arrow import TREE_SCHEMA
from schemas.factors import load_factors
from schemas.tags import parse_think
from tests.pipelines.helpers import manifest, run, scripted, seed, write_jsonl
from verifiers.math_answer import MathVerifier

FIX = "Wait, that step is wrong; I should add the numbers instead."
MODEL = scripted([("Halve", "So the answer is 42."), ("Square", "<Think_End> oops"), ("Negate", "   "),
                  ("Cube", "Wait. " * 100), ("FAILME", "__FAIL__"), ("a mistake", FIX)], default=FIX)


def node(ident: str, parent: str | None, path: list[int], text: str | None, *, visits: int = 1, correct: int = 0,
         factor: str | None = None, rollout: list[str] | None = None, answer_correct: bool | None = None,
         terminal: str | None = None, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(TREE_SCHEMA.names)
    row.update({"id": ident, "parent": parent, "path": path, "depth": len(path), "text": text, "factor": factor,
                "visits": visits, "correct": correct, "q": (2 * correct - visits) / visits if visits else 0.0,
                "rollout": rollout, "answer_correct": answer_correct, "terminal_reason": terminal,
                "source_kind": "seed", "source": {"uri": "file:///seeds.jsonl", "path": "seeds.jsonl"}}, **extra)
    return row


def root(ident: str, problem: str, gold: str = "42", prefix: tuple[str, ...] = ("Start.",), visits: int = 4,
         correct: int = 2) -> dict[str, Any]:
    return node(ident, None, [], None, visits=visits, correct=correct, problem=problem, gold_answer=gold,
                prefix=[{"text": t, "factor": None} for t in prefix])


def simple_tree(tree: str, problem: str, wrong: str, answer: str = "42") -> list[dict[str, Any]]:
    """A root with a wrong child (its rollout reached 7) and a right one (its own rollout reached ``answer``)."""
    rows = [root(f"{tree}-r", problem),
            node(f"{tree}-w", f"{tree}-r", [0], wrong, factor="Proposer", rollout=["So it is 7.", "The answer is 7."],
                 answer_correct=False),
            node(f"{tree}-g", f"{tree}-r", [1], "Add the numbers.", visits=3, correct=2, factor="Compute",
                 rollout=["40 + 2 = 42.", f"The answer is {answer}."], answer_correct=True)]
    return [{**r, "tree_id": tree} for r in rows]


def deep_tree(tree: str, problem: str) -> list[dict[str, Any]]:
    """The fix's own rollout failed; its child states the right answer (a terminal step)."""
    rows = [root(f"{tree}-r", problem, prefix=()),
            node(f"{tree}-g", f"{tree}-r", [0], "Add 3 to 39.", visits=3, correct=1, rollout=["The answer is 41."],
                 answer_correct=False),
            node(f"{tree}-t", f"{tree}-g", [0, 0], "The answer is 42.", correct=1, terminal="answer", answer_correct=True),
            node(f"{tree}-w", f"{tree}-r", [1], "Subtract 3 from 39.", rollout=["The answer is 36."], answer_correct=False)]
    return [{**r, "tree_id": tree} for r in rows]


def write_trees(out: Path, rows: list[dict[str, Any]], name: str = "expand-1-a.parquet") -> Path:
    (out / "trees").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=TREE_SCHEMA), out / "trees" / name)
    return out


def export(out: Path, *extra: str, model: str = MODEL) -> int:
    return run(["export", "self-correction", out, "--backend", "scripted", "--model", model, *extra])


def written(out: Path) -> list[dict[str, Any]]:
    return [r for p in sorted((out / "self_correction").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def assert_good(row: dict[str, Any]) -> None:
    """Verified, exactly one SelfCorrect step right after the wrong one, and the rendering parses back."""
    steps = [(s["text"], s["factor"]) for s in row["steps"]]
    assert row["verified"] is True and row["correction_source"] == "tree"
    assert [f for _, f in steps].count("SelfCorrect") == 1 and steps[row["wrong_step_index"] + 1][1] == "SelfCorrect"
    assert row["messages"][0] == {"role": "user", "content": row["problem"]}
    parsed, answer = parse_think(row["messages"][1]["content"], load_factors())
    assert [(s.text, s.factor) for s in parsed] == steps and answer == row["answer"]
    assert row["generator"]["prompt_version"] == template("self_correct").id == "self_correct/v1"


def test_rows_from_hand_made_trees(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = write_trees(tmp_path / "out", simple_tree("t1", "What is 40 plus 2?", "Multiply 40 by 2.")
                      + deep_tree("t2", "What is 39 plus 3?"))
    assert export(out) == 0
    assert "2 rows (train 2, test 0) from 2 of 2 problems with a located wrong step" in capsys.readouterr().err
    rows = {r["tree_id"]: r for r in written(out)}
    for row in rows.values():
        assert_good(row)
    one = [(s["text"], s["factor"]) for s in rows["t1"]["steps"]]
    assert one[1:] == [("Multiply 40 by 2.", "Proposer"), (FIX, "SelfCorrect"), ("Add the numbers.", "Compute"),
                       ("40 + 2 = 42.", "Compute"), ("The answer is 42.", "Conclude")]  # tree factors kept
    assert (rows["t1"]["wrong_node_id"], rows["t1"]["fix_node_id"], rows["t1"]["wrong_step_index"]) == ("t1-w", "t1-g", 1)
    two = [s["text"] for s in rows["t2"]["steps"]]  # no human prefix; the continuation ends at the terminal child
    assert two == ["Subtract 3 from 39.", FIX, "Add 3 to 39.", "The answer is 42."] and rows["t2"]["answer"] == "42"
    assert rows["t2"]["wrong_step_index"] == 0 and rows["t2"]["fix_node_id"] == "t2-g"
    loaded = datasets.load_dataset(str(out), "self_correction", split="train", cache_dir=str(tmp_path / "hf"))
    assert len(loaded) == 2 and loaded.column_names[0] == "messages"
    entry = manifest(out)["exports"]["self_correction"]
    assert entry["rows"]["train"] == 2 and entry["settings"]["prompt_version"] == "self_correct/v1"


def test_bad_input_is_counted_never_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = simple_tree("ok", "P ok?", "Multiply them.")
    rows += simple_tree("wrongfix", "P wrong fix?", "Multiply them.", answer="41")  # the continuation misses the gold
    for i, bad in enumerate(["Halve it.", "Square it.", "Negate it.", "Cube it."]):  # replies: answer, tags, empty, long
        rows += simple_tree(f"bad{i}", f"P bad {i}?", bad)
    rows += [{**r, "tree_id": "two_roots"} for r in (root("x1", "P x?"), root("x2", "P x?"))]
    orphan = simple_tree("orphan", "P orphan?", "Multiply them.")
    orphan[1]["parent"] = "nowhere"  # the wrong step hangs from no node: never located
    rows += orphan
    broken = simple_tree("broken", "P broken?", "Multiply them.")
    broken[2]["visits"] = None  # the fix's statistics are missing
    rows += broken + [{**root("lost", "P lost?"), "tree_id": None}]
    rows += [{**r, "tree_id": "noroot"} for r in simple_tree("noroot", "P?", "Multiply them.")[1:]]
    assert export(write_trees(tmp_path / "out", rows)) == 0
    err = capsys.readouterr().err
    assert "1 rows (train 1, test 0) from 1 of 6 problems" in err
    left = manifest(tmp_path / "out")["exports"]["self_correction"]["left_out"]
    assert left == {"bad_correction": 4, "malformed_row": 2, "malformed_tree": 2, "orphan_node": 1, "unverified": 1}
    assert [r["tree_id"] for r in written(tmp_path / "out")] == ["ok"]


def test_no_trees_or_unreadable_shards_are_the_users_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert export(out) == 2
    assert "no TREES shards" in capsys.readouterr().err
    (out / "trees").mkdir()
    (out / "trees" / "x.parquet").write_text("not parquet", encoding="utf-8")
    assert export(out) == 2
    assert "unreadable TREES shard" in capsys.readouterr().err
    (out / "trees" / "x.parquet").unlink()
    pq.write_table(pa.table({"id": ["a"]}), out / "trees" / "x.parquet")
    assert export(out) == 2
    assert "no tree_id" in capsys.readouterr().err
    assert not (out / "self_correction").exists()


def test_a_failed_correction_is_replaced_and_a_failing_backend_counted(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # one problem, two located wrong steps: the shallower one's correction states an answer, the next is asked then
    tree = simple_tree("t", "What is 40 plus 2?", "Halve it.")
    tree += [node("t-g-w", "t-g", [1, 0], "Multiply 40 by 2.", rollout=["The answer is 80."], answer_correct=False,
                  tree_id="t"),
             node("t-g-g", "t-g", [1, 1], "Add 2.", correct=1, rollout=["The answer is 42."], answer_correct=True, tree_id="t")]
    out = write_trees(tmp_path / "out", tree)
    assert export(out, "--max-per-problem", "1") == 0
    [row] = written(out)
    assert_good(row)
    assert row["wrong_node_id"] == "t-g-w" and row["steps"][1]["text"] == "Add the numbers."
    assert manifest(out)["exports"]["self_correction"]["left_out"] == {"bad_correction": 1}
    capsys.readouterr()
    assert export(out, model=scripted(default="__FAIL__")) == 1
    err = capsys.readouterr().err
    assert "the backend failed" in err and "0 rows" in err and "backend_error 2" in err
    assert not written(out) and "self_correction" not in manifest(out)["exports"]  # an export without rows is taken off


def test_every_problem_asks_in_one_backend_call(tmp_path: Path) -> None:
    rows = [r for i in range(5) for r in simple_tree(f"t{i}", f"What is {40 - i} plus {2 + i}?", "Multiply them.")]
    left: collections.Counter[str] = collections.Counter()
    vocabulary = load_factors()
    with MathVerifier() as verifier:
        problems = drafts(trees_from_rows([("train", r) for r in rows], left), verifier, vocabulary, left)
    backend = ScriptedBackend(BackendConfig("scripted", MODEL))
    prompt, tagger = template("self_correct"), RuleTagger(vocabulary)
    program = correction_program(problems, 2, lambda d: correction_request(d, prompt, 0.7, 96, 0), lambda r: True,
                                 lambda d, text: finished_row(d, text, tagger, vocabulary, {}), left)
    made = drive(program, backend)
    assert len(made) == 5 and backend.calls == 1 and not left
    request = correction_request(problems["What is 40 plus 2?"][0], prompt, 0.7, 96, 0)
    user = request.messages[-1][1]
    assert "What is 40 plus 2?" in user and "Start." in user and "Multiply them." in user and "Add the numbers" not in user


# A real expand: expansions propose a good and a BAD step; a rollout below a BAD step reaches 7, else 42.
POLICY = scripted(
    [("BAD", "So it is 7.\nThe answer is 7."), ("Write the", ["Add the two numbers.", "BAD guess: multiply them."])],
    default="So 40 + 2 = 42.\nThe answer is 42.",
)


def test_after_a_real_expand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeds = write_jsonl(tmp_path / "seeds.jsonl",
                        [seed(i, [f"Start with {40 - i}.", "The answer is 42."], problem=f"What is {40 - i} plus {2 + i}?")
                         for i in range(4)])
    out = tmp_path / "out"
    assert run(["expand", "--seeds", seeds, "--out", out, "--backend", "scripted", "--model", POLICY,
                "--simulations", "3", "--branching", "2", "--max-depth", "4"]) == 0
    capsys.readouterr()
    assert export(out) == 0
    err = capsys.readouterr().err
    trees = trees_from_rows([("train", r) for p in (out / "trees").glob("*.parquet") for r in pq.read_table(p).to_pylist()],
                            collections.Counter())
    located = {t.problem for t in trees if wrong_steps(t)}
    rows = written(out)
    assert located and len({r["problem"] for r in rows}) >= 0.5 * len(located)  # the bar: >= 50% of such problems
    assert f"of {len(located)} problems with a located wrong step" in err
    nodes = {r["id"]: r for p in (out / "trees").glob("*.parquet") for r in pq.read_table(p).to_pylist()}
    for row in rows:
        assert_good(row)
        wrong, fix = nodes[row["wrong_node_id"]], nodes[row["fix_node_id"]]
        assert wrong["parent"] == fix["parent"] and wrong["correct"] == 0 and fix["correct"] > 0
        assert row["steps"][row["wrong_step_index"]]["text"] == wrong["text"] == "BAD guess: multiply them."
        assert row["steps"][row["wrong_step_index"] + 2]["text"] == fix["text"]
    per_problem = collections.Counter(r["problem"] for r in rows)
    assert max(per_problem.values()) <= 2
    assert json.loads(json.dumps(manifest(out)["exports"]["self_correction"]["settings"]))["max_per_problem"] == 2
