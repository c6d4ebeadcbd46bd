"""generation_efficiency_{label,expand}: how close the pipelines come to the embedded backend's best.

Generated tokens/s through ``reverse-o1 label`` (Math-Shepherd, 16 GSM8K seeds) and ``reverse-o1
expand`` (8 seeds) ÷ the embedded backend's **best** tokens/s on the same kind of prompts, found by
a sweep of batch sizes in the same run (the throughput of a CPU model flattens past batch 8-16, so
the best is where it flattens). The pipeline's rate is its tokens over the span its engine kept the
backend in use (first call to last; model load and Beam's start are outside it and printed apart,
with the rate over the whole wall time too). Both sides: the same converted model, torch threads,
sampling settings and prompt templates.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

from benchmarks.report import Report
from generators.backends import create_backend
from generators.backends.base import GenerationParams, GenRequest, LLMBackend
from generators.labelling import ShepherdLabeller
from pipelines.config import RunConfig
from pipelines.expand import build_expand
from pipelines.io.read import RawRecord
from pipelines.label import build_label, label_settings
from pipelines.runner import RunSummary, run_command
from pipelines.settings import backend_config
from pipelines.trajectories import to_trajectory
from schemas.records import Trajectory
from schemas.seed_import import gsm8k_to_seed

GSM8K = os.path.join(os.path.dirname(__file__), "data", "gsm8k_train_300.jsonl")
MAX_NEW_TOKENS = 32
SWEEP = (1, 4, 8, 16, 32)
THREADS = max(1, (os.cpu_count() or 1) - 1)  # as a pipeline sizes itself (one core left for Beam and verification)


def seeds_file(directory: str, count: int, name: str = "seeds.jsonl") -> tuple[str, list[Trajectory]]:
    """The first ``count`` GSM8K problems as seeds (a file) and as trajectories."""
    path = os.path.join(directory, name)
    with open(GSM8K, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as dst:
        seeds = [gsm8k_to_seed(json.loads(line)) for line in list(src)[:count]]
        dst.writelines(json.dumps(seed) + "\n" for seed in seeds)
    return path, [to_trajectory(RawRecord(f"{path}:{i + 1}", s, (0, i + 1), path)) for i, s in enumerate(seeds)]


def rollout_requests(trajectories: list[Trajectory], n: int, config: RunConfig) -> list[GenRequest]:
    """Shepherd rollout prompts (the template of label's rollouts and of expand's) with ``n`` samples."""
    labeller = ShepherdLabeller(None, None, label_settings(config))  # type: ignore[arg-type]  # requests only
    return [labeller.rollout_request(t, i, n=n) for t in trajectories for i in range(len(t.steps) - 1)]


def sweep(backend: LLMBackend, requests: list[GenRequest], sizes: tuple[int, ...] = SWEEP) -> dict[int, float]:
    """Tokens/s of one ``generate`` call of ``size`` sequences, for each size (requests taken in turn)."""
    rates: dict[int, float] = {}
    cursor = 0
    for size in sizes:
        batch, total = [], 0
        while total < size:
            request = requests[cursor % len(requests)]
            take = min(request.params.n, size - total)
            batch.append(GenRequest(request.messages, GenerationParams(**{**request.params.__dict__, "n": take})))
            total += take
            cursor += 1
        started = time.monotonic()
        tokens = sum(c.tokens for out in backend.generate(batch) for c in out)
        rates[size] = tokens / (time.monotonic() - started)
        print(f"    batch {size:>3}: {rates[size]:6.1f} tok/s", flush=True)
    return rates


def through(summary: RunSummary, stage: str) -> tuple[float, float, dict]:
    """(tokens/s over the engine's span, tokens/s over the wall, the stage's stats)."""
    stats = summary.manifest["stages"][stage]["stats"]
    span = stats.get("engine_span_ms", 0) / 1000
    tokens = stats.get("generated_tokens", 0)
    return tokens / span if span else 0.0, tokens / summary.wall_seconds, stats


def sizes_of(stats: dict) -> dict[str, int]:
    return {k.split(":", 1)[1]: v for k, v in stats.items() if k.startswith("call_sequences:")}


def measure(report: Report, command: str, summary: RunSummary, rates: dict[int, float], **details: object) -> None:
    """``generation_efficiency_COMMAND``: the run's tokens/s over its engine's span ÷ the sweep's best."""
    rate, wall_rate, stats = through(summary, f"{command}/{command}")
    best = max(rates.values())
    print(f"  {command}: {stats['generated_tokens']} tokens, {rate:.1f} tok/s over the engine's span "
          f"({wall_rate:.1f} over {summary.wall_seconds:.1f} s wall); best batch {best:.1f} tok/s; "
          f"calls by sequences: {sizes_of(stats)}", flush=True)
    report.add(f"generation_efficiency_{command}", rate / best, ">=", 0.85, pipeline_tok_s=round(rate, 2),
               wall_tok_s=round(wall_rate, 2), best_tok_s=round(best, 2),
               sweep={str(k): round(v, 2) for k, v in rates.items()}, call_sequences=sizes_of(stats), **details)


def run(report: Report, label_seeds: int = 16, expand_seeds: int = 8, n: int = 4) -> None:
    work = tempfile.mkdtemp(prefix="bench-efficiency-")
    try:
        path, trajectories = seeds_file(work, max(label_seeds, expand_seeds))
        base = RunConfig(input=[path], n=n, max_new_tokens=MAX_NEW_TOKENS, threads=THREADS, rows_per_shard=64,
                         quiet=True)
        backend = create_backend(backend_config(base))
        backend.generate(rollout_requests(trajectories, 1, base)[:1])  # warm-up
        print("  label-kind prompts (n=4 samples of a prefix):", flush=True)
        label_rates = sweep(backend, rollout_requests(trajectories, n, base))
        print("  expand-kind prompts (one rollout a prefix):", flush=True)
        expand_rates = sweep(backend, rollout_requests(trajectories, 1, base))
        backend.close()

        label_path, _ = seeds_file(work, label_seeds, "label.jsonl")
        config = base.model_copy(update={"input": [label_path], "out": os.path.join(work, "label")})
        measure(report, "label", run_command("label", config, build_label, []), label_rates,
                seeds=label_seeds, n=n, max_new_tokens=MAX_NEW_TOKENS)
        expand_path, _ = seeds_file(work, expand_seeds, "expand.jsonl")
        config = base.model_copy(update={"input": [expand_path], "out": os.path.join(work, "expand"),
                                         "cuts": "first", "simulations": 4, "branching": 3})
        measure(report, "expand", run_command("expand", config, build_expand, []), expand_rates,
                seeds=expand_seeds, simulations=4, branching=3, max_new_tokens=MAX_NEW_TOKENS)
    finally:
        shutil.rmtree(work, ignore_errors=True)
