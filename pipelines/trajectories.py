"""Inputs to label: seeds (human solutions) or trajectory rows, deduplicated by id.

Stage ``seeds``: every raw record becomes a ``Trajectory`` or a dead letter with the exact
reason (every field problem of a bad seed, a duplicate id with the line of the first). An input
without a gold answer is dead-lettered ``no_gold_answer``, unless the command finds gold answers by
majority vote (``label --gold majority``): then it goes on with ``gold_answer`` None (a seed without
``answer``: its own answer unknown too, read from its last step once the gold is known).
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam

from pipelines.io.read import DEAD, RawRecord
from pipelines.io.unique import KeepFirst
from pipelines.stage.kernel import Pending, Rejected, Stage
from schemas.provenance import source_uri
from schemas.records import SOURCE_FIELDS, Source, Step, Trajectory
from schemas.seeds import SeedError, seed_from_obj


class TrajectoryError(ValueError):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def to_trajectory(record: RawRecord, gold_optional: bool = False) -> Trajectory:
    """A seed line (``id, problem, answer, steps``) or a row with ``source_kind`` (SFT/PRM-like). With
    ``gold_optional``, one without a gold answer has ``gold_answer`` None instead of being an error."""
    value = record.value
    if isinstance(value, dict) and "source_kind" in value:
        return _from_row(value, record, gold_optional)
    unanswered = gold_optional and isinstance(value, dict) and value.get("answer") is None
    if unanswered:  # every other field is checked as any seed's
        value = {**value, "answer": "unknown"}
    try:
        seed = seed_from_obj(value, line=record.order[1], ref=record.ref)
    except SeedError as err:
        raise TrajectoryError(f"invalid_{err.reason.split('[')[0].split('.')[0]}", str(err)) from None
    source = Source(uri=source_uri(record.path), path=record.ref, symbol=seed.id, license=record.license)
    answer = None if unanswered else seed.answer
    return Trajectory(seed.id, seed.problem, seed.steps, answer, answer, "seed", source, record.ref, is_seed=True)


def _from_row(row: dict[str, Any], record: RawRecord, gold_optional: bool = False) -> Trajectory:
    ref = record.ref
    steps = row.get("steps") if "steps" in row else [{"text": t} for t in row.get("completions") or []]
    problem = row.get("problem") or row.get("prompt")
    # a row that names its gold (even as null: ProcessBench items without a reference) never falls back on its own answer
    gold = row["gold_answer"] if "gold_answer" in row else row.get("answer")
    if not isinstance(problem, str) or not problem.strip():
        raise TrajectoryError("invalid_problem", "problem/prompt: missing or not a string")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) and isinstance(s.get("text"), str) for s in steps):
        raise TrajectoryError("invalid_steps", "steps: need a non-empty list of {text, factor}")
    given = gold is not None and bool(str(gold).strip())
    if not given and not gold_optional:
        raise TrajectoryError("no_gold_answer", "gold_answer/answer: missing, cannot label without a gold answer")
    src = row.get("source") if isinstance(row.get("source"), dict) else {}
    fields = {k: src.get(k) if isinstance(src.get(k), str) else None for k in SOURCE_FIELDS}
    # a row names its own source (normalised again: an older row may hold a relative path), else its file does
    fields["uri"] = source_uri(fields["uri"] or record.path)
    fields["path"] = fields["path"] or ref
    fields["license"] = fields["license"] or record.license
    source = Source(**fields)
    kind = row.get("source_kind") if row.get("source_kind") in ("code", "lean", "seed") else "seed"
    return Trajectory(
        id=str(row.get("id") or ref),
        problem=problem.strip(),
        steps=tuple(Step(s["text"], s.get("factor")) for s in steps),
        answer=str(row["answer"]) if row.get("answer") is not None else None,
        gold_answer=str(gold) if given else None,
        source_kind=kind,
        source=source,
        ref=ref,
    )


class ParseFn(Stage):
    """A record → ``(id, (order, Trajectory))``; which of a repeated id goes on is settled by ``KeepFirst``."""

    def __init__(self, stage: str, gold_optional: bool = False):
        super().__init__(stage)
        self.gold_optional = gold_optional

    def run(self, record: RawRecord) -> Any:
        try:
            trajectory = to_trajectory(record, self.gold_optional)
        except TrajectoryError as err:
            return Rejected(err.reason, str(err), record.value)
        return Pending((trajectory.id, (record.order, trajectory)))


class ToTrajectories(beam.PTransform):
    """RawRecords → unique Trajectories (main) and DeadLetters (``dead``: a tuple of collections); with
    ``gold_optional``, inputs without a gold answer go on (``gold_answer`` None) for a majority vote."""

    def __init__(self, stage: str = "seeds", gold_optional: bool = False):
        super().__init__()
        self.stage = stage
        self.gold_optional = gold_optional

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        parsed = records | "Parse" >> beam.ParDo(ParseFn(self.stage, self.gold_optional)).with_outputs(DEAD, main="ok")
        unique = parsed.ok | "Unique" >> KeepFirst(self.stage, dead_letter_duplicates=True, counts_read=False)
        # two collections, each written where it is made (``run_command``): a Flatten would hold them whole first
        return {"trajectories": unique["kept"], DEAD: (parsed[DEAD], unique[DEAD])}
