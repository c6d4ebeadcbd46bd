"""``reverse-o1 expand``: MCTS from every cut of human-annotated solutions → SFT and PRM rows.

read → seeds (unique, valid) → expand (one seed's cuts searched in lockstep; every complete
trajectory becomes an SFT row, verified or not, and a PRM row with ``method=mcts``) → tag
(thought factors, rendered messages) → Parquet shards under ``DIR/sft`` and ``DIR/prm``.

Resume works per seed: after searching a seed, the ids of its rows are recorded under
``DIR/.state/expand/``; a rerun skips a seed whose recorded rows are all on disk.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from generators.backends.model_handler import LLMModelHandler, SharedBackend
from generators.search import MCTSExpander, MCTSSettings, SearchRoot, trajectory_labels
from generators.search.mcts import Found, SearchResult
from pipelines.config import RunConfig
from pipelines.io import fs
from pipelines.io.counters import StageCounters
from pipelines.io.dead_letter import DeadLetter
from pipelines.io.read import DEAD, ReadRecords
from pipelines.io.shards import WriteShards
from pipelines.progress import Progress
from pipelines.runner import RunContext
from pipelines.tagging import TagSFTRows
from pipelines.trajectories import ToTrajectories
from schemas.factors import FactorVocabulary, load_factors
from schemas.ids import content_id
from schemas.records import GeneratorInfo, PRMRow, SFTRow, Trajectory

STATE_DIR = ".state/expand"
PRM = "prm"


def cut_points(n_steps: int, cuts: str, key: str) -> list[int]:
    """Prefix lengths to search from: each boundary between human steps (the problem alone
    for a one-step seed); ``first`` keeps the first, ``random:K`` K of them, seeded by ``key``."""
    boundaries = list(range(1, n_steps)) or [0]
    if cuts == "all":
        return boundaries
    if cuts == "first":
        return boundaries[:1]
    k = int(cuts.split(":", 1)[1])
    rng = random.Random(int(content_id("cuts", key, length=8), 16))
    return sorted(rng.sample(boundaries, min(k, len(boundaries))))


def mcts_settings(config: RunConfig, vocabulary: FactorVocabulary) -> MCTSSettings:
    factors: tuple[tuple[str, str], ...] = ()
    if config.factor_actions:
        factors = tuple((f.name, f.description) for f in vocabulary.factors)
    return MCTSSettings(
        simulations=config.simulations, branching=config.branching, c_puct=config.c_puct, max_depth=config.max_depth,
        temperature=config.temperature, step_tokens=min(64, config.max_new_tokens), rollout_tokens=config.max_new_tokens,
        seed=config.seed, factors=factors,
    )


class ExpandFn(beam.DoFn):
    """Searches one seed (all its cuts together); SFT rows on the main output, PRM rows on ``prm``."""

    def __init__(self, handle: SharedBackend, config: RunConfig, out_dir: str, stage: str = "expand"):
        self.handle = handle
        self.config = config
        vocabulary = load_factors(config.factors)  # a bad --factors file fails here, before any work
        self.settings = mcts_settings(config, vocabulary)
        self.factor_names = frozenset(vocabulary.names)
        self.out_dir = out_dir
        self.stage = stage
        self.counters = StageCounters(stage)
        self.found_counters = StageCounters("trajectories")

    def setup(self) -> None:
        from verifiers.math_answer import MathVerifier

        self.verifier = MathVerifier()
        self.progress = Progress("expand (mcts)", unit="seed")

    def _state_path(self, key: str) -> str:
        return fs.join(self.out_dir, STATE_DIR, f"{key}.json")

    def _already_done(self, key: str, existing: dict[str, frozenset[str]]) -> bool:
        """The seed's search finished in an earlier run and all its rows are in the shards."""
        path = self._state_path(key)
        try:
            state = fs.read_json(path) if fs.exists(path) else None
        except (OSError, ValueError):
            return False
        return isinstance(state, dict) and all(set(state.get(kind, [])) <= existing[kind] for kind in ("sft", "prm"))

    def process(self, seed: Trajectory, sft_done: frozenset[str] = frozenset(),
                prm_done: frozenset[str] = frozenset()) -> Iterator[Any]:
        existing = {"sft": sft_done, "prm": prm_done}
        self.counters.read()
        cuts = cut_points(len(seed.steps), self.config.cuts, f"{self.config.seed}:{seed.id}")
        model = self.config.model_label()
        key = content_id("expand", seed.id, seed.problem, [s.text for s in seed.steps], seed.gold_answer, cuts,
                         self.settings, self.config.backend, model)
        if self._already_done(key, existing):
            self.counters.resumed()
            return
        unknown = sorted({s.factor for s in seed.steps if s.factor and s.factor not in self.factor_names})
        if unknown:  # caught before the search: its SFT rows could not be tagged
            self.counters.dead_lettered()
            error = f"step factors {unknown} are not in the vocabulary ({', '.join(sorted(self.factor_names))})"
            yield beam.pvalue.TaggedOutput(DEAD, DeadLetter.of(self.stage, "unknown_factor", seed.ref, error, seed.id))
            return
        roots = [SearchRoot(f"{seed.id}#cut{c}", seed.problem, seed.gold_answer, seed.steps[:c]) for c in cuts]
        try:
            backend = self.handle.get()
            expander = MCTSExpander(backend, self.verifier, self.settings)
            results = expander.run(roots)
        except Exception as exc:  # one bad seed must not stop the run
            self.counters.dead_lettered()
            yield beam.pvalue.TaggedOutput(DEAD, DeadLetter.of_failure(self.stage, exc, seed.ref, seed.id, "search_error"))
            return
        generator = GeneratorInfo(self.config.backend, backend.model_name, self.settings.temperature,
                                  self.settings.seed, self.settings.prompt_version)
        sft, prm = self._rows(seed, cuts, roots, results, generator)
        self._record(key, sft, prm)
        self.counters.written()
        self._stats(expander, results)
        self.progress.update()
        yield from (row for row in sft if row.id not in sft_done)
        for row in prm:
            if row["id"] not in prm_done:
                yield beam.pvalue.TaggedOutput(PRM, row)

    def _rows(self, seed: Trajectory, cuts: list[int], roots: list[SearchRoot], results: list[SearchResult],
              generator: GeneratorInfo) -> tuple[list[SFTRow], list[dict[str, Any]]]:
        sft: list[SFTRow] = []
        prm: list[dict[str, Any]] = []
        seen: set[str] = set()
        for cut, root, result in zip(cuts, roots, results, strict=True):
            self.found_counters.read(len(result.found) + result.no_answer)
            self.found_counters.filtered("no_final_answer", result.no_answer)
            for found in result.found:
                steps = list(root.prefix) + found.steps()
                content = [seed.problem, [(s.text, s.factor) for s in steps], found.answer]
                ident = content_id("mcts", seed.source_kind, seed.id, content, self.settings, generator.model)
                if ident in seen:  # two paths of the tree reached the same text
                    self.found_counters.filtered("duplicate_trajectory")
                    continue
                seen.add(ident)
                self.found_counters.written()
                sft.append(self._sft_row(seed, steps, found, ident, generator))
                prm.append(self._prm_row(seed, steps, cut, result, found, ident, generator))
        return sft, prm

    def _sft_row(self, seed: Trajectory, steps: list, found: Found, ident: str, generator: GeneratorInfo) -> SFTRow:
        detail = f"{found.status}: {found.detail}".strip(": ") if found.detail else found.status
        return SFTRow(
            id=content_id("sft", ident), source_kind=seed.source_kind, source=seed.source, problem=seed.problem,
            steps=steps, answer=found.answer, messages=[], verified=found.correct, verifier="math-verify",
            verifier_detail=detail, generator=generator,
        )

    def _prm_row(self, seed: Trajectory, steps: list, cut: int, result: SearchResult, found: Found, ident: str,
                 generator: GeneratorInfo) -> dict[str, Any]:
        labels = trajectory_labels(cut, result.root, found)
        return PRMRow(
            prompt=seed.problem, completions=[s.text for s in steps], labels=labels.hard, soft_labels=labels.soft,
            rollouts=labels.rollouts, correct_rollouts=labels.correct, method="mcts", answer_correct=found.correct,
            id=content_id("prm", ident), source_kind=seed.source_kind, source=seed.source, generator=generator,
        ).to_dict()

    def _record(self, key: str, sft: list[SFTRow], prm: list[dict[str, Any]]) -> None:
        state = json.dumps({"sft": sorted(r.id for r in sft), "prm": sorted(r["id"] for r in prm)})
        fs.write_text(self._state_path(key), state, self.out_dir)

    def _stats(self, expander: MCTSExpander, results: list[SearchResult]) -> None:
        for name, value in dataclasses.asdict(expander.stats).items():
            self.counters.extra(name, value)
        self.counters.extra("roots", len(results))
        self.counters.extra("verified_trajectories", sum(f.correct for r in results for f in r.found))

    def teardown(self) -> None:
        self.verifier.close()
        self.progress.close()


def build_expand(pipeline: beam.Pipeline, config: RunConfig, ctx: RunContext) -> list[beam.PCollection]:
    if not config.input:
        raise ValueError("expand needs --seeds FILE.jsonl")
    read = pipeline | "Read" >> ReadRecords(config.input, "read", config.max_record_bytes, config.limit)
    seeds = read["records"] | "Seeds" >> ToTrajectories("seeds")
    handle = SharedBackend(LLMModelHandler(config.backend_config()))
    searched = seeds["trajectories"] | "Expand" >> beam.ParDo(
        ExpandFn(handle, config, ctx.out_dir), sft_done=ctx.existing("sft"), prm_done=ctx.existing("prm"),
    ).with_outputs(DEAD, PRM, main="sft")
    tagged = searched.sft | "Tag" >> TagSFTRows(config, handle=handle)
    _ = tagged["rows"] | "WriteSFT" >> WriteShards(ctx.out_dir, "sft", ctx.run_id, config.rows_per_shard)
    _ = searched[PRM] | "WritePRM" >> WriteShards(ctx.out_dir, "prm", ctx.run_id, config.rows_per_shard)
    return [read[DEAD], seeds[DEAD], searched[DEAD], tagged[DEAD]]
