"""value_model_economy: policy completions spent per labelled step by ``expand --value-model SPEC --value-mix 0``
÷ by the rollouts-only search (``--value-mix 1``, today's), same seeds and simulations; bar ≤ 0.3.

The issue's *labelled step* is read as a tree step the search gave a value from its own evaluation (a
``trees`` row with a ``value``: its rollout's, its stated answer's verdict, or the value model's score). A
value model's score is a guess, not a measurement, so the rows never make it a label: beside the headline,
``value_model_economy_measured`` counts only steps the verifier measured (``checked`` > 0), the steps that
carry hard labels. *Completions* are every sequence the policy generated (expansion samples and rollouts;
the value model's forward passes are none). Both runs go through the real Beam runner:

- the headline: the embedded SmolLM2 on two easy problems (``tests/fixtures/easy_seeds.jsonl``) with
  ``generative:embedded`` as the value model, where rollouts are real (up to 128 tokens) and steps short;
  generated tokens per labelled step beside it (``value_model_economy_tokens``);
- ``value_model_economy_scripted``: the scripted policy (a test double that never states an answer inside the
  tree, so every child is rolled out) and the scripted reward ``scripted:Compute``, 24 seeds, factor actions:
  the search's structure alone, without model noise.

Structure to keep in mind when reading the figure: the search evaluates every new child once, so the
rollouts-only search spends one expansion sample and one rollout per non-terminal child, and the value
model saves the rollout: about 0.5 in sequences whatever the model; the saving in generated tokens is
larger (a rollout is a whole solution, a step one line).
"""

from __future__ import annotations

import glob
import os
import tempfile
import time
from typing import Any

import pyarrow.parquet as pq

from benchmarks.report import Report
from benchmarks.trees_overhead import POLICY, seeds_file  # the same scripted policy and seeds
from common.local_disk import remove_tree
from pipelines.config import RunConfig
from pipelines.expand import build_expand
from pipelines.runner import run_command

HERE = os.path.dirname(os.path.abspath(__file__))
EASY_SEEDS = os.path.join(HERE, "..", "tests", "fixtures", "easy_seeds.jsonl")
def spend(config: RunConfig) -> dict[str, Any]:
    """Run ``expand``; its policy completions, rollouts, generated tokens and labelled steps."""
    started = time.monotonic()
    summary = run_command("expand", config, build_expand, [])
    stats = summary.manifest["stages"]["expand/expand"]["stats"]
    rows = [r for p in glob.glob(os.path.join(config.out, "trees", "*.parquet")) for r in pq.read_table(p).to_pylist()]
    labelled = sum(r["value"] is not None for r in rows if r["parent"] is not None)
    measured = sum((r.get("checked") or 0) > 0 for r in rows if r["parent"] is not None)
    return {"completions": stats["completions"], "rollouts": stats["rollouts"], "tokens": stats["generated_tokens"],
            "labelled": labelled, "measured": measured, "scored": stats.get("scored", 0),
            "seconds": round(time.monotonic() - started, 1)}


def per_step(figures: dict[str, Any], key: str, steps: str = "labelled") -> float:
    return figures[key] / max(figures[steps], 1)


def side_by_side(work: str, name: str, base: dict[str, Any], value_model: str) -> tuple[dict, dict]:
    rollouts = spend(RunConfig(out=os.path.join(work, f"{name}-rollouts"), **base))
    valued = spend(RunConfig(out=os.path.join(work, f"{name}-valued"), value_model=value_model, value_mix=0.0, **base))
    for label, f in (("rollouts only", rollouts), (f"--value-model {value_model} --value-mix 0", valued)):
        print(f"  {name}, {label}: {f['completions']} completions ({f['rollouts']} rollouts), {f['tokens']} tokens, "
              f"{f['labelled']} steps with a value, {f['measured']} measured, {f['scored']} scored, {f['seconds']} s")
    return rollouts, valued


def run(report: Report, seeds: int = 24) -> None:
    work = tempfile.mkdtemp(prefix="bench-value-")
    try:
        model = {"input": [EASY_SEEDS], "simulations": 4, "branching": 2, "cuts": "first", "max_depth": 4,
                 "max_new_tokens": 128, "threads": 1, "quiet": True}
        rollouts, valued = side_by_side(work, "embedded", model, "generative:embedded")
        report.add("value_model_economy", per_step(valued, "completions") / per_step(rollouts, "completions"), "<=", 0.3,
                   backend="SmolLM2-135M-Instruct (policy; generative PRM on the same model)", simulations=4,
                   rollouts_only=rollouts, value_model=valued)
        report.info("value_model_economy_tokens", per_step(valued, "tokens") / per_step(rollouts, "tokens"),
                    backend="SmolLM2-135M-Instruct: generated tokens per labelled step")
        report.info("value_model_economy_measured",
                    per_step(valued, "completions", "measured") / per_step(rollouts, "completions", "measured"),
                    backend="SmolLM2-135M-Instruct: completions per step the verifier measured")
        base = {"input": [seeds_file(work, seeds)], "backend": "scripted", "model": POLICY, "simulations": 8,
                "branching": 4, "max_depth": 6, "factor_actions": True, "quiet": True}
        rollouts, valued = side_by_side(work, "scripted", base, "scripted:Compute")
        report.info("value_model_economy_scripted", per_step(valued, "completions") / per_step(rollouts, "completions"),
                    backend="scripted policy, scripted reward (test doubles)", seeds=seeds, simulations=8,
                    rollouts_only=rollouts, value_model=valued)
    finally:
        remove_tree(work)
