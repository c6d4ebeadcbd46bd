"""``make bench-gpu`` (``python -m benchmarks gpu``) never runs here: without vllm or a GPU it stops
at once with one line and exit 2, before anything loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_check_fails_fast_in_one_line_without_vllm() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks", "gpu"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("bench gpu:")]
    assert done.returncode == 2 and len(lines) == 1 and "vllm is not installed" in lines[0]
    assert "bench:" not in done.stdout  # no figure was made up
