"""``reverse-o1 export pairs|sft|openrlhf DIR`` after a scripted ``expand`` run (a test double as the
policy: it proposes a good and a bad next step), and on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.export.pairs import step_prompt
from schemas.arrow import TREE_SCHEMA
from schemas.splits import problem_key
from tests.pipelines.helpers import manifest, prm_rows, run, scripted, seed, write_jsonl

# Expansions get two candidates: a good step (its rollout reaches 42) and a BAD one (its rollout reaches 7).
POLICY = scripted(
    [("BAD", "So it is 7.\nThe answer is 7."), ("Write the", ["Add the two numbers.", "BAD guess: multiply them."])],
    default="So 40 + 2 = 42.\nThe answer is 42.",
)
# c_puct 4 makes the fourth simulation visit the BAD step again, so the root has two candidates of 2+ visits:
# one with a correct evaluation below, one with a wrong one (an rStar-Math pair at --min-visits 2)
SMALL = ["--simulations", "4", "--branching", "2", "--max-depth", "4", "--c-puct", "4"]


def expanded(tmp_path: Path, n: int = 4, *extra: str) -> Path:
    seeds = write_jsonl(tmp_path / "seeds.jsonl",
                        [seed(i, [f"Start with {40 - i}.", "The answer is 42."], problem=f"What is {40 - i} plus {2 + i}?")
                         for i in range(n)])
    out = tmp_path / "out"
    assert run(["expand", "--seeds", seeds, "--out", out, "--backend", "scripted", "--model", POLICY, *SMALL, *extra]) == 0
    return out


def table(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def tree_rows(out: Path) -> dict[str, dict]:
    return {r["id"]: r for p in sorted((out / "trees").glob("*.parquet")) for r in table(p)}


def tree_prompt(nodes: dict[str, dict], parent: str) -> str:
    """The prompt of a step pair from the tree rows alone: the root's problem, its prefix, the path's steps."""
    path, node = [], nodes[parent]
    while node["parent"] is not None:
        path.append(node["text"])
        node = nodes[node["parent"]]
    return step_prompt(node["problem"], tuple(s["text"] for s in node["prefix"]) + tuple(reversed(path)))


def test_expand_rows_carry_their_tree_nodes(tmp_path: Path) -> None:
    out = expanded(tmp_path, 1)
    rows = prm_rows(out)
    assert rows
    for row in rows:
        nodes = row["nodes"]
        assert len(nodes) == len(row["completions"])
        assert nodes[0]["parent"] is None  # the root sits at the cut's last human step
        tree = [n for n in nodes[1:] if n is not None]
        assert tree and all(n["parent"] and -1 <= n["q"] <= 1 and n["visits"] >= 1 for n in tree)
        assert tree[0]["parent"] == nodes[0]["id"]
        for parent, child in zip(tree, tree[1:], strict=False):
            assert child["parent"] == parent["id"]


def test_step_pairs_follow_rstar_and_trajectory_pairs_the_verified(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = expanded(tmp_path)
    capsys.readouterr()
    assert run(["export", "pairs", out]) == 0
    err = capsys.readouterr().err
    steps = table(out / "pairs_step" / "train.parquet")
    assert len(steps) == 4 and f"{len(steps)} step pairs" in err and "rule rstar, min visits 2" in err
    nodes = tree_rows(out)
    for pair in steps:
        chosen, rejected = nodes[pair["chosen_id"]], nodes[pair["rejected_id"]]
        assert chosen["parent"] == rejected["parent"] == pair["parent_id"]  # one prefix, two candidates
        assert chosen["visits"] >= 2 and chosen["correct"] > 0  # a trajectory below reached the gold answer
        assert rejected["visits"] >= 2 and rejected["visits"] > rejected["correct"]  # and one below did not
        assert (chosen["q"], rejected["q"]) == (pair["chosen_value"], pair["rejected_value"])
        assert pair["chosen_value"] > pair["rejected_value"]
        assert pair["prompt"] == tree_prompt(nodes, pair["parent_id"])
        assert pair["chosen"] == "Add the two numbers." and pair["rejected"] == "BAD guess: multiply them."
    trajectories = table(out / "pairs_trajectory" / "train.parquet")
    assert trajectories
    sft = {r["id"]: r for p in (out / "sft").glob("*.parquet") for r in table(p)}
    for pair in trajectories:
        win, lose = sft[pair["chosen_id"]], sft[pair["rejected_id"]]
        assert win["verified"] and not lose["verified"] and win["problem"] == lose["problem"]
        assert pair["prompt"] == win["messages"][:1] and pair["chosen"] == win["messages"][1:]
        assert pair["rejected"] == lose["messages"][1:]
    # the card lists both as configs, and datasets loads them through it
    loaded = datasets.load_dataset(str(out), "pairs_step", split="train")
    assert loaded.column_names[:3] == ["prompt", "chosen", "rejected"] and len(loaded) == len(steps)
    assert manifest(out)["exports"]["pairs_trajectory"]["rows"]["train"] == len(trajectories)


def test_margin_and_per_prefix_and_kind(tmp_path: Path) -> None:
    out = expanded(tmp_path, 2)
    assert run(["export", "pairs", out, "--kind", "step", "--rule", "q-gap", "--min-margin", "2.5"]) == 0  # no gap is that wide
    assert not (out / "pairs_step" / "train.parquet").exists() and not (out / "pairs_trajectory").exists()
    assert "pairs_step" not in manifest(out)["exports"]
    assert run(["export", "pairs", out, "--kind", "trajectory", "--max-pairs-per-problem", "1"]) == 0
    pairs = table(out / "pairs_trajectory" / "train.parquet")
    keys = [problem_key(p["source_kind"], p["source"], p["prompt"][0]["content"]) for p in pairs]
    assert len(keys) == len(set(keys)) == 2  # one per problem


def test_splits_of_the_rows_carry_over_to_every_export(tmp_path: Path) -> None:
    out = expanded(tmp_path, 8, "--test-fraction", "0.5", "--split-seed", "3")
    assert run(["export", "pairs", out]) == 0 and run(["export", "sft", out, "--verified"]) == 0
    assert run(["export", "openrlhf", out, "--method", "all", "--unmeasured", "cut"]) == 0  # mcts rows, cut where unmeasured
    problems: dict[str, set[str]] = {"train": set(), "test": set()}
    for split in problems:
        for shard in (out / "sft").glob(f"*.{split}.parquet"):
            problems[split] |= {r["problem"] for r in table(shard)}
    assert problems["train"] and problems["test"] and not problems["train"] & problems["test"]
    for split, seen in problems.items():
        for pair in table(out / "pairs_trajectory" / f"{split}.parquet"):
            assert pair["prompt"][0]["content"] in seen
        for pair in table(out / "pairs_step" / f"{split}.parquet"):
            assert pair["prompt"].split("\n\n")[0] in seen
        for row in table(out / "sft_verified" / f"{split}.parquet"):
            assert row["verified"] and row["problem"] in seen
        for row in table(out / "openrlhf" / f"{split}.parquet"):
            assert row["input"].split(" Step 1:")[0] in seen


def test_export_sft_verified_and_openrlhf_format(tmp_path: Path) -> None:
    out = expanded(tmp_path, 2)
    assert run(["export", "sft", out, "--verified"]) == 0
    rows = table(out / "sft_verified" / "train.parquet")
    all_rows = [r for p in (out / "sft").glob("*.parquet") for r in table(p)]
    assert rows and all(r["verified"] for r in rows) and len(rows) == sum(r["verified"] for r in all_rows)
    # expand's rows are mcts rows with unmeasured steps (null labels): --method all, cut before the first one
    assert run(["export", "openrlhf", out, "--method", "all", "--unmeasured", "cut"]) == 0
    hard = {r["id"]: r for r in table(out / "openrlhf" / "train.parquet")}
    assert run(["export", "openrlhf", out, "--soft", "--method", "all", "--unmeasured", "cut"]) == 0
    soft = {r["id"]: r for r in table(out / "openrlhf" / "train.parquet")}
    assert hard and soft
    for row in prm_rows(out):
        if row["id"] not in hard:
            assert row["labels"][0] is None  # nothing measured its first step: nothing left after the cut
            continue
        value = hard[row["id"]]["value"]
        assert value == ["+" if ok else "-" for ok in row["labels"][:len(value)]]
        assert hard[row["id"]]["input"].count(" ки") == len(value)
        assert None not in row["labels"][:len(value)] and (len(value) == len(row["labels"]) or row["labels"][len(value)] is None)
        pairs = list(zip(row["soft_labels"], row["labels"], strict=True))[:len(soft[row["id"]]["value"])]
        assert soft[row["id"]]["value"] == [p if p is not None else float(ok) for p, ok in pairs]


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["export", "pairs", tmp_path / "missing"]) == 2
    assert "no such directory" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(["export", "pairs", empty]) == 2
    assert "no SFT, PRM or trees shards" in capsys.readouterr().err
    assert run(["export", "pairs", empty, "--kind", "step"]) == 2
    assert "run `reverse-o1 expand`" in capsys.readouterr().err
    assert run(["export", "sft", empty, "--verified"]) == 2 and run(["export", "openrlhf", empty]) == 2
    out = expanded(tmp_path, 1)
    assert run(["export", "pairs", out, "--min-margin", "-1"]) == 2
    assert run(["export", "pairs", out, "--min-visits", "0"]) == 2
    (out / "trees" / "zz-garbage.parquet").write_bytes(b"PAR1 not really")
    capsys.readouterr()
    assert run(["export", "pairs", out, "--kind", "step"]) == 2
    err = capsys.readouterr().err
    assert "zz-garbage.parquet: unreadable TREES shard" in err and len(err.strip().splitlines()) == 1
    assert not (out / "pairs_step").exists()
    (out / "trees" / "zz-garbage.parquet").unlink()
    (out / "prm" / "zz-garbage.parquet").write_bytes(b"PAR1 not really")  # trajectory pairs read the PRM rows' Q
    assert run(["export", "pairs", out, "--kind", "trajectory"]) == 2
    assert "zz-garbage.parquet: unreadable PRM shard" in capsys.readouterr().err
    assert not (out / "pairs_trajectory").exists()


def test_a_folder_without_trees_pairs_the_prm_nodes_by_q_gap_only(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """An ``expand`` output from before 0.3 (PRM rows with ``nodes``, no ``trees``): ``q-gap`` reads the
    nodes as 0.2 did; ``rstar`` needs the trees' counts and says so, without failing."""
    out = expanded(tmp_path, 1)
    shutil.rmtree(out / "trees")
    rows = prm_rows(out)
    capsys.readouterr()
    assert run(["export", "pairs", out, "--kind", "step"]) == 0
    err = capsys.readouterr().err
    assert f"no_trees {len(rows)}" in err and "0 step pairs" in err and "--rule q-gap" in err
    assert manifest(out)["exports"].get("pairs_step") is None
    assert run(["export", "pairs", out, "--kind", "step", "--rule", "q-gap", "--min-visits", "1"]) == 0
    pairs = table(out / "pairs_step" / "train.parquet")
    nodes = {n["id"]: n for r in rows for n in r["nodes"] if n}
    assert pairs and all(p["chosen_value"] > p["rejected_value"] and p["margin"] >= 0.5 for p in pairs)
    assert all(nodes[p["chosen_id"]]["parent"] == nodes[p["rejected_id"]]["parent"] == p["parent_id"] for p in pairs)
    assert manifest(out)["exports"]["pairs_step"]["settings"] == {"rule": "q-gap", "min_visits": 1, "per_prefix": 1,
                                                                  "min_margin": 0.5}
    capsys.readouterr()
    assert run(["export", "pairs", out, "--kind", "step", "--rule", "q-gap", "--min-visits", "3"]) == 0
    assert "0 step pairs" in capsys.readouterr().err  # the BAD step had 2 visits: not a candidate any more
    assert not (out / "pairs_step" / "train.parquet").exists()


def test_rows_without_trees_or_with_broken_ones_are_counted_not_paired(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = expanded(tmp_path, 1)
    shutil.rmtree(out / "trees")
    rows = prm_rows(out)
    old = [{k: v for k, v in r.items() if k != "nodes"} for r in rows]  # a shard written before `nodes` existed
    schema = pq.read_schema(next((out / "prm").glob("*.parquet")))
    old_schema = pa.schema([f for f in schema if f.name != "nodes"])
    pq.write_table(pa.Table.from_pylist(old, schema=old_schema), out / "prm" / "old-0.parquet")
    broken = [{**rows[0], "id": "broken", "nodes": rows[0]["nodes"][:-1]}]  # one node short
    pq.write_table(pa.Table.from_pylist(broken, schema=schema), out / "prm" / "broken-0.parquet")
    capsys.readouterr()
    assert run(["export", "pairs", out, "--kind", "step", "--rule", "q-gap", "--min-visits", "1"]) == 0
    assert "malformed_tree_row 1" in capsys.readouterr().err
    pairs = table(out / "pairs_step" / "train.parquet")
    assert pairs and len({p["id"] for p in pairs}) == len(pairs)  # the old shard's rows added no duplicates


def test_hostile_text_survives_the_export(tmp_path: Path) -> None:
    problem = "Ты ки? <Think_End> \u2028 é?"
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed("h", ["Start \u0000 here.", "The answer is 42."], problem=problem)])
    out = tmp_path / "out"
    assert run(["expand", "--seeds", seeds, "--out", out, "--backend", "scripted", "--model", POLICY, *SMALL]) == 0
    assert run(["export", "pairs", out]) == 0 and run(["export", "openrlhf", out, "--method", "all", "--unmeasured", "cut"]) == 0
    [record] = table(out / "openrlhf" / "train.parquet")[:1]
    assert record["input"].count(" ки") == len(record["value"])  # the problem's own "ки" is defused
    pairs = table(out / "pairs_step" / "train.parquet")
    assert pairs and all(p["prompt"].startswith(problem.strip()) for p in pairs)
    json.dumps(pairs, ensure_ascii=False)  # every string is text JSON can hold


def test_step_pairs_of_the_bundled_seeds_always_choose_the_higher_q(tmp_path: Path) -> None:
    """On the bundled GSM8K seeds with a policy (a test double) whose rollouts reach each seed's gold
    answer unless a BAD step was taken, every seed gives a step pair (rStar-Math's rule, 2+ visits) and
    every step pair's chosen side has the higher Q."""
    bundled = Path(__file__).resolve().parents[3] / "samples" / "gsm8k" / "gsm8k_demo_seeds.jsonl"
    seeds = [json.loads(line) for line in bundled.read_text(encoding="utf-8").splitlines()][:3]
    rules = [("BAD", "So it is -1.\nThe answer is -1."),
             ("Write the", ["Use the numbers given.", "BAD: guess a number."])]
    rules += [(s["problem"][:40], f"So it is {s['answer']}.\nThe answer is {s['answer']}.") for s in seeds]
    policy = scripted(rules, default="I do not know.")
    out = tmp_path / "out"
    assert run(["expand", "--seeds", write_jsonl(tmp_path / "s.jsonl", seeds), "--out", out, "--backend", "scripted",
                "--model", policy, "--cuts", "first", *SMALL]) == 0
    assert run(["export", "pairs", out, "--kind", "step"]) == 0
    pairs = table(out / "pairs_step" / "train.parquet")
    assert len({p["prompt"].split("\n\n")[0] for p in pairs}) == 3  # every seed gave pairs
    assert all(p["chosen_value"] > p["rejected_value"] and p["chosen"] == "Use the numbers given." for p in pairs)
    nodes = tree_rows(out)  # the bar: the chosen step has 2+ visits and a correct trajectory below it
    assert all(nodes[p["chosen_id"]]["visits"] >= 2 and nodes[p["chosen_id"]]["correct"] > 0 for p in pairs)


def test_ties_unchecked_rows_and_other_prompts_make_no_pairs() -> None:
    import collections

    from pipelines.export.pairs import Candidate, step_pairs, trajectory_pairs

    def cand(node: str, q: float) -> Candidate:
        return Candidate(node, "p", f"text {node}", (), "P?", q, 1, "seed", None, "train")

    assert step_pairs({"p": {"a": cand("a", 0.0), "b": cand("b", 0.0)}}, 0.0, 1) == []  # a tie is no preference
    [(_, pair)] = step_pairs({"p": {"a": cand("a", 0.5), "b": cand("b", -0.5)}}, 0.0, 1)
    assert (pair["chosen_id"], pair["rejected_id"]) == ("a", "b")

    def row(ident: str, prompt: str, verified: bool, verifier: str) -> tuple[str, dict]:
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": f"answer {ident}"}]
        return "train", {"id": ident, "messages": messages, "verified": verified, "verifier": verifier,
                         "source_kind": "lean", "source": None, "problem": prompt}

    skipped: collections.Counter[str] = collections.Counter()
    rows = [row("w", "P?", True, "lean_dojo"), row("u", "P?", False, "none"), row("x", "Q?", False, "lean_dojo")]
    assert trajectory_pairs(rows, 4, skipped) == []  # unknown is not wrong; another prompt is not this one
    assert skipped == {"unchecked": 1, "one_sided_problem": 2}


def test_export_sft_needs_verified_and_openrlhf_skips_bad_soft_labels(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = expanded(tmp_path, 1)
    assert run(["export", "sft", out]) == 2
    assert "needs --verified" in capsys.readouterr().err
    rows = prm_rows(out)
    schema = pq.read_schema(next((out / "prm").glob("*.parquet")))
    bad = [{**rows[0], "id": "short-soft", "soft_labels": rows[0]["soft_labels"][:-1]}]
    pq.write_table(pa.Table.from_pylist(bad, schema=schema), out / "prm" / "bad-0.parquet")
    assert run(["export", "openrlhf", out, "--soft", "--method", "all", "--unmeasured", "cut"]) == 0
    assert "soft_length_mismatch 1" in capsys.readouterr().err
    assert manifest(out)["exports"]["openrlhf"]["left_out"]["soft_length_mismatch"] == 1
    assert "short-soft" not in {r["id"] for r in table(out / "openrlhf" / "train.parquet")}


# -- hand-made trees: the pairs are known ---------------------------------------------------------

def node(ident: str, parent: str | None, visits: int, correct: int, text: str | None = None, tree: str = "t1",
         q: float | None = None) -> dict:
    """A ``trees`` row; Q from the counts (each evaluation +-1) unless given."""
    row = dict.fromkeys(TREE_SCHEMA.names) | {
        "id": ident, "tree_id": tree, "parent": parent, "text": text if parent else None, "visits": visits,
        "correct": correct, "q": q if q is not None else (2 * correct - visits) / visits, "expanded": True}
    if parent is None:
        row |= {"problem": f"Problem {tree}?", "prefix": [{"text": "Human step.", "factor": None}], "gold_answer": "4",
                "source_kind": "seed"}
    return row


# t1: root R; A (4 visits, all correct), B (3, 2 correct), C (2, none), D and E (1 visit each: too few); A and B
# expanded. t2: root S; one good candidate G against three bad ones W1..W3 (one good: up to 2K bad).
# t3: H (Q 0.5) against L (Q 0.0), whose worst line below has a Q as high as H's best: rStar's line test fails.
TREES = [
    node("R", None, 11, 7), node("A", "R", 4, 4, "Step A."), node("B", "R", 3, 2, "Step B."),
    node("C", "R", 2, 0, "Step C."), node("D", "R", 1, 1, "Step D."), node("E", "R", 1, 0, "Step E."),
    node("A1", "A", 2, 2, "Step A1."), node("A2", "A", 1, 1, "Step A2."), node("B1", "B", 2, 2, "Step B1."),
    node("S", None, 10, 2, tree="t2"), node("G", "S", 2, 2, "Step G.", "t2"), node("W1", "S", 2, 0, "Step W1.", "t2"),
    node("W2", "S", 4, 0, "Step W2.", "t2"), node("W3", "S", 2, 0, "Step W3.", "t2"),
    node("T", None, 5, 2, tree="t3"), node("H", "T", 2, 1, "Step H.", "t3", q=0.5),
    node("L", "T", 3, 1, "Step L.", "t3", q=0.0), node("L1", "L", 2, 1, "Step L1.", "t3", q=1.0),
]
RSTAR = {("A", "C"), ("A", "B"), ("B", "C"), ("G", "W2"), ("G", "W1"), ("G", "W3")}


def write_trees(out: Path, rows: list[dict], name: str = "run-0.parquet", schema: pa.Schema = TREE_SCHEMA) -> Path:
    (out / "trees").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), out / "trees" / name)
    return out


def step_pair_ids(out: Path) -> set[tuple[str, str]]:
    path = out / "pairs_step" / "train.parquet"
    return {(p["chosen_id"], p["rejected_id"]) for p in table(path)} if path.exists() else set()


def test_rstar_takes_the_best_correct_against_the_worst_wrong_candidates(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = write_trees(tmp_path / "out", TREES)
    assert run(["export", "pairs", out]) == 0
    assert "left out: below_min_visits 3, line_not_higher 1, node_without_wrong 2, not_higher_q 1" in capsys.readouterr().err
    assert step_pair_ids(out) == RSTAR
    rows = {r["id"]: r for r in TREES}
    for pair in table(out / "pairs_step" / "train.parquet"):
        chosen, rejected = rows[pair["chosen_id"]], rows[pair["rejected_id"]]
        assert chosen["visits"] >= 2 and chosen["correct"] > 0 and rejected["visits"] > rejected["correct"]
        assert pair["chosen_value"] == chosen["q"] > pair["rejected_value"] == rejected["q"]
        root = "Problem t1?" if pair["parent_id"] == "R" else "Problem t2?"
        assert pair["prompt"] == f"{root}\n\nHuman step.\n" and pair["chosen"] == chosen["text"]
    entry = manifest(out)["exports"]["pairs_step"]
    assert entry["settings"] == {"rule": "rstar", "min_visits": 2, "per_prefix": 2}
    assert entry["left_out"] == {"below_min_visits": 3, "line_not_higher": 1, "node_without_wrong": 2,
                                 "not_higher_q": 1}


def test_min_visits_and_per_prefix_choose_among_the_candidates(tmp_path: Path) -> None:
    out = write_trees(tmp_path / "out", TREES)
    assert run(["export", "pairs", out, "--min-visits", "1"]) == 0
    # D (1 visit, correct) ties A at Q 1 and pushes B off the chosen side; E (1 visit, wrong) joins C on the other
    t2 = {("G", "W2"), ("G", "W1"), ("G", "W3")}
    assert step_pair_ids(out) == {("A", "C"), ("A", "E"), ("D", "C"), ("D", "E")} | t2
    assert run(["export", "pairs", out, "--min-visits", "3"]) == 0
    assert step_pair_ids(out) == {("A", "B")}  # B alone is bad: every good one against it; t2's G is out
    assert run(["export", "pairs", out, "--per-prefix", "1"]) == 0
    assert step_pair_ids(out) == {("A", "C"), ("A", "B"), ("G", "W2"), ("G", "W1")}  # one good: up to 2 bad


def test_q_gap_on_trees(tmp_path: Path) -> None:
    out = write_trees(tmp_path / "out", TREES)
    assert run(["export", "pairs", out, "--rule", "q-gap"]) == 0
    # highest against lowest Q (ties: more visits first, then id); no test of the lines below (t3's H-L)
    assert step_pair_ids(out) == {("A", "C"), ("G", "W3"), ("H", "L")}
    assert run(["export", "pairs", out, "--rule", "q-gap", "--per-prefix", "2"]) == 0
    assert step_pair_ids(out) == {("A", "C"), ("G", "W3"), ("H", "L")}  # t2's next two, W2 and W1, tie: no pair
    assert run(["export", "pairs", out, "--rule", "q-gap", "--min-margin", "0.6"]) == 0
    assert step_pair_ids(out) == {("A", "C"), ("G", "W3")}


def test_malformed_tree_rows_are_counted_never_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = [
        node("O", None, 3, 1, tree="orphans"), node("O1", "missing", 2, 1, "Lost.", "orphans"),  # its parent is not there
        node("X", "Y", 2, 1, "X.", "orphans"), node("Y", "X", 2, 0, "Y.", "orphans"),  # a cycle, off the root
        node("Z", "Z", 2, 0, "Z.", "orphans"),  # its own parent
        node("R1", None, 2, 1, tree="two-roots"), node("R2", None, 2, 1, tree="two-roots"),
        node("N1", "nobody", 2, 1, "No root.", tree="no-root"),
        node("A", "R", 4, 4, "Another text for A."),  # the id of t1's A with other content
        node("A", "R", 4, 4, "Step A."),  # t1's A again, the same: not counted
        node("V", "R", 2, 3, "More correct than visits."), {**node("Q", "R", 2, 1, "Q."), "q": float("nan")},
        {**node("Q2", "R", 2, 1, "Q2."), "q": 2.0}, {**node("T2", "R", 2, 1, "No text."), "text": None},
        {**node("I", "R", 2, 1, "No tree."), "tree_id": None},
    ]
    out = write_trees(tmp_path / "out", TREES + broken)
    typed = pa.schema([pa.field("visits", pa.string()) if f.name == "visits" else f for f in TREE_SCHEMA])
    write_trees(out, [{**node("S1", "R", 2, 1, "Visits as text."), "visits": "two"}], "run-1.parquet", typed)
    capsys.readouterr()
    assert run(["export", "pairs", out, "--kind", "step"]) == 0
    left = manifest(out)["exports"]["pairs_step"]["left_out"]
    assert left["malformed_tree_row"] == 6 and left["malformed_tree"] == 2 and left["detached_node"] == 4
    assert left["conflicting_node"] == 1
    assert step_pair_ids(out) == RSTAR  # the sound trees are paired as before
    assert run(["export", "pairs", out, "--kind", "step", "--rule", "q-gap"]) == 0


def test_trajectory_pairs_go_from_the_best_verified_against_the_worst_unverified() -> None:
    import collections

    from pipelines.export.pairs import trajectory_key, trajectory_pairs

    def row(ident: str, verified: bool) -> tuple[str, dict]:
        messages = [{"role": "user", "content": "P?"}, {"role": "assistant", "content": f"answer {ident}"}]
        return "train", {"id": ident, "messages": messages, "verified": verified, "verifier": "math-verify",
                         "source_kind": "seed", "source": None, "problem": "P?", "steps": [{"text": f"step {ident}"}]}

    rows = [row("g1", True), row("g2", True), row("g3", True), row("b1", False), row("b2", False), row("b3", False)]
    q = {trajectory_key("seed", "P?", [f"step {i}"]): v for i, v in
         (("g1", 0.2), ("g2", 0.9), ("b1", -0.1), ("b2", -0.8))}
    pairs = trajectory_pairs(rows, 4, collections.Counter(), q)
    assert [(p["chosen_id"], p["rejected_id"]) for _, p in pairs] == [("g2", "b2"), ("g1", "b1"), ("g3", "b3")]
    pairs = trajectory_pairs(rows, 4, collections.Counter())  # no Q known: by id, as before
    assert [(p["chosen_id"], p["rejected_id"]) for _, p in pairs] == [("g1", "b1"), ("g2", "b2"), ("g3", "b3")]


def test_expand_trajectories_find_their_mean_q(tmp_path: Path) -> None:
    """Every SFT row of an ``expand`` run is found among the PRM rows' trajectories, so its pairs go by mean Q."""
    from pipelines.export.pairs import _row_q, trajectory_q

    out = expanded(tmp_path, 2)
    q = trajectory_q(("train", r) for r in prm_rows(out))
    sft = [r for p in (out / "sft").glob("*.parquet") for r in table(p)]
    means = {r["id"]: _row_q(r, q) for r in sft}
    assert sft and all(m is not None for m in means.values())
    assert run(["export", "pairs", out, "--kind", "trajectory"]) == 0
    by_problem: dict[str, list[dict]] = {}
    for pair in table(out / "pairs_trajectory" / "train.parquet"):
        by_problem.setdefault(pair["prompt"][0]["content"], []).append(pair)
    for problem, pairs in by_problem.items():
        mine = [r for r in sft if r["messages"][0]["content"] == problem]
        best = max(means[r["id"]] for r in mine if r["verified"])
        worst = min(means[r["id"]] for r in mine if not r["verified"])
        assert any(means[p["chosen_id"]] == best and means[p["rejected_id"]] == worst for p in pairs)


def test_a_search_that_never_reached_the_gold_answer_gives_no_pair_and_says_why(tmp_path: Path,
                                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """What the demo's embedded model gives: candidates of 2+ visits, every evaluation wrong."""
    out = write_trees(tmp_path / "out", [node("U", None, 5, 0), node("U1", "U", 2, 0, "One."), node("U2", "U", 3, 0, "Two.")])
    assert run(["export", "pairs", out, "--kind", "step"]) == 0
    err = capsys.readouterr().err
    assert "0 step pairs" in err and "left out: node_without_correct 1" in err
    assert manifest(out)["exports"].get("pairs_step") is None and step_pair_ids(out) == set()
    assert run(["export", "pairs", out, "--kind", "step", "--rule", "q-gap", "--min-margin", "0"]) == 0
    assert step_pair_ids(out) == set()  # equal Q is no preference either
