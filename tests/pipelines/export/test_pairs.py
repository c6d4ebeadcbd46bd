"""``reverse-o1 export pairs|sft|openrlhf DIR`` after a scripted ``expand`` run (a test double as the
policy: it proposes a good and a bad next step), and on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.export.pairs import step_prompt
from schemas.splits import problem_key
from tests.pipelines.helpers import manifest, prm_rows, run, scripted, seed, write_jsonl

# Expansions get two candidates: a good step (its rollout reaches 42) and a BAD one (its rollout reaches 7).
POLICY = scripted(
    [("BAD", "So it is 7.\nThe answer is 7."), ("Write the", ["Add the two numbers.", "BAD guess: multiply them."])],
    default="So 40 + 2 = 42.\nThe answer is 42.",
)
SMALL = ["--simulations", "3", "--branching", "2", "--max-depth", "4"]


def expanded(tmp_path: Path, n: int = 4, *extra: str) -> Path:
    seeds = write_jsonl(tmp_path / "seeds.jsonl",
                        [seed(i, [f"Start with {40 - i}.", "The answer is 42."], problem=f"What is {40 - i} plus {2 + i}?")
                         for i in range(n)])
    out = tmp_path / "out"
    assert run(["expand", "--seeds", seeds, "--out", out, "--backend", "scripted", "--model", POLICY, *SMALL, *extra]) == 0
    return out


def table(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


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


def test_step_pairs_choose_the_higher_q_and_trajectory_pairs_the_verified(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = expanded(tmp_path)
    capsys.readouterr()
    assert run(["export", "pairs", out]) == 0
    err = capsys.readouterr().err
    steps = table(out / "pairs_step" / "train.parquet")
    assert steps and f"{len(steps)} step pairs" in err
    nodes = {n["id"]: (n, r) for r in prm_rows(out) for n in r["nodes"] if n}
    for pair in steps:
        assert pair["chosen_value"] > pair["rejected_value"] and pair["margin"] >= 0.5
        chosen, row = nodes[pair["chosen_id"]]
        rejected, _ = nodes[pair["rejected_id"]]
        assert chosen["parent"] == rejected["parent"] == pair["parent_id"]  # one prefix, two candidates
        assert (chosen["q"], rejected["q"]) == (pair["chosen_value"], pair["rejected_value"])
        i = next(i for i, n in enumerate(row["nodes"]) if n and n["id"] == pair["chosen_id"])
        assert pair["prompt"] == step_prompt(row["prompt"], tuple(row["completions"][:i]))
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
    assert run(["export", "pairs", out, "--kind", "step", "--min-margin", "2.5"]) == 0  # no gap is that wide
    assert not (out / "pairs_step" / "train.parquet").exists() and not (out / "pairs_trajectory").exists()
    assert "pairs_step" not in manifest(out)["exports"]
    assert run(["export", "pairs", out, "--kind", "trajectory", "--max-pairs-per-problem", "1"]) == 0
    pairs = table(out / "pairs_trajectory" / "train.parquet")
    keys = [problem_key(p["source_kind"], p["source"], p["prompt"][0]["content"]) for p in pairs]
    assert len(keys) == len(set(keys)) == 2  # one per problem


def test_splits_of_the_rows_carry_over_to_every_export(tmp_path: Path) -> None:
    out = expanded(tmp_path, 8, "--test-fraction", "0.5", "--split-seed", "3")
    assert run(["export", "pairs", out]) == 0 and run(["export", "sft", out, "--verified"]) == 0
    assert run(["export", "openrlhf", out]) == 0
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
    assert run(["export", "openrlhf", out]) == 0
    hard = {r["id"]: r for r in table(out / "openrlhf" / "train.parquet")}
    assert run(["export", "openrlhf", out, "--soft"]) == 0
    soft = {r["id"]: r for r in table(out / "openrlhf" / "train.parquet")}
    for row in prm_rows(out):
        assert hard[row["id"]]["value"] == ["+" if ok else "-" for ok in row["labels"]]
        assert hard[row["id"]]["input"].count(" ки") == len(row["completions"])
        assert soft[row["id"]]["value"] == [p if p is not None else float(ok) for p, ok in zip(row["soft_labels"],
                                                                                               row["labels"], strict=True)]


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["export", "pairs", tmp_path / "missing"]) == 2
    assert "no such directory" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(["export", "pairs", empty]) == 2
    assert "no SFT or PRM shards" in capsys.readouterr().err
    assert run(["export", "pairs", empty, "--kind", "step"]) == 2
    assert "run `reverse-o1 expand`" in capsys.readouterr().err
    assert run(["export", "sft", empty, "--verified"]) == 2 and run(["export", "openrlhf", empty]) == 2
    out = expanded(tmp_path, 1)
    assert run(["export", "pairs", out, "--min-margin", "-1"]) == 2
    (out / "prm" / "zz-garbage.parquet").write_bytes(b"PAR1 not really")
    capsys.readouterr()
    assert run(["export", "pairs", out, "--kind", "step"]) == 2
    err = capsys.readouterr().err
    assert "zz-garbage.parquet: unreadable PRM shard" in err and len(err.strip().splitlines()) == 1
    assert not (out / "pairs_step").exists()


def test_rows_without_trees_or_with_broken_ones_are_counted_not_paired(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = expanded(tmp_path, 1)
    rows = prm_rows(out)
    old = [{k: v for k, v in r.items() if k != "nodes"} for r in rows]  # a shard written before `nodes` existed
    schema = pq.read_schema(next((out / "prm").glob("*.parquet")))
    old_schema = pa.schema([f for f in schema if f.name != "nodes"])
    pq.write_table(pa.Table.from_pylist(old, schema=old_schema), out / "prm" / "old-0.parquet")
    broken = [{**rows[0], "id": "broken", "nodes": rows[0]["nodes"][:-1]}]  # one node short
    pq.write_table(pa.Table.from_pylist(broken, schema=schema), out / "prm" / "broken-0.parquet")
    capsys.readouterr()
    assert run(["export", "pairs", out, "--kind", "step"]) == 0
    assert "malformed_tree_row 1" in capsys.readouterr().err
    pairs = table(out / "pairs_step" / "train.parquet")
    assert pairs and len({p["id"] for p in pairs}) == len(pairs)  # the old shard's rows added no duplicates


def test_hostile_text_survives_the_export(tmp_path: Path) -> None:
    problem = "Ты ки? <Think_End> \u2028 é?"
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed("h", ["Start \u0000 here.", "The answer is 42."], problem=problem)])
    out = tmp_path / "out"
    assert run(["expand", "--seeds", seeds, "--out", out, "--backend", "scripted", "--model", POLICY, *SMALL]) == 0
    assert run(["export", "pairs", out]) == 0 and run(["export", "openrlhf", out]) == 0
    [record] = table(out / "openrlhf" / "train.parquet")[:1]
    assert record["input"].count(" ки") == len(record["value"])  # the problem's own "ки" is defused
    pairs = table(out / "pairs_step" / "train.parquet")
    assert pairs and all(p["prompt"].startswith(problem.strip()) for p in pairs)
    json.dumps(pairs, ensure_ascii=False)  # every string is text JSON can hold


def test_step_pairs_of_the_bundled_seeds_always_choose_the_higher_q(tmp_path: Path) -> None:
    """On the bundled GSM8K seeds with a policy (a test double) whose rollouts reach each seed's gold
    answer unless a BAD step was taken, every step pair's chosen side has the higher Q."""
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
    assert run(["export", "openrlhf", out, "--soft"]) == 0
    assert "soft_length_mismatch 1" in capsys.readouterr().err
    assert manifest(out)["exports"]["openrlhf"]["left_out"]["soft_length_mismatch"] == 1
    assert "short-soft" not in {r["id"] for r in table(out / "openrlhf" / "train.parquet")}
