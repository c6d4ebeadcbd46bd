"""A damaged output shard (cut short by a full disk or a copy, garbage, empty) does not block reruns.

Real runs of ``reverse-o1 label`` (scripted backend, DirectRunner): the rerun sets the shard
aside in ``DIR/.corrupt/KIND/`` with a record of why, says so once on stderr and in the manifest,
makes its rows again, and exits 0. Also on ``memfs://``, a filesystem that exists only through
Beam's ``FileSystems``, as S3 or GCS do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.io import footers, fs, resume
from pipelines.io.shards import write_rows
from tests.pipelines.helpers import assert_balanced, manifest, prm_rows, run, scripted, seed, write_jsonl
from tests.pipelines.io import memfs

SEEDS = 12
DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"\x00garbage, not parquet\xff" * 20,
    "empty": lambda data: b"",
    "footer_cut": lambda data: data[:-3],
}


def label(inputs: Path | str, out: Path | str) -> int:
    return run(["label", "--input", inputs, "--out", out, "--backend", "scripted", "--model", scripted(), "--n", "2",
                "--rows-per-shard", "4"])


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if "set aside" in line]


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_prm_shard_is_set_aside_and_its_rows_made_again(tmp_path: Path, damage: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    inputs = write_jsonl(tmp_path / "s.jsonl", [seed(i, [f"a{i}", f"b{i}"]) for i in range(SEEDS)])
    out = tmp_path / "out"
    assert label(inputs, out) == 0
    all_ids = sorted(r["id"] for r in prm_rows(out))
    shard = sorted((out / "prm").glob("*.parquet"))[0]
    lost = set(pq.read_table(shard, columns=["id"]).column("id").to_pylist())
    shard.write_bytes(DAMAGE[damage](shard.read_bytes()))
    damaged = shard.read_bytes()
    capsys.readouterr()

    assert label(inputs, out) == 0
    [note] = notes(capsys.readouterr().err)
    assert f"set aside 1 damaged shard in {out / '.corrupt'}" in note and f"prm/{shard.name}" in note
    assert not shard.exists() and (out / ".corrupt" / "prm" / shard.name).read_bytes() == damaged
    rows = prm_rows(out)
    assert sorted(r["id"] for r in rows) == all_ids  # every row once: the lost ones made again
    data = assert_balanced(out)
    assert data["stages"]["label/label"]["resumed"] == SEEDS - len(lost)
    [record] = data["set_aside"]
    assert record["shard"] == str(shard) and record["kind"] == "prm" and record["reason"]
    assert record["moved_to"] == str(out / ".corrupt" / "prm" / shard.name)
    assert json.loads((out / ".corrupt" / "prm" / f"{shard.name}.json").read_text()) == record
    assert data["outputs"]["prm_rows"] == SEEDS

    assert label(inputs, out) == 0  # the next run has nothing to set aside, and everything resumed
    assert notes(capsys.readouterr().err) == []
    data = assert_balanced(out)
    assert data["set_aside"] == [] and data["stages"]["label/label"]["resumed"] == SEEDS
    assert (out / ".corrupt" / "prm" / shard.name).exists()  # kept for whoever wants to look


def test_a_damaged_shard_of_a_kind_the_command_does_not_write_is_set_aside_too(tmp_path: Path,
                                                                                capsys: pytest.CaptureFixture[str]) -> None:
    inputs = write_jsonl(tmp_path / "s.jsonl", [seed(i, ["a", "b"]) for i in range(3)])
    out = tmp_path / "out"
    (out / "sft").mkdir(parents=True)
    (out / "sft" / "copy.parquet").write_bytes(b"PAR1" + b"\x01" * 100)  # a copy cut short
    assert label(inputs, out) == 0
    [note] = notes(capsys.readouterr().err)
    assert "sft/copy.parquet" in note
    data = manifest(out)
    assert [r["kind"] for r in data["set_aside"]] == ["sft"]
    assert data["outputs"]["sft_rows"] == 0 and data["outputs"]["prm_rows"] == 3
    assert (out / ".corrupt" / "sft" / "copy.parquet").exists() and not (out / "sft" / "copy.parquet").exists()


def test_a_damaged_shard_on_a_store_seen_only_through_beam_filesystems(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = "memfs://corrupt-shard"
    inputs = f"{root}/in/s.jsonl"
    fs.write_text(inputs, "".join(json.dumps(seed(i, ["a", "b"])) + "\n" for i in range(6)))
    out = f"{root}/out"
    assert label(inputs, out) == 0
    shard = resume.shard_files(out, "prm")[0]
    memfs.STORE[shard] = memfs.STORE[shard][:50]
    assert label(inputs, out) == 0
    assert len(notes(capsys.readouterr().err)) == 1
    moved = f"{out}/.corrupt/prm/{fs.basename(shard)}"
    assert not fs.exists(shard) and fs.exists(moved) and fs.read_json(moved + ".json")["shard"] == shard
    ids = [i for p in resume.shard_files(out, "prm") for i in fs.read_parquet(p, ["id"]).column("id").to_pylist()]
    assert len(ids) == len(set(ids)) == 6
    assert not list(tmp_path.glob("memfs*"))


def test_a_whole_shard_is_never_set_aside(tmp_path: Path) -> None:
    """``set_aside`` reads the bytes itself: a shard that a passing fault made unreadable once stays."""
    out = str(tmp_path)
    path = f"{out}/prm/ok.parquet"
    write_rows([{"id": "p1", "prompt": "P", "completions": ["a"], "labels": [True]}], "prm", path)
    assert resume.set_aside(out, "prm", path, "run1") is None
    assert resume.set_aside(out, "prm", f"{out}/prm/gone.parquet", "run1") is None  # moved by another worker
    assert fs.exists(path) and not (tmp_path / ".corrupt").exists()


def test_output_stats_set_aside_a_shard_whose_footer_is_damaged(tmp_path: Path) -> None:
    out = str(tmp_path)
    write_rows([{"id": "p1", "prompt": "P", "completions": ["a"], "labels": [True]}], "prm", f"{out}/prm/a.parquet")
    (tmp_path / "prm" / "b.parquet").write_bytes(b"not parquet")
    stats = footers.output_stats(out, "run1")
    assert stats.rows["prm"] == 1 and stats.shards == 1
    assert [r["shard"] for r in stats.set_aside] == [f"{out}/prm/b.parquet"]
    assert resume.set_aside_records(out, "run1") == stats.set_aside
