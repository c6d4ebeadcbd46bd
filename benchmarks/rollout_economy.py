"""rollout_economy: completions spent per labelled solution, ``--method binary`` ÷ ``--method shepherd``.

Both labellers run side by side on the same solutions of 8–16 steps, built from real GSM8K
problems (``tests/fixtures/gsm8k_sample.jsonl``): the GSM8K steps plus restating and checking
steps, one step made wrong (a number off) and the final answer wrong with it. The completer is
``SimulatedCompleter``, a test double: from a prefix without the wrong step each completion
reaches the gold answer with probability p (seeded by the request's seed), from one with it never.
Answers are checked by the real ``MathVerifier``. Next to the ratio: how often the two methods put
the first error at the same step, and probes per solution. Optionally, a one-solution run of the
embedded SmolLM2 shows the real spend of both methods.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.report import Report
from generators.backends.base import Completion, GenRequest, LLMBackend
from generators.labelling import BinaryLabeller, LabelSettings, ShepherdLabeller, StepLabeller
from schemas.records import Source, Step, Trajectory
from schemas.seed_import import gsm8k_to_seed
from verifiers.math_answer import MathVerifier

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "gsm8k_sample.jsonl")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
CHECKS = ["Let me check that against the problem statement: it agrees.", "That matches what the question gives.",
          "Before going on, the units are consistent.", "So far every quantity has been used once."]


class SimulatedCompleter(LLMBackend):
    """Test double for a completer: p(reach gold) = p from a clean prefix, 0 past a wrong step."""

    name = "simulated"

    def __init__(self, golds: dict[str, str], wrong_steps: set[str], p: float):
        self.golds, self.wrong_steps, self.p = golds, wrong_steps, p

    @property
    def model_name(self) -> str:
        return f"simulated-p{self.p}"

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        out = []
        for request in requests:
            prompt = request.messages[-1][1]
            gold = next(g for problem, g in self.golds.items() if problem in prompt)
            clean = not any(w in prompt for w in self.wrong_steps)
            samples = []
            for i in range(request.params.n):
                r = random.Random(f"{request.params.seed}/{i}").random()
                if clean and r < self.p:
                    text = f"Carrying on from there. The answer is {gold}."
                elif r < 0.9:
                    text = f"Carrying on from there. The answer is {float(gold) + 1 + int(r * 10):g}."
                else:
                    text = "Carrying on, though I lose track of the numbers here"  # no final answer
                samples.append(Completion(text, len(text.split())))
            out.append(samples)
        return out


def gsm8k_seeds() -> list[dict[str, Any]]:
    with open(FIXTURE, encoding="utf-8") as handle:
        return [gsm8k_to_seed(json.loads(line)) for line in handle if line.strip()]


def build_solution(seed: dict[str, Any], index: int, rng: random.Random) -> tuple[Trajectory, int, str]:
    """A solution of 8–16 steps with one wrong step; (trajectory, first error, its text)."""
    gold = seed["answer"]
    core = [s["text"] for s in seed["steps"]]
    length = rng.randint(8, 16)
    steps = [f"We need to find: {seed['problem'].split('.')[-1].strip() or 'the result'}"] + core
    while len(steps) < length - 1:
        k = rng.randrange(1, len(steps))
        steps.insert(k + 1, rng.choice(CHECKS))
    steps.append(f"So the answer is {gold}.")
    length = len(steps)  # a long GSM8K solution may overshoot the draw
    bad = rng.randrange(length)
    slip = 1 + index % 7
    wrong_answer = f"{float(gold) + slip:g}"
    if bad == length - 1:
        steps[bad] = f"So the answer is {wrong_answer}."
    else:
        numbers = _NUMBER.findall(steps[bad])
        if numbers:
            last = numbers[-1]
            cut = steps[bad].rfind(last)
            steps[bad] = f"{steps[bad][:cut]}{float(last) + slip:g}{steps[bad][cut + len(last):]}"
        else:
            steps[bad] = f"{steps[bad]} That makes {slip} more than needed."
        steps[-1] = f"So the answer is {wrong_answer}."
    source = Source(uri=f"bench://rollout_economy/{index}")
    trajectory = Trajectory(f"econ-{index}", seed["problem"], tuple(Step(t) for t in steps), wrong_answer, gold, "seed",
                            source)
    return trajectory, bad, steps[bad]


def first_error(hard: list[bool]) -> int:
    return next((i for i, ok in enumerate(hard) if not ok), len(hard))


def simulate(solutions: int, p: float, n: int, probe_chunk: int, verifier: MathVerifier) -> dict[str, Any]:
    seeds, rng = gsm8k_seeds(), random.Random(1234)
    built = [build_solution(seeds[i % len(seeds)], i, rng) for i in range(solutions)]
    golds = {t.problem: t.gold_answer for t, _, _ in built}
    wrong = {text for _, _, text in built}
    for t, bad, _ in built:  # no wrong step's text may hide inside a good step
        assert not any(w in s.text for i, s in enumerate(t.steps) if i != bad for w in wrong), t.id
    settings = LabelSettings(n=n, probe_chunk=probe_chunk)
    spent: dict[str, list[int]] = {}
    firsts: dict[str, list[int]] = {}
    probes = 0
    for cls in (ShepherdLabeller, BinaryLabeller):
        labeller: StepLabeller = cls(SimulatedCompleter(golds, wrong, p), verifier, settings)
        results = [labeller.label(t) for t, _, _ in built]
        spent[cls.method] = [r.completions_spent for r in results]
        firsts[cls.method] = [first_error(r.hard) for r in results]
        if cls is BinaryLabeller:
            probes = sum(len(r.probes) for r in results)
    truth = [bad for _, bad, _ in built]
    short = [i for i, (t, _, _) in enumerate(built) if len(t.steps) <= 10]
    lengths = [len(t.steps) for t, _, _ in built]
    return {
        "ratio": sum(spent["binary"]) / sum(spent["shepherd"]),
        "ratio_8_10_steps": sum(spent["binary"][i] for i in short) / max(1, sum(spent["shepherd"][i] for i in short)),
        "binary": sum(spent["binary"]), "shepherd": sum(spent["shepherd"]),
        "agreement": sum(a == b for a, b in zip(firsts["binary"], firsts["shepherd"], strict=True)) / solutions,
        "binary_true": sum(a == b for a, b in zip(firsts["binary"], truth, strict=True)) / solutions,
        "shepherd_true": sum(a == b for a, b in zip(firsts["shepherd"], truth, strict=True)) / solutions,
        "probes": probes / solutions,
        "max_probes": max(math.ceil(math.log2(len(t.steps))) for t, _, _ in built),
        "steps": sum(lengths) / solutions, "min_steps": min(lengths), "max_steps": max(lengths),
    }


def real_model_spend(verifier: MathVerifier, n: int = 2, max_new_tokens: int = 48) -> dict[str, Any] | None:
    """Completions both methods spend on one wrong 4-step GSM8K solution with the embedded model."""
    try:
        from generators.backends.registry import BackendConfig, create_backend

        backend = create_backend(BackendConfig(backend="transformers", threads=1))  # 2 shared cores: 2 threads spin
    except Exception as exc:  # no torch, no model wheel: the simulated figure stands alone
        print(f"  real model skipped: {type(exc).__name__}: {exc}".splitlines()[0])
        return None
    try:
        seed = next(s for s in gsm8k_seeds() if len(s["steps"]) == 4)
        wrong = f"{float(seed['answer']) + 1:g}"
        trajectory = Trajectory("econ-real", seed["problem"], tuple(Step(s["text"]) for s in seed["steps"]), wrong,
                                seed["answer"], "seed", Source(uri="bench://rollout_economy/real"))
        settings = LabelSettings(n=n, max_new_tokens=max_new_tokens)
        out: dict[str, Any] = {"steps": len(trajectory.steps), "n": n, "max_new_tokens": max_new_tokens}
        started = time.monotonic()
        for cls in (ShepherdLabeller, BinaryLabeller):
            labels = cls(backend, verifier, settings).label(trajectory)
            out[cls.method] = labels.completions_spent
            out[f"{cls.method}_first_error"] = first_error(labels.hard)
        out["seconds"] = round(time.monotonic() - started, 1)
        return out
    finally:
        backend.close()


def run(report: Report, solutions: int = 40, p: float = 0.6, n: int = 8, probe_chunk: int = 2,
        real_model: bool = True) -> None:
    verifier = MathVerifier()
    try:
        main = simulate(solutions, p, n, probe_chunk, verifier)
        others = {f"p{q}": round(simulate(solutions, q, n, probe_chunk, verifier)["ratio"], 4) for q in (0.5, 0.7)}
        full_k = simulate(solutions, p, n, n, verifier)["ratio"]
        print(f"  {solutions} wrong solutions of {main['min_steps']}-{main['max_steps']} steps ({main['steps']:.1f} on "
              f"average), k={n}, p={p}: "
              f"shepherd {main['shepherd']} completions, binary {main['binary']} "
              f"({main['probes']:.2f} probes per solution, at most {main['max_probes']}); "
              f"same first error {main['agreement']:.3f} (binary right {main['binary_true']:.3f}, "
              f"shepherd right {main['shepherd_true']:.3f}); ratio at p=0.5/0.7: {others['p0.5']:.3f}/{others['p0.7']:.3f}; "
              f"8-10 steps only: {main['ratio_8_10_steps']:.3f}; without adaptive probes: {full_k:.3f}")
        real = real_model_spend(verifier) if real_model else None
        if real:
            print(f"  embedded SmolLM2, one wrong {real['steps']}-step solution, n={real['n']}: shepherd "
                  f"{real['shepherd']} completions, binary {real['binary']} ({real['seconds']} s)")
    finally:
        verifier.close()
    report.add("rollout_economy", main["ratio"], "<=", 0.35, shepherd_completions=main["shepherd"],
               binary_completions=main["binary"], solutions=solutions, mean_steps=round(main["steps"], 2),
               ratio_8_10_steps=round(main["ratio_8_10_steps"], 4), k=n, probe_chunk=probe_chunk, p=p,
               ratio_other_p=others, ratio_without_adaptive=round(full_k, 4), real_model=real)
    # the bar holds only where both methods find the same first errors: how often they do, and the probes it took
    report.info("rollout_economy_agreement", main["agreement"], binary_matches_injected=main["binary_true"],
                shepherd_matches_injected=main["shepherd_true"])
    report.info("rollout_economy_probes", main["probes"], max_probes=main["max_probes"])
