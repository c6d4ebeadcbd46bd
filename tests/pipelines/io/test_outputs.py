"""Shards, dead letters, the manifest and the card as units (no pipeline run)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from pipelines.io import card, footers, fs, manifest, resume
from pipelines.io.shards import FACTORS_KEY, GENERATION_KEY, WriteDeadLetterFn, WriteShardFn, shard_metadata
from pipelines.stage.dead_letter import PREVIEW_CHARS, DeadLetter, preview
from schemas.records import GeneratorInfo, PRMRow, Source


def prm_row(i: int) -> PRMRow:
    return PRMRow(prompt="P", completions=["a", "b"], labels=[True, False], soft_labels=[1.0, 0.0], rollouts=[2, 2],
                  correct_rollouts=[2, 0], method="shepherd", answer_correct=False, id=f"p{i}", source_kind="seed",
                  source=Source(uri="file:///x"), generator=GeneratorInfo("scripted", "m", 0.7, 0, "v1"))


def test_a_shard_is_named_by_run_and_content_and_typed_rows_become_arrow(tmp_path: Path) -> None:
    fn = WriteShardFn(str(tmp_path), "prm", "label-1", rows_per_shard=2)
    fn.start_bundle()
    first = list(fn.process(prm_row(1))) + list(fn.process(prm_row(2)))
    [path] = first
    assert fs.basename(path).startswith("label-1-") and path.endswith(".parquet")
    again = WriteShardFn(str(tmp_path), "prm", "label-1", rows_per_shard=2)
    again.start_bundle()
    assert list(again.process(prm_row(2))) + list(again.process(prm_row(1))) == [path]  # a retried bundle: same file
    table = pq.read_table(path)
    assert table.column("id").to_pylist() == ["p2", "p1"] and table.schema.field("labels").type.value_type == "bool"


def test_sft_footers_carry_factor_counts() -> None:
    rows = [{"source_kind": "seed", "steps": [{"text": "a", "factor": "Compute"}, {"text": "b", "factor": None}]},
            {"source_kind": "code", "steps": [{"text": "c", "factor": "Compute"}]}]
    meta = json.loads(shard_metadata("sft", rows)[FACTORS_KEY])
    assert meta == {"code": {"Compute": 1}, "seed": {"(untagged)": 1, "Compute": 1}}
    assert set(shard_metadata("prm", rows)) == {GENERATION_KEY}  # a PRM footer: who made the rows, no factors


def test_footers_say_who_made_the_rows() -> None:
    gen = {"backend": "transformers", "model": "m", "prompt_version": "v1"}
    rows = [{"generator": gen, "verifier": "math-verify", "verified": True}, {"generator": gen, "verifier": "math-verify",
                                                                              "verified": False}]
    assert json.loads(shard_metadata("sft", rows)[GENERATION_KEY]) == [["transformers", "m", "v1", "math-verify", 2, 1]]


def test_dead_letters_are_jsonl_with_a_bounded_preview(tmp_path: Path) -> None:
    letter = DeadLetter.of("read", "too_large", "in.jsonl:3", "line too long", "x" * 10_000)
    assert len(letter.input) < PREVIEW_CHARS + 40 and letter.input.endswith("more chars]")
    assert preview(b"\xff\xfe bytes") == "\\xff\\xfe bytes"
    fn = WriteDeadLetterFn(str(tmp_path), "label-1", rows_per_shard=10)
    fn.start_bundle()
    list(fn.process(letter))
    fn.finish_bundle()
    [path] = [m.path for m in fs.list_files(str(tmp_path / "dead_letter"), ".jsonl")]
    assert json.loads(Path(path).read_text())["reason"] == "too_large"
    assert resume.count_dead_letters(str(tmp_path)) == 1


def test_manifest_merges_commands_and_the_card_lists_what_exists(tmp_path: Path) -> None:
    out = str(tmp_path)
    stage = {"read": 3, "written": 2, "filtered": {"blank_line": 1}, "dead_lettered": 0, "resumed": 0, "stats": {}}
    fn = WriteShardFn(out, "prm", "label-1", rows_per_shard=8)
    fn.start_bundle()
    list(fn.process(prm_row(1)))
    fn.finish_bundle()
    first = manifest.update(out, "label", {"read": stage}, {"n": 2}, "m", 1.5, footers.output_stats(out), 0)
    assert first["stages"]["label/read"]["balanced"] and first["outputs"]["prm_rows"] == 1
    second = manifest.update(out, "tag", {"parse": stage | {"written": 1}}, {}, "rules", 0.5, footers.output_stats(out), 0)
    assert set(second["stages"]) == {"label/read", "tag/parse"} and not second["stages"]["tag/parse"]["balanced"]
    assert second["wall_seconds"] == 2.0 and set(second["runs"]) == {"label", "tag"}
    assert manifest.load(out) == json.loads(Path(out, "manifest.json").read_text())
    Path(out, "manifest.json").write_text('{"cut sho')  # a crash mid-write: rebuilt, not fatal
    assert manifest.load(out) == {}
    card.write(out, second)
    text = Path(out, "README.md").read_text()
    header = yaml.safe_load(text.split("---")[1])
    assert header["configs"] == [{"config_name": "prm", "data_files": [{"split": "train", "path": "prm/*.parquet"}]}]
    assert "| tag/parse | 3 | 1 | blank_line: 1 | 0 |" in text
