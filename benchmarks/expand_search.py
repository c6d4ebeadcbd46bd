"""expand: rollouts per second of MCTS on the embedded model, the share of backend calls that
carried more than one prompt, and what searching a seed's cuts in lockstep buys.

Side by side on the same roots (every cut of a few bundled GSM8K seeds), same backend and
settings: (a) all roots of a seed in lockstep, as ``reverse-o1 expand`` runs them; (b) the
same roots searched one after another. Rollouts/s counts evaluations by rollout.
"""

from __future__ import annotations

import json
import os
import time

from benchmarks.report import Report
from generators.backends import create_backend
from generators.backends.base import GenerationParams, GenRequest
from generators.backends.registry import BackendConfig
from generators.search import MCTSExpander, MCTSSettings, SearchRoot
from schemas.records import Step
from schemas.seed_import import gsm8k_to_seed
from verifiers.math_answer import MathVerifier

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples", "gsm8k", "gsm8k_demo.jsonl")


def roots_by_seed(count: int) -> list[list[SearchRoot]]:
    with open(SAMPLES, encoding="utf-8") as handle:
        seeds = [gsm8k_to_seed(json.loads(line)) for line in list(handle)[:count]]
    groups = []
    for seed in seeds:
        steps = tuple(Step(s["text"]) for s in seed["steps"])
        cuts = list(range(1, len(steps))) or [0]
        groups.append([SearchRoot(f"{seed['id']}#cut{c}", seed["problem"], seed["answer"], steps[:c]) for c in cuts])
    return groups


def search(expander_args: tuple, groups: list[list[SearchRoot]], lockstep: bool) -> tuple[float, int, int, int, int]:
    backend, verifier, settings = expander_args
    rollouts = calls = multi = tokens = 0
    started = time.monotonic()
    for group in groups:
        for batch in [group] if lockstep else [[r] for r in group]:
            expander = MCTSExpander(backend, verifier, settings)
            expander.run(batch)
            rollouts += expander.stats.rollouts
            calls += expander.stats.backend_calls
            multi += expander.stats.multi_prompt_calls
            tokens += expander.stats.generated_tokens
    return time.monotonic() - started, rollouts, calls, multi, tokens


def run(report: Report, seeds: int = 2, simulations: int = 3, branching: int = 3) -> None:
    backend = create_backend(BackendConfig(threads=1))  # 2 threads spin when anything else runs
    verifier = MathVerifier()
    settings = MCTSSettings(simulations=simulations, branching=branching, step_tokens=40, rollout_tokens=64)
    groups = roots_by_seed(seeds)
    args = (backend, verifier, settings)
    try:
        backend.generate([GenRequest.chat([{"role": "user", "content": "Hi"}], GenerationParams(max_new_tokens=4))])  # warm-up
        t_lock, r_lock, c_lock, m_lock, tok_lock = search(args, groups, lockstep=True)
        t_seq, r_seq, _, _, tok_seq = search(args, groups, lockstep=False)
    finally:
        verifier.close()
        backend.close()
    roots = sum(len(g) for g in groups)
    print(f"  {roots} roots from {seeds} seeds, {simulations} simulations x {branching} candidates: "
          f"lockstep {r_lock} rollouts, {tok_lock} tokens in {t_lock:.1f} s; one root at a time {r_seq} rollouts, "
          f"{tok_seq} tokens in {t_seq:.1f} s")
    report.info("expand_rollouts_per_s", r_lock / t_lock, roots=roots, simulations=simulations, branching=branching)
    report.info("expand_multi_prompt_call_share", m_lock / c_lock if c_lock else 0.0, backend_calls=c_lock)
    report.info("expand_lockstep_speedup", (r_lock / t_lock) / (r_seq / t_seq) if r_seq and t_seq else 0.0,
                lockstep_tok_s=round(tok_lock / t_lock, 2), sequential_tok_s=round(tok_seq / t_seq, 2))
