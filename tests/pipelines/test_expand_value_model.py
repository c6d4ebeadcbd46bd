"""``expand --value-model``: the search's values from a process reward model, through the real Beam runner
(a scripted policy and the scripted reward as test doubles; tests/pipelines/test_self_evolution.py runs a
trained PRM on the embedded model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main
from tests.pipelines.helpers import assert_balanced, dead_letters, prm_rows, run, scripted, seed, write_jsonl
from tests.pipelines.test_expand import POLICY as POLICY_FOR_FAIL
from tests.pipelines.test_expand import SMALL, expand
from tests.pipelines.test_expand_trees import tree_rows


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("valued")
    return write_jsonl(tmp / "s.jsonl", [seed(1, ["There are 40 apples.", "Tom buys 2 more."]),
                                         seed(2, ["Start.", "A BAD step.", "Conclude."])])


def test_value_mix_zero_spends_no_rollouts_and_rows_name_the_value_model(tmp_path: Path, seeds: Path) -> None:
    out = expand(tmp_path, seeds, "out", "--factor-actions", "--value-model", "scripted:Compute", "--value-mix", "0")
    data = assert_balanced(out)
    stats = data["stages"]["expand/expand"]["stats"]
    assert stats["rollouts"] == 0 and stats["scored"] > 0 and stats["score_calls"] > 0
    rows = tree_rows(out)
    assert {r["value_model"] for r in rows} == {"scripted:Compute"} and {r["value_mix"] for r in rows} == {0.0}
    scored = [r for r in rows if r["score"] is not None]
    assert scored and all(r["rollout"] is None for r in rows)
    for r in scored:
        assert r["score"] == pytest.approx(0.9 if r["factor"] == "Compute" else 0.1)
    by_parent: dict[str, list[dict]] = {}
    for r in rows:
        by_parent.setdefault(r["parent"], []).append(r)
    for root in by_parent[None]:  # the most visited child of every root is a Compute step
        best = max(by_parent[root["id"]], key=lambda r: r["visits"])
        assert best["factor"] == "Compute"
    for row in prm_rows(out):
        assert row["value_model"] == "scripted:Compute" and row["value_mix"] == 0.0
        assert row["generator"]["prompt_version"].endswith("+value_mix:0")


def test_best_of_keeps_every_candidate_in_the_trees(tmp_path: Path, seeds: Path) -> None:
    words = ["one", "two", "three", "four", "five", "six", "seven", "eight"]
    policy = scripted([("BAD", "So it is 7.\nThe answer is 7."), ("Write the", [f"Add {w}." for w in words])],
                      default="So 40 + 2 = 42.\nThe answer is 42.")
    reward = json.dumps({"rules": [[f"Add {w}.", (i + 1) / 10] for i, w in enumerate(words)]})
    out = tmp_path / "out"
    assert run(["expand", "--seeds", seeds, "--out", out, "--backend", "scripted", "--model", policy, *SMALL,
                "--value-model", f"scripted:{reward}", "--best-of", "4"]) == 0
    assert_balanced(out)
    children = [r for r in tree_rows(out) if r["parent"] is not None]
    assert children
    for r in children:
        # groups of 4; a text kept from two groups (the BAD seed's samples are all alike) is one child of 8
        groups = len(r["candidates"]) // 4
        assert len(r["candidates"]) == 4 * groups and sum(c["kept"] for c in r["candidates"]) == groups >= 1
        assert r["score"] == max(c["score"] for c in r["candidates"])
        assert {c["text"] for c in r["candidates"] if c["kept"]} == {r["text"]}
    distinct = [r for r in children if r["text"].startswith("Add ")]  # 8 distinct samples: the 4th and 8th kept
    assert distinct and {r["text"] for r in distinct} == {"Add four.", "Add eight."}
    assert all(len(r["candidates"]) == 4 for r in distinct)
    assert all(r["rollout"] is not None or r["terminal_reason"] for r in children if r["value"] is not None)


def test_a_value_model_alone_mixes_half_and_half(tmp_path: Path, seeds: Path) -> None:
    out = expand(tmp_path, seeds, "out", "--value-model", "scripted:Compute")
    rows = tree_rows(out)
    assert {r["value_mix"] for r in rows} == {0.5} and any(r["score"] is not None for r in rows)
    assert any(r["rollout"] is not None for r in rows)


def test_a_run_without_a_value_model_has_null_value_columns(tmp_path: Path, seeds: Path) -> None:
    out = expand(tmp_path, seeds, "out")
    assert {r["value_model"] for r in tree_rows(out)} == {None} and {r["value_model"] for r in prm_rows(out)} == {None}


@pytest.mark.parametrize("extra, message", [
    (["--value-mix", "0.5"], "need --value-model"),
    (["--best-of", "3"], "need --value-model"),
    (["--value-model", "scripted", "--value-mix", "1.5"], "value_mix"),
    (["--value-model", "/no/such/folder"], "not a folder"),
    (["--value-model", "prm:/no/such/folder"], "is not a folder"),
    (["--value-model", "scripted", "--best-of", "0"], "best_of"),
    (["--value-model", "scripted", "--value-mix", "1"], "ask the reward model nothing"),
    (["--value-model", "http://"], "expected http(s)://HOST:PORT"),
    (["--value-model", "http://localhost:8000?format=bogus"], "format='bogus'"),
    (["--value-model", "http://localhost:8000?colour=red"], "unknown option"),
    (["--value-model", "scripted:{not json"], "not a readable JSON script"),
])
def test_bad_value_model_options_are_one_line(tmp_path: Path, seeds: Path, capsys, extra, message) -> None:
    code = main(["expand", "--seeds", str(seeds), "--out", str(tmp_path / "o"), "--backend", "scripted", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_a_folder_that_is_no_model(tmp_path: Path, seeds: Path, capsys) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    assert main(["expand", "--seeds", str(seeds), "--out", str(tmp_path / "o"), "--value-model", str(folder)]) == 2
    assert "ForTokenClassification" in capsys.readouterr().err


def test_policy_value_targets_are_outcomes_not_value_model_guesses(tmp_path: Path, seeds: Path, capsys) -> None:
    out = expand(tmp_path, seeds, "out", "--factor-actions", "--value-model", "scripted:Compute", "--value-mix", "0")
    capsys.readouterr()
    main(["export", "policy-value", str(out)])  # only value-model leaves in this search: no outcome to learn from
    err = capsys.readouterr().err
    assert "unmeasured_outcome" in err, err


def test_a_reward_model_that_fails_dead_letters_its_seed(tmp_path: Path, seeds: Path) -> None:
    reward = json.dumps({"fail": "So it is 7", "default": 0.5})  # the BAD seed's steps (POLICY_FOR_FAIL)
    out = tmp_path / "out"
    code = run(["expand", "--seeds", seeds, "--out", out, "--backend", "scripted", "--model", POLICY_FOR_FAIL, *SMALL,
                "--value-model", f"scripted:{reward}", "--value-mix", "0"])
    assert code == 0
    data = assert_balanced(out)
    stage = data["stages"]["expand/expand"]
    assert stage["dead_lettered"] == 1 and stage["written"] == 1 and "told to fail" in json.dumps(dead_letters(out))
