"""``pipelines.io.fs`` on a local disk and on ``memfs://`` (a filesystem with no local presence)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.io import fs
from tests.pipelines.io import memfs  # noqa: F401  (registers memfs://)


@pytest.fixture(params=["local", "memfs"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / "root") if request.param == "local" else f"memfs://fs-{tmp_path.name}"


def test_write_read_list_delete(root: str) -> None:
    fs.write_text(fs.join(root, "a", "x.jsonl"), "one\n")
    fs.write_bytes(fs.join(root, "a", "b", "y.jsonl"), b"two\n")
    fs.write_bytes(fs.join(root, "a", ".hidden.tmp"), b"")
    assert fs.read_bytes(fs.join(root, "a", "x.jsonl")) == b"one\n"
    assert [fs.basename(m.path) for m in fs.list_files(fs.join(root, "a"), ".jsonl")] == ["x.jsonl"]
    assert [fs.basename(m.path) for m in fs.list_files(fs.join(root, "a"), ".jsonl", recursive=True)] == ["y.jsonl", "x.jsonl"]
    assert fs.is_folder(fs.join(root, "a")) and not fs.is_folder(fs.join(root, "nothing"))
    assert fs.list_files(fs.join(root, "nothing")) == []
    assert fs.delete([fs.join(root, "a", "x.jsonl"), fs.join(root, "a", "gone")]) == 1
    assert fs.delete_tree(fs.join(root, "a")) == 2
    assert not fs.exists(fs.join(root, "a", "b", "y.jsonl"))


def test_open_write_is_whole_or_absent(root: str) -> None:
    target = fs.join(root, "out.jsonl")
    with pytest.raises(RuntimeError), fs.open_write(target) as handle:
        handle.write(b"half")
        raise RuntimeError("disk full")
    if fs.is_local(root):  # an object store never shows an upload that was not completed
        assert not fs.exists(target) and fs.list_files(root) == []
    with fs.open_write(target) as handle:
        handle.write(b"whole\n")
    assert fs.read_bytes(target) == b"whole\n"


def test_parquet_round_trip_with_footer_metadata(root: str) -> None:
    path = fs.join(root, "t.parquet")
    fs.write_parquet(path, pa.table({"id": ["a", "b"]}), metadata={"k": "v"})
    assert fs.read_parquet(path).column("id").to_pylist() == ["a", "b"]
    footer = fs.parquet_footer(path)
    assert footer.num_rows == 2 and footer.metadata[b"k"] == b"v"
    with fs.parquet_file(path) as parquet:
        assert [b.num_rows for b in parquet.iter_batches()] == [2]


def test_local_temporaries_live_under_the_tmp_root_and_go_with_it(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    fs.write_bytes(fs.join(out, "sft", "x.parquet"), b"data", out)
    assert (tmp_path / "out" / "sft" / "x.parquet").read_bytes() == b"data"
    assert list((tmp_path / "out" / ".tmp").iterdir()) == []  # renamed away


def test_uri_of_names_local_paths_absolutely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert fs.uri_of("in/a.jsonl") == f"file://{tmp_path}/in/a.jsonl"
    assert fs.uri_of("s3://b/in/a.jsonl") == "s3://b/in/a.jsonl"


def test_missing_file_raises_file_not_found(root: str) -> None:
    with pytest.raises(FileNotFoundError):
        fs.read_bytes(fs.join(root, "missing.jsonl"))
