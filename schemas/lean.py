"""Lean theorem records: what every Lean reader produces and the Lean CoT generators consume.

Three input shapes meet here: LeanDojo Benchmark JSON (traced tactics with their goal states),
whole-proof JSONL in the miniF2F shape (a statement and a tactic proof, no states), and a repo
traced by ``lean_dojo`` on disk. States are None where the shape has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LeanShape = Literal["leandojo", "whole_proof", "traced_repo"]


@dataclass(frozen=True)
class LeanTactic:
    """One tactic of a proof; ``annotated`` is the tactic with ``<a>premise</a>`` marks, when known."""

    tactic: str
    state_before: str | None = None
    state_after: str | None = None
    annotated: str | None = None
    premises: tuple[str, ...] = ()  # full names of the premises the tactic uses, when known


@dataclass(frozen=True)
class LeanTheorem:
    """A theorem and its ground-truth proof, with where it came from."""

    full_name: str
    tactics: tuple[LeanTactic, ...]
    shape: LeanShape
    url: str  # repository URL (or file:// URI of the input file)
    commit: str | None = None
    file_path: str | None = None
    start: tuple[int, int] | None = None  # (line, column) of the theorem in its file
    end: tuple[int, int] | None = None
    formal_statement: str | None = None  # Lean source of the statement, when the input has it
    informal_statement: str | None = None  # natural-language statement (miniF2F informal_prefix)
    informal_solution: str | None = None  # a leading /- ... -/ comment of a whole proof
    proof: str | None = None  # the whole tactic proof as written (whole-proof shape)
    license: str | None = None  # the traced repository's (see schemas.records.Source)
    dataset_license: str | None = None  # the input file's, e.g. LeanDojo Benchmark's CC-BY-2.0
    ref: str = ""  # FILE:LINE or FILE#INDEX it was read from
