"""Monte Carlo step labels (``label --method shepherd|binary``, and the MC half of ``consensus``), and
what every PRM row ``label`` writes has in common: its id and its columns.

Each labelling is a program on the worker's engine: all rollouts of one prefix in one request, many
trajectories' requests merged into each backend call.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from generators.backends.handle import BackendHandle
from generators.labelling import BinaryLabeller, LabelSettings, ShepherdLabeller, StepLabeller
from generators.labelling.base import StepLabels
from generators.prompts import template
from pipelines.config import RunConfig
from pipelines.settings import ModelSettings
from pipelines.stage.kernel import RESUMED
from pipelines.stage.program_stage import CheckedProgramStage
from schemas.ids import content_id
from schemas.records import GeneratorInfo, PRMRow, Trajectory

LABELLERS: dict[str, type[StepLabeller]] = {"shepherd": ShepherdLabeller, "binary": BinaryLabeller}


def label_settings(config: RunConfig) -> LabelSettings:
    return LabelSettings(n=config.n, temperature=config.temperature, max_new_tokens=config.max_new_tokens, seed=config.seed,
                         probe_chunk=config.probe_chunk)


def id_settings(settings: LabelSettings, mc_method: str) -> LabelSettings:
    """The settings a row id hashes: only the binary search samples in chunks."""
    return settings if mc_method == "binary" else replace(settings, probe_chunk=0)


def prm_row_id(trajectory: Trajectory, method: str, settings: Any, backend: str, model: str, *more: Any) -> str:
    """Deterministic: the same solution, gold answer, method, settings and model give the same id. A gold
    answer found by majority vote is part of it with its share (``more``: what else the method depends on)."""
    content = [trajectory.problem, [s.text for s in trajectory.steps], trajectory.gold_answer]
    if trajectory.gold_source != "given":
        more = (*more, "gold", trajectory.gold_source, trajectory.gold_share)
    return content_id("prm", trajectory.source_kind, trajectory.id, content, method, settings, backend, model, *more)


def prm_row(trajectory: Trajectory, row_id: str, method: str, generator: GeneratorInfo, labels: StepLabels,
            **columns: Any) -> PRMRow:
    """A PRM row of ``trajectory``: its steps, ``labels`` (hard, soft, rollouts), where its gold came from,
    and the method's own ``columns``."""
    return PRMRow(
        prompt=trajectory.problem,
        completions=[s.text for s in trajectory.steps],
        labels=labels.hard,
        soft_labels=labels.soft,
        rollouts=labels.rollouts,
        correct_rollouts=labels.correct,
        method=method,  # type: ignore[arg-type]
        answer_correct=labels.answer_correct,
        id=row_id,
        source_kind=trajectory.source_kind,
        source=trajectory.source,
        generator=generator,
        gold_answer=trajectory.gold_answer,
        gold_source=trajectory.gold_source,
        gold_share=trajectory.gold_share,
        **columns,
    )


class LabelFn(CheckedProgramStage):
    """Trajectory → PRM row: every step labelled from rollouts, as a program on the worker's engine
    (all rollouts of one prefix in one request; many trajectories' requests in one backend call)."""

    failure = "label_error"

    def __init__(self, handle: BackendHandle, method: str, settings: LabelSettings, model: ModelSettings,
                 stage: str = "label"):
        super().__init__(stage, handle)
        self.method = method
        self.settings = settings
        self.model = model

    def row_id(self, trajectory: Trajectory) -> str:
        return prm_row_id(trajectory, self.method, id_settings(self.settings, self.method), self.model.backend,
                          self.model.model)

    def start(self, trajectory: Trajectory, done: frozenset[str] = frozenset()) -> Any:
        if self.row_id(trajectory) in done:
            return RESUMED
        labeller = LABELLERS[self.method](self.engine().backend, self.verifier, self.settings)
        return labeller.program(trajectory)

    def count(self, trajectory: Trajectory, labels: StepLabels) -> None:
        self.stat("completions", labels.completions_spent)
        self.stat("rollouts_without_answer", labels.rollouts_without_answer)
        self.stat("generated_tokens", labels.generated_tokens)
        self.stat("steps", len(trajectory.steps))
        self.stat("backend_calls", labels.backend_calls)
        if self.method == "binary":
            self.stat("probes", len(labels.probes))

    def generator(self) -> GeneratorInfo:
        return GeneratorInfo(self.model.backend, self.engine().backend.model_name, self.settings.temperature,
                             self.settings.seed, template(self.settings.template).id)

    def finish(self, trajectory: Trajectory, labels: StepLabels) -> Any:
        self.count(trajectory, labels)
        return prm_row(trajectory, self.row_id(trajectory), self.method, self.generator(), labels)
