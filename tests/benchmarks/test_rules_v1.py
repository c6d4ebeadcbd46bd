"""``benchmarks.rules_v1`` is a frozen copy of the pre-issue-14 tagger: it imports nothing of the live
tagger's, and its figures on both labelled parts stay those it had when it was frozen."""

from __future__ import annotations

import ast
from pathlib import Path

from benchmarks.rules_v1 import RuleTaggerV1
from benchmarks.tagging_accuracy import DEV, HELDOUT, load_chains, predictions
from schemas.factors import load_factors

SOURCE = Path(__file__).resolve().parents[2] / "benchmarks" / "rules_v1.py"
ALLOWED = {"__future__", "re", "collections.abc", "dataclasses", "generators.tagging.base", "schemas.factors",
           "schemas.records"}


def test_it_imports_only_stable_public_records() -> None:
    tree = ast.parse(SOURCE.read_text(encoding="utf-8"))
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert modules <= ALLOWED, modules - ALLOWED


def test_its_figures_are_the_frozen_ones() -> None:
    tagger = RuleTaggerV1(load_factors())
    for path, right, steps in ((HELDOUT, 140, 173), (DEV, 138, 161)):  # 0.809 and 0.857
        rows = predictions(tagger, load_chains(path))
        assert (sum(gold == predicted for _, gold, predicted in rows), len(rows)) == (right, steps)
