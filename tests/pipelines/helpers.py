"""Helpers for pipeline tests: a scripted policy (a test double, not a model) and output readers."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
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


# Runs ``python -m pipelines ARGS`` and prints the peak RSS of its whole process tree in KiB and its
# exit code. It must run in a fresh process of its own: a child's ru_maxrss starts at the high-water
# mark of the process that started it (vfork, then exec, carries it over), so a command started from
# the test process reported that process's own 2 GiB as its peak.
_PEAK_RSS = """
import os, resource, subprocess, sys, threading, time

def tree_kib(root):
    children = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(pid))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total

child = subprocess.Popen([sys.executable, "-m", "pipelines", *sys.argv[1:]])
peak = 0
def poll():
    global peak
    while child.poll() is None:
        peak = max(peak, tree_kib(child.pid))
        time.sleep(0.05)
watcher = threading.Thread(target=poll, daemon=True)
watcher.start()
code = child.wait()
watcher.join()
print(max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss), code)
"""


def peak_rss(args: list[Any], cwd: Path | str | None = None, timeout: float = 300) -> tuple[int, int]:
    """Run the real CLI on ``args`` in a subprocess: (peak RSS of its process tree in bytes, exit code).

    The peak is the larger of the tree's summed RSS polled from /proc (every 50 ms: a command whose
    workers are processes) and the kernel's exact high-water mark of its largest process."""
    done = subprocess.run([sys.executable, "-c", _PEAK_RSS, *map(str, args)], capture_output=True, text=True, check=False,
                          cwd=cwd or Path(__file__).resolve().parents[2], timeout=timeout)
    last = done.stdout.split()[-2:]  # the command's own output comes first
    if done.returncode or len(last) != 2:
        raise AssertionError(f"no peak measured; stderr:\n{done.stderr[-3000:]}")
    return int(last[0]) * 1024, int(last[1])


def replace_run(monkeypatch: Any, name: str, run: Any) -> None:
    """Command ``name`` parses its real arguments but runs ``run(args, unknown)`` instead (CLI tests)."""
    from pipelines import cli, commands
    from pipelines.command import Command

    real = commands.load

    def load(wanted: str) -> Any:
        command = real(wanted)
        return Command(command.name, command.help, command.add_arguments, run, command.beam_options) if wanted == name \
            else command

    monkeypatch.setattr(cli, "load", load)
