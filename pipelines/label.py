"""``reverse-o1 label``: step labels for solutions, as PRM rows (Math-Shepherd and friends).

read (files → records) → seeds (records → unique trajectories) → label (trajectory → PRM row;
each labelling a program on the worker's engine, all rollouts of one prefix in one request and
many trajectories' requests merged into each backend call) → Parquet shards under ``DIR/prm``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

import apache_beam as beam

from generators.backends.handle import BackendHandle
from generators.labelling import BinaryLabeller, LabelSettings, ShepherdLabeller, StepLabeller
from generators.labelling.base import StepLabels
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
from pipelines.stage.program_stage import ProgramStage
from pipelines.trajectories import ToTrajectories
from schemas.ids import content_id
from schemas.records import GeneratorInfo, PRMRow, Trajectory
from verifiers.math_answer import MathVerifier

LABELLERS: dict[str, type[StepLabeller]] = {"shepherd": ShepherdLabeller, "binary": BinaryLabeller}



def label_settings(config: RunConfig) -> LabelSettings:
    return LabelSettings(n=config.n, temperature=config.temperature, max_new_tokens=config.max_new_tokens, seed=config.seed,
                         probe_chunk=config.probe_chunk)


def prm_row_id(trajectory: Trajectory, method: str, settings: LabelSettings, backend: str, model: str) -> str:
    """Deterministic: the same solution, method, sampling settings and model give the same id."""
    content = [trajectory.problem, [s.text for s in trajectory.steps], trajectory.gold_answer]
    if method != "binary":  # only the binary search samples in chunks
        settings = replace(settings, probe_chunk=0)
    return content_id("prm", trajectory.source_kind, trajectory.id, content, method, settings, backend, model)


class LabelFn(ProgramStage):
    """Trajectory → PRM row: every step labelled from rollouts, as a program on the worker's engine
    (all rollouts of one prefix in one request; many trajectories' requests in one backend call)."""

    failure = "label_error"

    def __init__(self, handle: BackendHandle, method: str, settings: LabelSettings, model: ModelSettings,
                 stage: str = "label"):
        super().__init__(stage, handle)
        self.method = method
        self.settings = settings
        self.model = model

    def setup(self) -> None:
        super().setup()
        self.verifier = MathVerifier()

    def preview(self, trajectory: Trajectory) -> str:
        return trajectory.id

    def start(self, trajectory: Trajectory, done: frozenset[str] = frozenset()) -> Any:
        if prm_row_id(trajectory, self.method, self.settings, self.model.backend, self.model.model) in done:
            return RESUMED
        labeller = LABELLERS[self.method](self.engine().backend, self.verifier, self.settings)
        return labeller.program(trajectory)

    def finish(self, trajectory: Trajectory, labels: StepLabels) -> Any:
        self.stat("completions", labels.completions_spent)
        self.stat("rollouts_without_answer", labels.rollouts_without_answer)
        self.stat("generated_tokens", labels.generated_tokens)
        self.stat("steps", len(trajectory.steps))
        self.stat("backend_calls", labels.backend_calls)
        if self.method == "binary":
            self.stat("probes", len(labels.probes))
        generator = GeneratorInfo(self.model.backend, self.engine().backend.model_name, self.settings.temperature,
                                  self.settings.seed, template(self.settings.template).id)
        return PRMRow(
            prompt=trajectory.problem,
            completions=[s.text for s in trajectory.steps],
            labels=labels.hard,
            soft_labels=labels.soft,
            rollouts=labels.rollouts,
            correct_rollouts=labels.correct,
            method=self.method,
            answer_correct=labels.answer_correct,
            id=prm_row_id(trajectory, self.method, self.settings, self.model.backend, self.model.model),
            source_kind=trajectory.source_kind,
            source=trajectory.source,
            generator=generator,
        )

    def teardown(self) -> None:
        self.verifier.close()
        super().teardown()


def build_label(pipeline: beam.Pipeline, config: RunConfig, ctx: RunContext) -> list[beam.PCollection]:
    read = pipeline | "Read" >> ReadRecords(config.input, "read", config.max_record_bytes, config.limit)
    parsed = read["records"] | "Seeds" >> ToTrajectories("seeds")
    screen = parsed["trajectories"] | "Screen" >> screen_for(config, ctx, band=True)
    labelled = screen["kept"] | "Label" >> beam.ParDo(
        LabelFn(ctx.backend, config.method, label_settings(config), model_settings(config)),
        done=ctx.existing("prm"),
    ).with_outputs(DEAD, main="rows")
    _ = labelled.rows | "WritePRM" >> WriteShards(ctx.out_dir, "prm", ctx.run_id, config.rows_per_shard, ctx.split)
    return [read[DEAD], parsed[DEAD], screen[DEAD], labelled[DEAD]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", nargs="+", action="extend", help="seeds JSONL / rows (JSONL, JSON, Parquet), files or dirs")
    parser.add_argument("--method", choices=options.config_literal("method"),
                        help="shepherd: n rollouts from every step; binary: OmegaPRM search for the first wrong step")
    parser.add_argument("--n", type=int, help="completions per probed step (default 8)")
    parser.add_argument("--probe-chunk", dest="probe_chunk", type=int,
                        help="binary: completions per call at a probe, stopping at the first success (default 2)")
    options.band_options(parser)
    options.common(parser)


COMMAND = PipelineCommand(
    name="label",
    help="step labels on solutions (seeds or trajectory rows) -> PRM rows",
    add_arguments=add_arguments,
    build=build_label,
    required=(Requirement(lambda c: bool(c.input), "label needs --input FILE_OR_DIR (or input: in --config)"),),
    # one run name per method, so that both methods can label into one DIR without one run's
    # manifest entries and dead letters replacing the other's
    run_name=lambda c: "label" if c.method == "shepherd" else f"label-{c.method}",
)
