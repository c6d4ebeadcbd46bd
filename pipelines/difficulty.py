"""``reverse-o1 difficulty``: pass rates per problem, from k solutions sampled from the problem alone.

read (files → records) → seeds (records → unique problems with a gold answer) → difficulty (per
problem one request of k samples, a program on the worker's engine, many problems' requests merged
into each backend call; every final answer checked with math-verify) → one row per problem
(``schemas.arrow.DIFFICULTY_SCHEMA``: ``pass_rate``, unbiased ``pass_at_1``/``pass_at_4``/``pass_at_k``,
``mean_tokens`` and the samples) → Parquet shards under ``DIR/difficulty``, joinable on
``problem_id`` (the seed's id). A row already in DIR (same problem, gold, settings and model) is
resumed. ``export rl`` and ``export orm`` read these rows.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

import apache_beam as beam

from generators.backends.handle import BackendHandle
from generators.difficulty import Samples, SampleSettings, pass_at_k, sample_program
from generators.prompts import template
from pipelines import options
from pipelines.command import PipelineCommand, Requirement
from pipelines.config import RunConfig
from pipelines.io.read import DEAD, ReadRecords
from pipelines.io.shards import WriteShards
from pipelines.runner import RunContext
from pipelines.screen import screen_for
from pipelines.settings import ModelSettings, model_settings
from pipelines.stage.kernel import RESUMED
from pipelines.stage.program_stage import CheckedProgramStage
from pipelines.trajectories import ToTrajectories
from schemas.ids import content_id
from schemas.records import GeneratorInfo, Trajectory

KIND = "difficulty"
PASS_AT = (1, 4)  # pass@j written besides pass@k (a j above k: null)


def sample_settings(config: RunConfig) -> SampleSettings:
    return SampleSettings(k=config.k, temperature=config.temperature, max_new_tokens=config.max_new_tokens, seed=config.seed)


def difficulty_row_id(trajectory: Trajectory, settings: SampleSettings, model: ModelSettings) -> str:
    """Deterministic: the same problem, gold answer, sampling settings (k, seed...), prompt version and model."""
    return content_id(KIND, trajectory.id, trajectory.problem, trajectory.gold_answer, settings,
                      template(settings.template).id, model.backend, model.model)


class DifficultyFn(CheckedProgramStage):
    """Problem → its difficulty row: k samples in one request, as a program on the worker's engine
    (many problems' requests in one backend call), each answer checked against the gold one."""

    failure = "difficulty_error"

    def __init__(self, handle: BackendHandle, settings: SampleSettings, model: ModelSettings, stage: str = KIND):
        super().__init__(stage, handle)
        self.settings = settings
        self.model = model

    def start(self, trajectory: Trajectory, done: frozenset[str] = frozenset()) -> Any:
        if difficulty_row_id(trajectory, self.settings, self.model) in done:
            return RESUMED
        return sample_program(trajectory, self.verifier, self.settings)

    def finish(self, trajectory: Trajectory, samples: Samples) -> dict[str, Any]:
        n, c = len(samples.outcomes), samples.correct
        self.stat("samples", n)
        self.stat("correct", c)
        self.stat("problems_never_solved", int(c == 0))
        self.stat("problems_always_solved", int(n > 0 and c == n))
        self.stat("samples_without_answer", sum(a is None for a in samples.answers))
        self.stat("truncated", sum(samples.truncated))
        self.stat("generated_tokens", sum(samples.tokens))
        s = self.settings
        generator = GeneratorInfo(self.model.backend, self.engine().backend.model_name, s.temperature, s.seed,
                                  template(s.template).id)
        return {
            "id": difficulty_row_id(trajectory, s, self.model), "problem_id": trajectory.id, "problem": trajectory.problem,
            "answer": trajectory.gold_answer, "k": n, "correct": c, "pass_rate": c / n if n else None,
            **{f"pass_at_{j}": pass_at_k(n, c, j) if n else None for j in PASS_AT},
            "pass_at_k": pass_at_k(n, c, n) if n else None,
            "mean_tokens": sum(samples.tokens) / n if n else None,
            "completions": samples.completions, "answers": samples.answers, "outcomes": samples.outcomes,
            "truncated": samples.truncated, "source_kind": trajectory.source_kind, "source": asdict(trajectory.source),
            "generator": asdict(generator),
        }


def build_difficulty(pipeline: beam.Pipeline, config: RunConfig, ctx: RunContext) -> list[beam.PCollection]:
    read = pipeline | "Read" >> ReadRecords(config.input, "read", config.max_record_bytes, config.limit)
    parsed = read["records"] | "Seeds" >> ToTrajectories("seeds")
    screen = parsed["trajectories"] | "Screen" >> screen_for(config, ctx)
    measured = screen["kept"] | "Difficulty" >> beam.ParDo(
        DifficultyFn(ctx.backend, sample_settings(config), model_settings(config)), done=ctx.existing(KIND),
    ).with_outputs(DEAD, main="rows")
    _ = measured.rows | "WriteDifficulty" >> WriteShards(ctx.out_dir, KIND, ctx.run_id, config.rows_per_shard, ctx.split)
    return [read[DEAD], parsed[DEAD], screen[DEAD], measured[DEAD]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", nargs="+", action="extend", help="seeds JSONL / rows (JSONL, JSON, Parquet), files or dirs")
    parser.add_argument("--k", type=int, help="solutions sampled per problem, from the problem alone (default 16)")
    options.common(parser)


COMMAND = PipelineCommand(
    name=KIND,
    help="pass rates per problem (k sampled solutions checked with math-verify) -> difficulty rows",
    add_arguments=add_arguments,
    build=build_difficulty,
    required=(Requirement(lambda c: bool(c.input), "difficulty needs --input FILE_OR_DIR (or input: in --config)"),),
)
