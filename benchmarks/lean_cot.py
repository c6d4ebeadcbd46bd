"""lean-cot throughput on the embedded model: theorems/s and generated tokens/s through the
whole pipeline (Beam start, model load, reading, thoughts, proof CoT, tagging, writing).

Runs ``reverse-o1 lean-cot`` on the bundled Lean samples (``samples/lean``). The SPEC sets no
bar; the figures go in the note and the README.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from benchmarks.report import Report
from pipelines.config import RunConfig
from pipelines.lean_cot import build_lean_cot
from pipelines.runner import run_command

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "lean"


def run(report: Report, theorems: int = 3, max_new_tokens: int = 48, samples: int = 2) -> None:
    work = tempfile.mkdtemp(prefix="bench-lean-")
    try:
        inputs = sorted(str(p) for p in SAMPLES.glob("*.json*"))
        config = RunConfig(input=inputs, out=os.path.join(work, "out"), limit=theorems, max_new_tokens=max_new_tokens,
                           thought_samples=samples, threads=1, rows_per_shard=64)
        summary = run_command("lean-cot", config, build_lean_cot, [])
        stage = summary.manifest["stages"]["lean-cot/lean_cot"]
        done = stage["read"]
        tokens = stage["stats"].get("generated_tokens", 0)
        print(f"  {done} theorems ({stage['written']} rows), {stage['stats'].get('tactics', 0)} tactics, {tokens} tokens "
              f"in {summary.wall_seconds:.1f} s (Beam start and model load included)")
        report.info("lean_cot_theorems_per_s", done / summary.wall_seconds, theorems=done, max_new_tokens=max_new_tokens)
        report.info("lean_cot_tokens_per_s", tokens / summary.wall_seconds, tokens=tokens)
    finally:
        shutil.rmtree(work, ignore_errors=True)
