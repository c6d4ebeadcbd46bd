"""``ref_path``: the file a record ref (``PATH:LINE``, ``PATH#INDEX``) names, URIs included."""

from __future__ import annotations

import pytest

from schemas.refs import ref_path


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        ("s3://b/in/x.jsonl:3", "s3://b/in/x.jsonl"),
        ("s3://b/in/x.json#0", "s3://b/in/x.json"),
        ("gs://b/x.parquet#12", "gs://b/x.parquet"),
        ("memfs://pinned/tag/in/cot/gsm8k_sample.jsonl:20", "memfs://pinned/tag/in/cot/gsm8k_sample.jsonl"),
        ("/a/b.parquet#12", "/a/b.parquet"),
        ("/a/b.jsonl:1", "/a/b.jsonl"),
        ("m.jsonl:1", "m.jsonl"),
        ("/data/run:2/x.jsonl:5", "/data/run:2/x.jsonl"),  # a colon in a folder name
        ("/data/run:2/x.json#7", "/data/run:2/x.json"),
        ("/data/v#1/x.json#0", "/data/v#1/x.json"),  # a hash in a folder name
        ("/data/x.jsonl:12:3", "/data/x.jsonl:12"),  # only the last position is one
        ("file:///data/x.jsonl:9", "file:///data/x.jsonl"),
    ],
)
def test_ref_path(ref: str, path: str) -> None:
    assert ref_path(ref) == path


@pytest.mark.parametrize("ref", ["s3://b/in/x.jsonl", "/a/b.parquet", "/data/run:2/x.jsonl", "x.json#", "x.jsonl:", ""])
def test_a_ref_without_a_position_is_its_path(ref: str) -> None:
    assert ref_path(ref) == ref
