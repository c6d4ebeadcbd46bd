"""``reverse-o1 studio``'s settings, ``eval labels`` and ``report`` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import make_parser
from pipelines.studio.cli import settings_from
from tests.pipelines.helpers import prm_rows, run


def settings(*argv: str):
    return settings_from(make_parser().parse_args(["studio", *argv]))


@pytest.mark.parametrize("argv, message", [
    (["--host", "0.0.0.0", "--data", "."], "give --token"),
    (["--host", "10.1.2.3", "--token", "short", "--data", "."], "at least 16 characters"),
    ([], "nothing to open"),
    (["--data", "/no/such/folder"], "no such directory"),
    (["--seeds", "s3://bucket/seeds.jsonl"], "local files only"),
    (["--seeds", "."], "is a folder"),
    (["--data", ".", "--port", "70000"], "not a port"),
])
def test_settings_that_cannot_run_are_refused_in_one_line(argv: list[str], message: str, capsys) -> None:
    assert run(["studio", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_token_from_the_environment_and_loopback_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert settings("--data", str(tmp_path)).host == "127.0.0.1"
    monkeypatch.setenv("REVERSE_O1_STUDIO_TOKEN", "x" * 20)
    assert settings("--host", "0.0.0.0", "--data", str(tmp_path)).token == "x" * 20


def test_a_seed_file_that_is_a_fifo_is_refused(tmp_path: Path, capsys) -> None:
    import os

    fifo = tmp_path / "seeds.jsonl"
    os.mkfifo(fifo)
    assert run(["studio", "--seeds", fifo]) == 2
    assert "seeds.jsonl" in capsys.readouterr().err


def test_eval_labels_and_report_through_the_cli(tmp_path: Path, expanded_folder: Path, capsys) -> None:
    row = next(r for r in prm_rows(expanded_folder) if len(r["completions"]) >= 2)
    human = tmp_path / "human.jsonl"
    labels = [{"row_id": row["id"], "step": i, "label": "correct" if row["labels"][i] else "wrong", "annotator": "a"}
              for i in range(len(row["completions"]))]
    human.write_text("".join(json.dumps(x) + "\n" for x in labels))
    assert run(["eval", "labels", "--human", human, "--data", expanded_folder, "--json", tmp_path / "a.json"]) == 0
    report = json.loads((tmp_path / "a.json").read_text())
    [everything] = [g for g in report["groups"] if g["group"] == "all"]
    assert everything["step_accuracy"]["value"] == 1.0 and everything["counts"]["steps_compared"] == len(labels)
    assert "first error" in capsys.readouterr().out
    assert run(["report", expanded_folder, "-o", tmp_path / "report.html"]) == 0
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!doctype html>") or page.lower().startswith("<!doctype html>")
    assert "<script" not in page.lower()
    assert run(["report", tmp_path / "missing", "-o", tmp_path / "r.html"]) == 2
