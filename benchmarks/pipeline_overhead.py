"""pipeline_overhead: tokens/s through ``reverse-o1 label`` ÷ tokens/s of the same backend
called directly on the same prompts with the same batch size (n samples of one prefix).

Both sides use the same converted embedded model, torch threads and seeds, so they generate
the same tokens; the pipeline side also pays for Beam, reading, verification and writing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

from benchmarks.report import Report
from generators.backends import create_backend
from generators.labelling import ShepherdLabeller
from pipelines.config import RunConfig
from pipelines.io.read import RawRecord
from pipelines.label import build_label, label_settings
from pipelines.runner import run_command
from pipelines.settings import backend_config
from pipelines.trajectories import to_trajectory
from schemas.seed_import import gsm8k_to_seed
from verifiers.math_answer import MathVerifier

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples", "gsm8k", "gsm8k_demo.jsonl")


def seeds_file(directory: str, count: int) -> tuple[str, list]:
    path = os.path.join(directory, "seeds.jsonl")
    seeds = []
    with open(SAMPLES, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as dst:
        for line in list(src)[:count]:
            seed = gsm8k_to_seed(json.loads(line))
            seeds.append(seed)
            dst.write(json.dumps(seed) + "\n")
    return path, seeds


def run(report: Report, problems: int = 4, n: int = 4, max_new_tokens: int = 64) -> None:
    work = tempfile.mkdtemp(prefix="bench-overhead-")
    try:
        path, seeds = seeds_file(work, problems)
        config = RunConfig(input=[path], out=os.path.join(work, "out"), n=n, max_new_tokens=max_new_tokens,
                           threads=os.cpu_count(), rows_per_shard=64)
        backend = create_backend(backend_config(config))
        trajectories = [to_trajectory(RawRecord(f"{path}:{i + 1}", s, (0, i + 1), path)) for i, s in enumerate(seeds)]
        labeller = ShepherdLabeller(backend, MathVerifier(), label_settings(config))
        requests = [[labeller.rollout_request(t, i) for i in range(len(t.steps) - 1)] for t in trajectories]
        backend.generate(requests[0][:1])  # warm-up, same for both sides
        started, direct_tokens = time.monotonic(), 0
        for batch in requests:  # the labeller sends one trajectory's prefixes per call
            direct_tokens += sum(c.tokens for out in backend.generate(batch) for c in out)
        direct = direct_tokens / (time.monotonic() - started)
        backend.close()

        summary = run_command("label", config, build_label, [])
        stats = summary.manifest["stages"]["label/label"]["stats"]
        through = stats["generated_tokens"] / summary.wall_seconds
        print(f"  direct: {direct_tokens} tokens, {direct:.1f} tok/s; pipeline: {stats['generated_tokens']} tokens, "
              f"{through:.1f} tok/s in {summary.wall_seconds:.1f} s (Beam start, model load, verify, write included)")
        report.add("pipeline_overhead", through / direct, ">=", 0.90, direct_tok_s=round(direct, 2),
                   pipeline_tok_s=round(through, 2), problems=problems, n=n, max_new_tokens=max_new_tokens)
    finally:
        shutil.rmtree(work, ignore_errors=True)
