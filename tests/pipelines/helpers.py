"""Helpers for pipeline tests: a scripted policy (a test double, not a model) and output readers."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def scripted(rules: list[tuple[str, str]] | None = None, default: str = "The answer is 42.", **extra: Any) -> str:
    """Inline JSON for ``--backend scripted --model ...``."""
    return json.dumps({"rules": rules or [], "default": default, **extra})


def seed(i: int | str, steps: list[str], answer: str = "42", problem: str | None = None) -> dict[str, Any]:
    return {"id": f"s{i}", "problem": problem or f"Problem {i}?", "answer": answer, "steps": [{"text": t} for t in steps]}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run(args: list[str]) -> int:
    return main([str(a) for a in args])


def prm_rows(out: Path | str) -> list[dict[str, Any]]:
    return [r for p in sorted(glob.glob(os.path.join(out, "prm", "*.parquet"))) for r in pq.read_table(p).to_pylist()]


def dead_letters(out: Path | str) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(glob.glob(os.path.join(out, "dead_letter", "*.jsonl"))):
        rows += [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def manifest(out: Path | str) -> dict[str, Any]:
    return json.loads(Path(out, "manifest.json").read_text(encoding="utf-8"))


def assert_balanced(out: Path | str) -> dict[str, Any]:
    """Every stage: read = written + filtered + dead-lettered; dead letters on disk match."""
    data = manifest(out)
    for name, e in data["stages"].items():
        assert e["read"] == e["written"] + sum(e["filtered"].values()) + e["dead_lettered"], name
    assert sum(e["dead_lettered"] for e in data["stages"].values()) == len(dead_letters(out))
    return data
