"""``label --method consensus``: Monte Carlo labels and the judge's verdicts on one solution, kept where they agree.

Two stages, each on its own backend handle: ``label`` (the MC labelling, ``--mc-method binary`` by
default or ``shepherd``, on the completer) hands each solution with its labels to ``judge`` (the LLM
judge, ``generators.labelling.judge``), which combines them (``generators.labelling.consensus``): a
step's label is kept where both agree, null where they differ or either has none. A solution whose
first wrong step MC and the judge disagree on is kept so (``--consensus keep-agreeing``, the default)
or filtered ``judge_disagrees`` (``--consensus drop-solution``). Rows: ``method`` "consensus",
``labels`` the agreed ones, ``soft_labels`` the MC values where a label was kept, ``mc_labels`` and
``judge_labels`` both sides, ``agreement``, ``generator`` the completer (its prompt version names
both prompts) and ``judge_model`` the judge. A solution already labelled is resumed at ``label``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import apache_beam as beam

from generators.backends.handle import BackendHandle
from generators.labelling import LabelSettings
from generators.labelling.base import StepLabels
from generators.labelling.consensus import DISAGREES, combine
from generators.labelling.judge import JudgeSettings, JudgeVerdicts, judge_program
from generators.prompts import template
from pipelines.config import RunConfig
from pipelines.io.read import DEAD
from pipelines.label_judge import JudgeStage, judge_handle, judge_model, judge_settings
from pipelines.label_mc import LabelFn, id_settings, label_settings, prm_row, prm_row_id
from pipelines.runner import RunContext
from pipelines.settings import ModelSettings, model_settings
from pipelines.stage.kernel import Filtered
from schemas.records import GeneratorInfo, Trajectory


@dataclass(frozen=True)
class ConsensusSpec:
    """Everything a consensus row depends on, for its id."""

    mc_method: str
    mode: str
    settings: LabelSettings
    judge: JudgeSettings
    model: ModelSettings
    judge_model: ModelSettings

    def row_id(self, trajectory: Trajectory) -> str:
        return prm_row_id(trajectory, "consensus", id_settings(self.settings, self.mc_method), self.model.backend,
                          self.model.model, self.mc_method, self.mode, self.judge, self.judge_model.backend,
                          self.judge_model.model)


def consensus_spec(config: RunConfig) -> ConsensusSpec:
    return ConsensusSpec(config.mc_method or "binary", config.consensus or "keep-agreeing", label_settings(config),
                         judge_settings(config), model_settings(config), judge_model(config))


@dataclass(frozen=True)
class Measured:
    """A solution with its MC labels and who made them, on its way to the judge."""

    trajectory: Trajectory
    labels: StepLabels
    generator: GeneratorInfo

    @property
    def id(self) -> str:
        return self.trajectory.id

    @property
    def ref(self) -> str:
        return self.trajectory.ref


class MonteCarloFn(LabelFn):
    """Trajectory → ``Measured`` (the MC half); a solution whose consensus row exists is resumed here."""

    def __init__(self, handle: BackendHandle, spec: ConsensusSpec, stage: str = "label"):
        super().__init__(handle, spec.mc_method, spec.settings, spec.model, stage)
        self.spec = spec

    def row_id(self, trajectory: Trajectory) -> str:
        return self.spec.row_id(trajectory)

    def finish(self, trajectory: Trajectory, labels: StepLabels) -> Any:
        self.count(trajectory, labels)
        return Measured(trajectory, labels, self.generator())


class ConsensusFn(JudgeStage):
    """``Measured`` → the consensus row, or filtered ``judge_disagrees`` (``drop-solution``)."""

    def __init__(self, handle: BackendHandle, spec: ConsensusSpec, stage: str = "judge"):
        super().__init__(handle, spec.judge, spec.judge_model, stage)
        self.spec = spec

    def preview(self, measured: Measured) -> str:
        return measured.id

    def start(self, measured: Measured) -> Any:
        return judge_program(measured.trajectory, self.settings)

    def finish(self, measured: Measured, verdicts: JudgeVerdicts) -> Any:
        self.count(verdicts)
        mc = measured.labels
        agreed = combine(mc.hard, verdicts.hard)
        self.stat("steps_disagreeing", agreed.disagreeing_steps)
        if not agreed.agrees_on_first_error:
            self.stat("solutions_disagreeing")
            if self.spec.mode == "drop-solution":
                return Filtered(DISAGREES)
        self.stat("steps_labelled", sum(label is not None for label in agreed.labels))
        soft = [p if label is not None else None for label, p in zip(agreed.labels, mc.soft, strict=True)]
        labels = replace(mc, hard=agreed.labels, soft=soft)
        version = f"{measured.generator.prompt_version}+{template(self.settings.template).id}"
        generator = replace(measured.generator, prompt_version=version)
        trajectory = measured.trajectory
        return prm_row(trajectory, self.spec.row_id(trajectory), "consensus", generator, labels, mc_labels=mc.hard,
                       judge_labels=verdicts.hard, agreement=agreed.agreement, judge_model=self.judge_name())


def consensus_stages(solutions: beam.PCollection, config: RunConfig,
                     ctx: RunContext) -> tuple[beam.PCollection, list[Any]]:
    """``label --method consensus``: the rows, and both stages' dead letters."""
    spec = consensus_spec(config)
    measured = solutions | "Label" >> beam.ParDo(MonteCarloFn(ctx.backend, spec), done=ctx.existing("prm")).with_outputs(
        DEAD, main="measured")
    judged = measured.measured | "Judge" >> beam.ParDo(ConsensusFn(judge_handle(config, ctx), spec)).with_outputs(
        DEAD, main="rows")
    return judged.rows, [measured[DEAD], judged[DEAD]]
