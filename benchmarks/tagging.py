"""tagging: accuracy of each tagger tier on the labelled set, and its throughput in steps/s.

The set is ``benchmarks/data/factor_steps.jsonl`` (101 steps in 19 chains, labelled by the rule
in ``benchmarks/data/README.md``). Each tier tags the chains with their factors removed:
``rules``, ``llm`` (every step asks the embedded model; answers that name no factor fall back to
the rules) and ``both`` (only the steps the rules are unsure of ask the model). Bars: rules
>= 0.80; llm >= 0.125, chance over 8 factors, since the embedded 135M model is near chance at
this task (a real model goes through ``--backend openai|vllm``); both >= 0.75, i.e. sending the
rules' unsure steps (about a sixth here) to even a near-chance model costs at most a few points.
Throughputs have no bar.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.report import Report
from generators.backends import create_backend
from generators.backends.registry import BackendConfig
from generators.tagging import LLMTagger, RuleTagger, StepTagger
from schemas.factors import load_factors
from schemas.records import Step

DATA = Path(__file__).resolve().parent / "data" / "factor_steps.jsonl"
BARS = {"rules": 0.80, "llm": 0.125, "both": 0.75}


def labelled_set(path: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluate(tagger: StepTagger, chains: list[dict[str, Any]], rounds: int = 1) -> dict[str, float]:
    """Accuracy against the labels, steps/s over ``rounds`` passes, and the share of LLM answers that named a factor."""
    correct = total = asked = valid = 0
    started = time.perf_counter()
    for _ in range(rounds):
        correct = total = asked = valid = 0
        for chain in chains:
            steps = [Step(s["text"]) for s in chain["steps"]]
            decisions = tagger.tag(steps, chain["problem"])
            for label, decision in zip(chain["steps"], decisions, strict=True):
                total += 1
                correct += decision.factor == label["factor"]
                asked += decision.tier in ("llm", "llm_fallback")
                valid += decision.tier == "llm"
    seconds = time.perf_counter() - started
    return {"accuracy": correct / total, "steps_per_s": rounds * total / seconds, "steps": total,
            "asked_llm": asked, "valid_answers": valid / asked if asked else 1.0}


def _report(report: Report, tier: str, result: dict[str, float]) -> None:
    print(f"  {tier}: {result['steps']} steps, accuracy {result['accuracy']:.3f}, {result['steps_per_s']:.1f} steps/s"
          + (f", {result['asked_llm']} asked the LLM, {result['valid_answers']:.0%} of answers named a factor"
             if result["asked_llm"] else ""))
    report.add(f"tagging_accuracy_{tier}", result["accuracy"], ">=", BARS[tier], steps=result["steps"],
               asked_llm=result["asked_llm"], valid_answers=round(result["valid_answers"], 3))
    info = getattr(report, "info", None)
    if info is not None:
        info(f"tagging_steps_per_s_{tier}", result["steps_per_s"])
    else:  # an older Report without figures that have no bar
        report.add(f"tagging_steps_per_s_{tier}", result["steps_per_s"], ">=", 0.0)


def run(report: Report, tiers: tuple[str, ...] = ("rules", "llm", "both")) -> None:
    vocabulary = load_factors()
    chains = labelled_set()
    if "rules" in tiers:
        _report(report, "rules", evaluate(RuleTagger(vocabulary), chains, rounds=20))
    llm_tiers = [t for t in tiers if t != "rules"]
    if not llm_tiers:
        return
    backend = create_backend(BackendConfig(threads=os.cpu_count(), max_batch_size=8))
    try:
        LLMTagger(backend, vocabulary).tag([Step("Let's check: 2 + 2 = 4.")])  # warm-up, outside the timing
        for tier in llm_tiers:
            _report(report, tier, evaluate(LLMTagger(backend, vocabulary, only_unsure=tier == "both"), chains))
    finally:
        backend.close()


if __name__ == "__main__":
    os.environ.setdefault("REVERSE_O1_NO_PROGRESS", "1")
    bench = Report("out/bench_tagging.json")
    run(bench)
    bench.write()
