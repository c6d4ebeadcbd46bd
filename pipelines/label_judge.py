"""``label --method judge``: an LLM judge's verdict on every step (``generators.labelling.judge``), as PRM rows.

The judge may be another model than the completer (``--judge-model``, ``--judge-base-url``): a second
backend handle, built only where its config differs from the completer's (else the run's one handle,
so a local model is never loaded twice). Rows: ``method`` "judge", ``labels`` and ``judge_labels`` the
verdicts (null after the first step judged wrong), ``soft_labels`` P(correct) from log-probs or null,
``generator`` and ``judge_model`` the judge. ``answer_correct`` is still the solution's answer checked
against the gold one (the judge never sees it).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import apache_beam as beam

from generators.backends.handle import BackendHandle
from generators.labelling.base import StepLabels, answer_correct
from generators.labelling.judge import JudgeSettings, JudgeVerdicts, judge_program
from generators.prompts import template
from pipelines.config import RunConfig
from pipelines.io.read import DEAD
from pipelines.label_mc import prm_row, prm_row_id
from pipelines.runner import RunContext
from pipelines.settings import ModelSettings, backend_config
from pipelines.stage.kernel import RESUMED
from pipelines.stage.program_stage import CheckedProgramStage, ProgramStage
from schemas.records import GeneratorInfo, Trajectory


def judge_settings(config: RunConfig) -> JudgeSettings:
    return JudgeSettings(max_new_tokens=config.max_new_tokens, seed=config.seed)


def judge_model(config: RunConfig) -> ModelSettings:
    """The judge's backend and model as rows record them and ids hash them."""
    return ModelSettings(config.backend, config.judge_model or config.model_label())


def judge_handle(config: RunConfig, ctx: RunContext) -> BackendHandle:
    """The judge's backend: the completer's model and server unless ``--judge-model``/``--judge-base-url`` say others."""
    judge = replace(backend_config(config), model=config.judge_model or config.model,
                    base_url=config.judge_base_url or config.base_url)
    return ctx.backend if judge == ctx.backend.config else BackendHandle(judge)


def judged_labels(trajectory: Trajectory, verdicts: JudgeVerdicts, correct: bool) -> StepLabels:
    """The verdicts as a row's labels: no rollout was spent on any step."""
    m = len(trajectory.steps)
    return StepLabels(hard=verdicts.hard, soft=verdicts.soft, rollouts=[0] * m, correct=[0] * m, answer_correct=correct)


class JudgeStage(ProgramStage):
    """What the judge stages share: the program, the counts, the judge's name."""

    failure = "judge_error"

    def __init__(self, handle: BackendHandle, settings: JudgeSettings, model: ModelSettings, stage: str):
        super().__init__(stage, handle)
        self.settings = settings
        self.model = model

    def count(self, verdicts: JudgeVerdicts) -> None:
        self.stat("judged_steps", len(verdicts.replies))
        self.stat("judge_unparsed", verdicts.unparsed)
        self.stat("judge_soft", sum(p is not None for p in verdicts.soft))
        self.stat("judge_generated_tokens", verdicts.generated_tokens)
        self.stat("judge_backend_calls", verdicts.backend_calls)

    def judge_name(self) -> str:
        return self.engine().backend.model_name


class JudgeFn(JudgeStage, CheckedProgramStage):
    """Trajectory → PRM row of the judge's verdicts (``label --method judge``)."""

    def __init__(self, handle: BackendHandle, settings: JudgeSettings, model: ModelSettings, stage: str = "label"):
        super().__init__(handle, settings, model, stage)

    def row_id(self, trajectory: Trajectory) -> str:
        return prm_row_id(trajectory, "judge", self.settings, self.model.backend, self.model.model)

    def start(self, trajectory: Trajectory, done: frozenset[str] = frozenset()) -> Any:
        if self.row_id(trajectory) in done:
            return RESUMED
        return judge_program(trajectory, self.settings)

    def finish(self, trajectory: Trajectory, verdicts: JudgeVerdicts) -> Any:
        self.count(verdicts)
        generator = GeneratorInfo(self.model.backend, self.judge_name(), 0.0, self.settings.seed,
                                  template(self.settings.template).id)
        labels = judged_labels(trajectory, verdicts, answer_correct(self.verifier, trajectory))
        return prm_row(trajectory, self.row_id(trajectory), "judge", generator, labels, judge_labels=verdicts.hard,
                       judge_model=self.judge_name())


def judge_stage(solutions: beam.PCollection, config: RunConfig, ctx: RunContext) -> tuple[beam.PCollection, list[Any]]:
    """``label --method judge``: the rows, and the stage's dead letters."""
    judged = solutions | "Judge" >> beam.ParDo(
        JudgeFn(judge_handle(config, ctx), judge_settings(config), judge_model(config)), done=ctx.existing("prm"),
    ).with_outputs(DEAD, main="rows")
    return judged.rows, [judged[DEAD]]
