"""``reverse-o1 demo``: every pipeline on the bundled samples with the embedded model.

GSM8K slice → seeds (``seeds import``) → ``label --method shepherd`` on Beam's DirectRunner →
``out/demo/``; then a summary table. Sized to finish in a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.config import build_config, with_worker_threads
from pipelines.io.resume import shard_files
from pipelines.label import build_label
from pipelines.runner import run_command
from pipelines.seeds_cli import import_file
from pipelines.summary import stage_table, table

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
DEMO_DEFAULTS = {"out": "out/demo", "n": 4, "max_new_tokens": 96, "temperature": 0.7, "rows_per_shard": 1}


def run_demo(flags: dict[str, Any], yaml_path: str | None, problems: int | None, beam_args: list[str]) -> int:
    given = {k: v for k, v in flags.items() if v is not None}
    config = build_config(DEMO_DEFAULTS | given, yaml_path)
    out = config.out
    os.makedirs(out, exist_ok=True)
    seeds = os.path.join(out, "seeds.jsonl")
    with redirect_stderr(io.StringIO()):
        import_file("gsm8k", str(SAMPLES / "gsm8k" / "gsm8k_demo.jsonl"), seeds)
    config = config.model_copy(update={"input": [seeds], "limit": problems or config.limit or 3})
    config = with_worker_threads(config, beam_args)
    print(f"demo: labelling {config.limit} GSM8K problems, Math-Shepherd, n={config.n}, "
          f"{config.backend} backend ({config.model_label()}), output {out}/")
    summary = run_command("label", config, build_label, beam_args)
    print(stage_table(summary.manifest))
    print()
    print(demo_table(out, summary.manifest))
    return 0


def demo_table(out: str, manifest: dict[str, Any]) -> str:
    rows = [r for p in shard_files(out, "prm") for r in pq.read_table(p).to_pylist()]
    soft = [v for r in rows for v, n in zip(r["soft_labels"], r["rollouts"], strict=True) if n and v is not None]
    mean = f"{sum(soft) / len(soft):.3f}" if soft else "n/a"
    steps = sum(len(r["completions"]) for r in rows)
    return table(
        [["label (shepherd)", len(rows), steps, mean, manifest["outputs"]["dead_letters"], f"{manifest['wall_seconds']:.1f}"]],
        ["pipeline", "problems", "steps", "mean soft label", "dead letters", "wall s"],
    )
