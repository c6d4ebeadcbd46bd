"""Exit codes that tell the truth, and a last line that says what the run made (real CLI, scripted model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipelines.helpers import run, scripted

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "samples" / "gsm8k" / "gsm8k_demo_seeds.jsonl"


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines", *map(str, args)], cwd=ROOT if cwd is None else cwd,
                          capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ": error: " in line]


def test_a_missing_input_exits_3_in_one_line_and_keeps_its_dead_letter(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _cli(["label", "--input", tmp_path / "nonexistent.jsonl", "--out", out, "--backend", "scripted"], tmp_path)
    assert done.returncode == 3, done
    [line] = _error_lines(done.stderr)
    assert "no rows written" in line and "missing_file 1" in line
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["label/read"]["dead_reasons"] == {"missing_file": 1}
    assert list((out / "dead_letter").glob("*.jsonl"))


def test_a_csv_is_an_unknown_format(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("problem,answer\n1+1,2\n", encoding="utf-8")
    done = _cli(["expand", "--seeds", seeds, "--out", tmp_path / "out", "--backend", "scripted"], tmp_path)
    assert done.returncode == 3, done
    [line] = _error_lines(done.stderr)
    assert "unknown_format 1" in line


@pytest.mark.parametrize("command", ["label", "expand", "tag", "lean-cot", "code-cot"])
def test_out_is_required(tmp_path: Path, command: str) -> None:
    flag = {"label": "--input", "expand": "--seeds", "tag": "--input", "lean-cot": "--input", "code-cot": "--repo"}[command]
    extra = ["--column", "text"] if command == "tag" else []
    done = _cli([command, flag, SEEDS, *extra, "--backend", "scripted"], tmp_path)
    assert done.returncode == 2, done
    [line] = _error_lines(done.stderr)
    assert "needs --out DIR" in line
    assert not (tmp_path / "out").exists()


def test_the_last_line_says_what_was_made_and_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert run(["label", "--input", SEEDS, "--out", out, "--backend", "scripted", "--model", scripted(), "--n", "2",
                "--limit", "3"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"{out}: 0 SFT rows, 3 PRM rows in {out}/prm; this run: 0 filtered, 0 dead letters;"), last


def test_the_last_line_gives_the_verified_share(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    policy = scripted(default="The answer is 10.")  # a test double: the first sample problem's answer
    assert run(["expand", "--seeds", SEEDS, "--out", out, "--backend", "scripted", "--model", policy,
                "--limit", "1", "--simulations", "4", "--branching", "2", "--max-depth", "3", "--cuts", "all"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    rows = json.loads((out / "manifest.json").read_text())["outputs"]
    share = f"{rows['sft_verified'] / rows['sft_rows']:.0%}"
    assert 0 < rows["sft_verified"] <= rows["sft_rows"]
    assert f"{rows['sft_rows']} SFT rows ({rows['sft_verified']} verified, {share}) in {out}/sft" in last, last
