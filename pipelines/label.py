"""``reverse-o1 label``: step labels for solutions, as PRM rows (Math-Shepherd and friends).

read (files → records) → seeds (records → unique trajectories) → label (trajectory → PRM row;
each labelling a program on the worker's engine, all rollouts of one prefix in one request and
many trajectories' requests merged into each backend call) → Parquet shards under ``DIR/prm``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import apache_beam as beam

from generators.backends.handle import BackendHandle
from generators.labelling import BinaryLabeller, LabelSettings, ShepherdLabeller, StepLabeller
from generators.labelling.base import StepLabels
from generators.prompts import template
from pipelines.config import RunConfig
from pipelines.io.program_stage import ProgramStage
from pipelines.io.read import DEAD, ReadRecords
from pipelines.io.shards import WriteShards
from pipelines.io.stage import RESUMED
from pipelines.runner import RunContext
from pipelines.settings import ModelSettings, label_settings, model_settings
from pipelines.trajectories import ToTrajectories
from schemas.ids import content_id
from schemas.records import GeneratorInfo, PRMRow, Trajectory
from verifiers.math_answer import MathVerifier

LABELLERS: dict[str, type[StepLabeller]] = {"shepherd": ShepherdLabeller, "binary": BinaryLabeller}


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
    labelled = parsed["trajectories"] | "Label" >> beam.ParDo(
        LabelFn(ctx.backend, config.method, label_settings(config), model_settings(config)),
        done=ctx.existing("prm"),
    ).with_outputs(DEAD, main="rows")
    _ = labelled.rows | "WritePRM" >> WriteShards(ctx.out_dir, "prm", ctx.run_id, config.rows_per_shard, ctx.split)
    return [read[DEAD], parsed[DEAD], labelled[DEAD]]
