"""``reverse-o1 summarize`` through the real Beam runner: a scripted summariser (a test double, not a
model) makes every filter reason and a kept row happen; bad input; resume; and one end-to-end run of the
embedded model on the demo's SFT rows."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from generators.summary import ANSWER_MISMATCH, LEAKS_COT, TOO_LONG, render_cot
from schemas.arrow import SFT_SCHEMA
from schemas.records import GeneratorInfo, SFTRow, Source, Step
from schemas.tags import render_think
from tests.pipelines.helpers import assert_balanced, dead_letters, manifest, run, scripted

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "samples" / "gsm8k" / "gsm8k_demo.jsonl"
LONG_REST = "Afterwards, double-checking computations thoroughly prevents embarrassing arithmetical misunderstandings."
# problem -> (steps, answer); the scripted summariser answers by problem (the rules below)
ROWS: dict[str, tuple[list[str], str]] = {
    "Problem kept?": (["We add 20 and 22.", "That makes 42 in all."], "42"),
    "Problem wrong?": (["We add 20 and 22.", "That makes 42 in all."], "42"),
    "Problem tagged?": (["We add 20 and 22.", "That makes 42 in all."], "42"),
    "Problem copied?": (["we add 20 and 22 to get 42 in all", LONG_REST], "42"),
    "Problem long?": (["20 + 22 = 42."], "42"),
    "Problem empty?": ([], "42"),
    "Problem unanswered?": (["We add 20 and 22.", "That makes 42 in all."], ""),
}
SUMMARIES = [
    ("Problem kept?", "Add them. The answer is 42."),
    ("Problem wrong?", "Add them. The answer is 7."),
    ("Problem tagged?", "<ACT_Compute-Start> Add. The answer is 42."),
    ("Problem copied?", "we add 20 and 22 to get 42 in all. The answer is 42."),
    ("Problem long?", "We add twenty and twenty-two, which gives forty-two. The answer is 42."),
]
POLICY = scripted(SUMMARIES, default="The answer is 0.")


def sft_row(problem: str, steps: list[str], answer: str, factor: str | None = "Compute", ident: str | None = None) -> dict:
    tagged = [Step(text, factor) for text in steps]
    content = render_think(tagged, answer) if factor else "\n".join(steps)
    return SFTRow(ident or f"sft-{problem}", "seed", Source("file:///sft", path=f"x.jsonl:{len(problem)}", license="MIT"),
                  problem, tagged, answer, [{"role": "user", "content": problem}, {"role": "assistant", "content": content}],
                  False, "none", "", GeneratorInfo("rules", "rule-tagger", 0.0, 0, "tag_rules/v1")).to_dict()


def write_shard(folder: Path, name: str, rows: list[dict[str, Any]], schema: pa.Schema | None = SFT_SCHEMA) -> Path:
    (folder / "sft").mkdir(parents=True, exist_ok=True)
    path = folder / "sft" / f"{name}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def sft_folder(tmp_path: Path, problems: list[str] | None = None) -> Path:
    folder = tmp_path / "in"
    write_shard(folder, "a", [sft_row(p, *ROWS[p]) for p in problems or ROWS])
    return folder


def summary_rows(out: Path) -> list[dict[str, Any]]:
    return [r for p in sorted(glob.glob(os.path.join(out, "summaries", "*.parquet"))) for r in pq.read_table(p).to_pylist()]


def summarize(tmp_path: Path, inputs: Path, out: str = "out", *extra: Any, policy: str = POLICY, code: int = 0) -> Path:
    out_dir = tmp_path / out
    assert run(["summarize", "--input", inputs, "--out", out_dir, "--backend", "scripted", "--model", policy, *extra]) == code
    return out_dir


def test_each_reason_and_a_kept_row(tmp_path: Path) -> None:
    out = summarize(tmp_path, sft_folder(tmp_path))
    [row] = summary_rows(out)
    steps, answer = ROWS["Problem kept?"]
    cot = render_cot([Step(s, "Compute") for s in steps])
    assert row["prompt"] == "Problem kept?" and row["summary"] == "Add them. The answer is 42." and row["answer"] == "42"
    assert row["cot"] == cot and row["sft_id"] == "sft-Problem kept?" and row["summary_answer"] == "42"
    assert row["copied"] == 0.0 and row["length_ratio"] < 0.8 and row["sample"] == 0 and row["sft_verified"] is False
    assert row["generator"]["prompt_version"] == "summarize/v1" and row["generator"]["backend"] == "scripted"
    assert row["source"]["license"] == "MIT" and row["source_kind"] == "seed"
    user, assistant = row["messages"]
    assert user["role"] == "user" and "Problem kept?" in user["content"] and cot in user["content"]
    assert assistant == {"role": "assistant", "content": row["summary"]}
    entry = assert_balanced(out)["stages"]["summarize/summarize"]
    assert entry["read"] == len(ROWS) and entry["written"] == 1 and entry["dead_lettered"] == 0
    assert entry["filtered"] == {ANSWER_MISMATCH: 1, LEAKS_COT: 2, TOO_LONG: 1, "no_cot": 1, "no_row_answer": 1}
    assert entry["stats"]["samples"] == 5 and entry["stats"]["summaries_without_answer"] == 0
    loaded = datasets.load_dataset(str(out), "summaries", split="train")
    assert len(loaded) == 1 and loaded[0]["messages"] == row["messages"]
    assert loaded.column_names[:5] == ["prompt", "cot", "summary", "answer", "messages"]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "config_name: summaries" in card and "summaries/*.parquet" in card


def test_samples_keep_the_first_that_passes(tmp_path: Path) -> None:
    policy = scripted([("Problem kept?", ["The answer is 7.", "<Think_End> The answer is 42.", "Add. The answer is 42."]),
                       ("Problem wrong?", ["The answer is 7.", "Add. The answer is 8.", "The answer is 9."])])
    out = summarize(tmp_path, sft_folder(tmp_path, ["Problem kept?", "Problem wrong?"]), "out", "--samples", "3",
                    policy=policy)
    [row] = summary_rows(out)
    assert row["sample"] == 2 and row["summary"] == "Add. The answer is 42."
    entry = assert_balanced(out)["stages"]["summarize/summarize"]
    assert entry["filtered"] == {ANSWER_MISMATCH: 1} and entry["stats"]["samples"] == 6
    assert entry["stats"]["rejected:answer_mismatch"] == 4 and entry["stats"]["rejected:leaks_cot"] == 1


def test_thresholds_are_options(tmp_path: Path) -> None:
    folder = sft_folder(tmp_path, ["Problem copied?", "Problem long?"])
    out = summarize(tmp_path, folder, "out", "--max-copied", "0.9", "--max-ratio", "10")
    assert {r["prompt"] for r in summary_rows(out)} == {"Problem copied?", "Problem long?"}
    assert manifest(out)["runs"]["summarize"]["settings"]["max_ratio"] == 10.0


def test_resume_and_ids(tmp_path: Path) -> None:
    folder = sft_folder(tmp_path)
    out = summarize(tmp_path, folder)
    first = summary_rows(out)
    again = summarize(tmp_path, folder)
    entry = assert_balanced(again)["stages"]["summarize/summarize"]
    assert entry["resumed"] == 1 and entry["written"] == 1 and summary_rows(out) == first
    other = summary_rows(summarize(tmp_path, folder, "other", "--seed", "7"))
    assert {r["sft_id"] for r in other} == {r["sft_id"] for r in first}
    assert not {r["id"] for r in other} & {r["id"] for r in first}


def test_into_the_input_folder(tmp_path: Path) -> None:
    folder = sft_folder(tmp_path, ["Problem kept?"])
    assert run(["summarize", "--input", folder, "--out", folder, "--backend", "scripted", "--model", POLICY]) == 0
    assert len(summary_rows(folder)) == 1 and manifest(folder)["splits"]["summaries"] == {"train": 1}


def test_a_missing_folder_or_no_sft_shards_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["summarize", "--input", tmp_path / "nowhere", "--out", tmp_path / "o", "--backend", "scripted"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no such folder" in err and len(err.splitlines()) == 1
    (tmp_path / "empty" / "difficulty").mkdir(parents=True)
    assert run(["summarize", "--input", tmp_path / "empty", "--out", tmp_path / "o", "--backend", "scripted"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no SFT shards" in err and len(err.splitlines()) == 1
    assert run(["summarize", "--out", tmp_path / "o"]) == 2
    assert "summarize needs --input DIR" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_bad_rows_and_shards_are_dead_lettered_and_counts_add_up(tmp_path: Path) -> None:
    folder = sft_folder(tmp_path, ["Problem kept?"])
    (folder / "sft" / "corrupt.parquet").write_bytes(b"PAR1 not really parquet")
    good = sft_row("Problem kept?", *ROWS["Problem kept?"])
    write_shard(folder, "b", [good])  # the same SFT id again: filtered duplicate
    wrong_steps = {**good, "id": "wrong-steps", "steps": "We add 20 and 22."}
    write_shard(folder, "c", [wrong_steps], schema=None)
    write_shard(folder, "d", [{"prompt": "p", "completions": ["a"], "labels": [True]}], schema=None)  # a PRM row
    write_shard(folder, "e", [{**good, "id": 7}], schema=None)
    untagged = sft_row("Problem wrong?", *ROWS["Problem wrong?"], factor=None, ident="untagged")
    write_shard(folder, "f", [untagged])
    out = summarize(tmp_path, folder)
    assert [r["prompt"] for r in summary_rows(out)] == ["Problem kept?"]
    reasons = sorted((d["stage"], d["reason"]) for d in dead_letters(out))
    assert reasons == [("parse", "bad_sft_row")] * 3 + [("read", "unreadable_file"), ("summarize", "untagged_cot")]
    errors = " ".join(d["error"] for d in dead_letters(out))
    assert "column 'steps' must be a list" in errors and "missing columns" in errors and "column 'id' must be" in errors
    data = assert_balanced(out)
    assert data["stages"]["summarize/dedupe"]["filtered"] == {"duplicate": 1}
    assert data["stages"]["summarize/read"]["read"] == 7  # 6 rows and the one unreadable shard


@pytest.mark.model
def test_summarize_the_demos_sft_rows_with_the_embedded_model(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    assert run(["tag", "--input", DEMO, "--column", "answer", "--out", folder]) == 0  # 8 SFT rows, no model
    code = run(["summarize", "--input", folder, "--out", folder, "--limit", "4", "--max-new-tokens", "48",
                "--threads", "1"])
    assert code in (0, 3)  # 3: the 135M model's summaries were all filtered (a run that wrote nothing says so)
    entry = assert_balanced(folder)["stages"]["summarize/summarize"]
    assert entry["read"] == 4 and entry["dead_lettered"] == 0
    assert set(entry["filtered"]) <= {ANSWER_MISMATCH, LEAKS_COT, TOO_LONG}
    rows = summary_rows(folder)
    assert entry["written"] == len(rows) == 4 - sum(entry["filtered"].values()) and (code == 0) == bool(rows)
    assert entry["stats"]["samples"] == 4 and entry["stats"]["generated_tokens"] > 0
    for row in rows:
        assert row["generator"]["model"] == "SmolLM2-135M-Instruct" and row["summary"] and row["answer"]
        assert row["messages"][-1] == {"role": "assistant", "content": row["summary"]}
