"""How well generated step labels agree with human ones: records in, figures out (no I/O).

A step is compared where the human verdict is ``correct`` or ``wrong`` and the generated hard label
is not null; "wrong" is the positive class (catching bad steps is what a PRM is for). First-error
accuracy follows ProcessBench: the index of the first wrong step, -1 for a correct solution.
Used by ``reverse-o1 eval labels`` and the studio's agreement page, so everything returned is JSON-able.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Z95 = 1.959963984540054  # the normal quantile for a two-sided 95% interval
RESAMPLES = 1000


@dataclass(frozen=True)
class Solution:
    """One generated solution (a PRM row) with the human verdict per step (None: no human label)."""

    row_id: str
    method: str
    model: str
    labels: tuple[bool | None, ...]
    human: tuple[str | None, ...]


@dataclass
class Tally:
    """Step counts of one solution or one group; ``tp``: human wrong and generated False."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    unsure: int = 0
    null: int = 0

    @property
    def compared(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def add(self, other: Tally) -> None:
        for name in ("tp", "fp", "fn", "tn", "unsure", "null"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def vote(verdicts: Iterable[str]) -> str:
    """Several annotators' verdicts on one step: the majority of correct vs wrong; a tie, or more
    than half of the annotators unsure, is unsure (a contested step says nothing about the labeller)."""
    seen = list(verdicts)
    correct, wrong, unsure = seen.count("correct"), seen.count("wrong"), seen.count("unsure")
    if unsure > correct + wrong or correct == wrong:
        return "unsure"
    return "correct" if correct > wrong else "wrong"


def wilson(k: int, n: int, z: float = Z95) -> dict[str, Any]:
    """``k/n`` with its Wilson score interval, which stays inside [0, 1] and is sane for small ``n``."""
    if n == 0:
        return {"value": None, "low": None, "high": None, "k": k, "n": n}
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return {"value": p, "low": max(0.0, centre - half), "high": min(1.0, centre + half), "k": k, "n": n}


def f1_of(tp: int, fp: int, fn: int) -> float | None:
    """F1 on the positive class, None when there is neither a positive nor a predicted positive."""
    return None if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default), ``q`` in [0, 1]."""
    at = q * (len(ordered) - 1)
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def bootstrap_f1(per_solution: list[Tally], resamples: int = RESAMPLES, seed: int = 0) -> tuple[float | None, float | None]:
    """A 95% percentile bootstrap of F1 over solutions: steps of one solution are not independent,
    so solutions are what is resampled. ``random.Random(seed)``: the same input gives the same interval."""
    if not per_solution or f1_of(*_counts(per_solution)) is None:
        return None, None
    rng = random.Random(seed)
    n = len(per_solution)
    values = []
    for _ in range(resamples):
        value = f1_of(*_counts([per_solution[rng.randrange(n)] for _ in range(n)]))
        if value is not None:  # a resample with no positives at all has no F1
            values.append(value)
    values.sort()
    return percentile(values, 0.025), percentile(values, 0.975)


def _counts(tallies: list[Tally]) -> tuple[int, int, int]:
    return sum(t.tp for t in tallies), sum(t.fp for t in tallies), sum(t.fn for t in tallies)


def step_tally(solution: Solution) -> Tally:
    """The confusion counts of one solution's compared steps, and the steps that could not be compared."""
    tally = Tally()
    for verdict, label in zip(solution.human, solution.labels, strict=True):
        if verdict is None:
            continue
        if verdict == "unsure":
            tally.unsure += 1
        elif label is None:
            tally.null += 1
        elif verdict == "wrong":
            tally.tp, tally.fn = tally.tp + (not label), tally.fn + bool(label)
        else:
            tally.fp, tally.tn = tally.fp + (not label), tally.tn + bool(label)
    return tally


def first_errors(solution: Solution) -> tuple[int, int] | None:
    """(human first error, generated first error), -1 for none; None when some step up to the human
    first error (every step, if none) lacks a correct/wrong verdict or a generated label."""
    human = next((i for i, v in enumerate(solution.human) if v == "wrong"), -1)
    upto = len(solution.human) if human < 0 else human + 1
    for i in range(upto):
        if solution.human[i] not in ("correct", "wrong") or solution.labels[i] is None:
            return None
    generated = next((i for i, label in enumerate(solution.labels) if label is False), -1)
    return human, generated


def group_figures(solutions: list[Solution]) -> dict[str, Any]:
    """Every figure of one group of solutions (see the module docstring)."""
    total, per_solution = Tally(), []
    erroneous = [0, 0]  # [agreeing, compared]
    correct = [0, 0]
    skipped = 0
    for solution in solutions:
        tally = step_tally(solution)
        total.add(tally)
        if tally.compared:
            per_solution.append(tally)
        pair = first_errors(solution)
        if pair is None:
            skipped += 1
            continue
        bucket = erroneous if pair[0] >= 0 else correct
        bucket[0] += pair[0] == pair[1]
        bucket[1] += 1
    err, cor = wilson(*erroneous), wilson(*correct)
    if err["value"] is None or cor["value"] is None:
        pb_f1 = None
    else:
        pb_f1 = 0.0 if err["value"] + cor["value"] == 0 else 2 * err["value"] * cor["value"] / (err["value"] + cor["value"])
    low, high = bootstrap_f1(per_solution)
    return {
        "counts": {"rows": len(solutions), "solutions_compared": erroneous[1] + correct[1], "first_error_skipped": skipped,
                   "steps_compared": total.compared, "human_unsure": total.unsure, "generated_null": total.null,
                   "tp": total.tp, "fp": total.fp, "fn": total.fn, "tn": total.tn},
        "step_accuracy": wilson(total.tp + total.tn, total.compared),
        "wrong_steps": {"precision": wilson(total.tp, total.tp + total.fp), "recall": wilson(total.tp, total.tp + total.fn),
                        "f1": {"value": f1_of(total.tp, total.fp, total.fn), "low": low, "high": high,
                               "resamples": RESAMPLES}},
        "first_error": {"erroneous": err, "correct": cor,
                        "overall": wilson(erroneous[0] + correct[0], erroneous[1] + correct[1]), "f1": pb_f1},
    }


def figures(solutions: list[Solution]) -> list[dict[str, Any]]:
    """The figures per (method, generator model), sorted, then the ``all`` group last."""
    groups: dict[tuple[str, str], list[Solution]] = {}
    for solution in solutions:
        groups.setdefault((solution.method, solution.model), []).append(solution)
    out = [{"group": f"{method} / {model}", "method": method, "model": model, **group_figures(members)}
           for (method, model), members in sorted(groups.items())]
    out.append({"group": "all", "method": None, "model": None, **group_figures(solutions)})
    return out


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ci(figure: dict[str, Any]) -> str:
    if figure["value"] is None:
        return "-"
    return f"{_num(figure['value'])} [{_num(figure['low'])}, {_num(figure['high'])}]"


def _frac(figure: dict[str, Any]) -> str:
    return "-" if figure["value"] is None else f"{_ci(figure)} {figure['k']}/{figure['n']}"


def _columns(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
            .rstrip() for r in [header, *rows]]


def format_table(report: dict[str, Any]) -> str:
    """The report for a terminal: one line per group for steps, one for first errors, then what was skipped."""
    groups = report["groups"]
    steps = [[g["group"], str(g["counts"]["rows"]), str(g["counts"]["steps_compared"]), _frac(g["step_accuracy"]),
              _ci(g["wrong_steps"]["precision"]), _ci(g["wrong_steps"]["recall"]), _ci(g["wrong_steps"]["f1"]),
              f"{g['counts']['tp']}/{g['counts']['fp']}/{g['counts']['fn']}/{g['counts']['tn']}",
              str(g["counts"]["human_unsure"]), str(g["counts"]["generated_null"])] for g in groups]
    first = [[g["group"], str(g["counts"]["solutions_compared"]), _frac(g["first_error"]["erroneous"]),
              _frac(g["first_error"]["correct"]), _frac(g["first_error"]["overall"]), _num(g["first_error"]["f1"]),
              str(g["counts"]["first_error_skipped"])] for g in groups]
    lines = [f"human labels: {report['human']} ({report['lines']} lines: {report['used']} used, "
             f"{report['superseded']} superseded, {sum(report['skipped'].values())} skipped); "
             f"PRM rows read: {report['rows_read']}", "", "steps (positive class: wrong; 95% intervals)"]
    lines += _columns(["group", "rows", "steps", "accuracy", "precision", "recall", "F1 (bootstrap)", "TP/FP/FN/TN",
                       "unsure", "null"], steps)
    lines += ["", "first error (ProcessBench)"]
    lines += _columns(["group", "solutions", "erroneous", "correct", "overall", "F1", "skipped"], first)
    if report["skipped"]:
        lines += ["", "skipped: " + ", ".join(f"{reason} {n}" for reason, n in sorted(report["skipped"].items()))]
        lines += [f"  {example}" for example in report["examples"]]
    return "\n".join(lines)
