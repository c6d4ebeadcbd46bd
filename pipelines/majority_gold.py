"""Stage ``gold`` of ``label --gold majority``: a gold answer by majority vote where an input has none.

An input with a gold answer goes on unchanged (``gold_source`` "given"). One without is the program of
``generators.labelling.majority`` on the worker's engine (k solutions sampled from the problem in one
request, their final answers grouped by math-verify equivalence): the majority answer becomes its
``gold_answer`` (``gold_source`` "majority", ``gold_share`` its share of the k samples), or the input is
filtered ``no_consensus_answer``. A seed without an answer gets its own answer from its last step once
the gold is known. The vote is drawn again on a rerun (its seeds make it the same): resuming happens at
the labelling stage, whose row ids hold the gold answer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from generators.backends.handle import BackendHandle
from generators.labelling.majority import NO_CONSENSUS, MajoritySettings, Vote, majority_program
from pipelines.config import RunConfig
from pipelines.stage.kernel import Filtered
from pipelines.stage.program_stage import CheckedProgramStage
from schemas.records import Trajectory


def majority_settings(config: RunConfig) -> MajoritySettings:
    return MajoritySettings(k=config.gold_samples or 8, temperature=config.temperature,
                            max_new_tokens=config.max_new_tokens, seed=config.seed,
                            min_majority=0.5 if config.min_majority is None else config.min_majority)


class MajorityGoldFn(CheckedProgramStage):
    """Trajectory → the same with a gold answer (given, or the majority's), or filtered ``no_consensus_answer``."""

    failure = "gold_error"

    def __init__(self, handle: BackendHandle, settings: MajoritySettings, stage: str = "gold"):
        super().__init__(stage, handle)
        self.settings = settings

    def start(self, trajectory: Trajectory) -> Any:
        if trajectory.gold_answer is not None:
            self.stat("gold_given")
            return trajectory
        return majority_program(trajectory, self.verifier, self.settings)

    def finish(self, trajectory: Trajectory, vote: Vote) -> Any:
        self.stat("gold_samples", len(vote.answers))
        self.stat("samples_without_answer", sum(a is None for a in vote.answers))
        self.stat("generated_tokens", vote.generated_tokens)
        gold = vote.gold
        if gold is None:
            return Filtered(NO_CONSENSUS)
        self.stat("gold_majority")
        answer = trajectory.answer
        if answer is None and trajectory.is_seed:  # a seed's own answer is its last step's
            answer = self.verifier.extract_answer(trajectory.steps[-1].text)
        return replace(trajectory, answer=answer, gold_answer=gold, gold_source="majority", gold_share=vote.share)
