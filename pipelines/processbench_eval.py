"""``eval labels --format processbench --human FILE --data DIR``: generated step labels against ProcessBench's
human first-error index, with ProcessBench's figures (Zheng et al., 2024, arXiv 2412.06559).

Each item (a JSON array or JSONL, ``schemas.processbench``) finds the PRM rows ``label`` made of it
(``seeds import --format processbench``) by problem text and step texts, whitespace aside, as PRM800K
lines do (``eval_inputs.read_rows``): a PRM row's id hashes the run's settings, its text does not. A row's
predicted first error is its first step whose hard label is False, -1 when every label is True. A null
label before the first False (or anywhere, when there is no False) leaves the prediction unknown: the row
is counted ``unmeasured``, apart, and left out of the accuracies (``f1_unmeasured_wrong`` counts it a miss).

Per (method, model) and for ``all``: the accuracy on erroneous items (predicted index = the human one), on
correct items (predicted -1), each with its Wilson interval, and F1 = their harmonic mean with a 95%
percentile bootstrap over items (fixed seed). Every item that cannot be used is counted by reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.errors import ConfigError
from pipelines.agreement import RESAMPLES, _ci, _columns, _frac, _num, percentile, wilson
from pipelines.eval_inputs import Key, SkipLog, norm, read_rows
from schemas.processbench import ProcessBenchError, ProcessBenchItem, item_from_obj

BOOTSTRAP_CHUNK = 100


@dataclass(frozen=True)
class Judged:
    """One PRM row against its item: ``predicted`` None when unmeasured (see the module docstring)."""

    row_id: str
    item_id: str
    method: str
    model: str
    human: int
    predicted: int | None

    @property
    def hit(self) -> bool:
        return self.predicted == self.human


def predicted_first_error(labels: tuple[bool | None, ...]) -> int | None:
    """The first False, -1 when all are True; None when a null comes before the first False (or, with no False, anywhere)."""
    for i, label in enumerate(labels):
        if label is None:
            return None
        if label is False:
            return i
    return -1


def f1_of(erroneous: float | None, correct: float | None) -> float | None:
    """ProcessBench's F1: the harmonic mean of the two accuracies (None unless both are defined)."""
    if erroneous is None or correct is None:
        return None
    return 0.0 if erroneous + correct == 0 else 2 * erroneous * correct / (erroneous + correct)


def _f1_from(judged: list[Judged]) -> float | None:
    err = [j.hit for j in judged if j.human >= 0]
    cor = [j.hit for j in judged if j.human < 0]
    return f1_of(sum(err) / len(err) if err else None, sum(cor) / len(cor) if cor else None)


def bootstrap_f1(measured: list[Judged], resamples: int = RESAMPLES, seed: int = 0) -> tuple[float | None, float | None]:
    """A 95% percentile bootstrap of F1 over items (``numpy``'s generator seeded: the same input, the same
    interval); a resample without an erroneous or without a correct item has no F1 and is left out."""
    import numpy as np

    if _f1_from(measured) is None:
        return None, None
    rng = np.random.default_rng(seed)
    n = len(measured)
    erroneous = np.array([j.human >= 0 for j in measured])
    hit = np.array([j.hit for j in measured])
    values: list[float] = []
    for start in range(0, resamples, BOOTSTRAP_CHUNK):  # a chunk of resamples at a time: n indices each
        picks = rng.integers(0, n, size=(min(BOOTSTRAP_CHUNK, resamples - start), n))
        err_n, err_hit = erroneous[picks].sum(axis=1), (erroneous & hit)[picks].sum(axis=1)
        cor_n, cor_hit = n - err_n, (~erroneous & hit)[picks].sum(axis=1)
        for en, eh, cn, ch in zip(err_n.tolist(), err_hit.tolist(), cor_n.tolist(), cor_hit.tolist(), strict=True):
            if en and cn:
                values.append(f1_of(eh / en, ch / cn) or 0.0)
    values.sort()
    return (percentile(values, 0.025), percentile(values, 0.975)) if values else (None, None)


def group_figures(judged: list[Judged]) -> dict[str, Any]:
    measured = [j for j in judged if j.predicted is not None]
    err = [j for j in measured if j.human >= 0]
    cor = [j for j in measured if j.human < 0]
    erroneous, correct = wilson(sum(j.hit for j in err), len(err)), wilson(sum(j.hit for j in cor), len(cor))
    unmeasured_err = sum(1 for j in judged if j.predicted is None and j.human >= 0)
    unmeasured_cor = sum(1 for j in judged if j.predicted is None and j.human < 0)
    low, high = bootstrap_f1(measured)
    strict_err = erroneous["k"] / (len(err) + unmeasured_err) if err or unmeasured_err else None
    strict_cor = correct["k"] / (len(cor) + unmeasured_cor) if cor or unmeasured_cor else None
    return {
        "counts": {"rows": len(judged), "measured": len(measured), "erroneous": len(err), "correct": len(cor),
                   "unmeasured_erroneous": unmeasured_err, "unmeasured_correct": unmeasured_cor},
        "erroneous": erroneous, "correct": correct,
        "f1": {"value": f1_of(erroneous["value"], correct["value"]), "low": low, "high": high, "resamples": RESAMPLES},
        "f1_unmeasured_wrong": f1_of(strict_err, strict_cor),
    }


def figures(judged: list[Judged]) -> list[dict[str, Any]]:
    """The figures per (method, generator model), sorted, then ``all``."""
    groups: dict[tuple[str, str], list[Judged]] = {}
    for j in judged:
        groups.setdefault((j.method, j.model), []).append(j)
    out = [{"group": f"{method} / {model}", "method": method, "model": model, **group_figures(members)}
           for (method, model), members in sorted(groups.items())]
    out.append({"group": "all", "method": None, "model": None, **group_figures(judged)})
    return out


@dataclass
class ItemsFile(SkipLog):
    """What a ProcessBench file held: the kept items, where each was (``:LINE`` or ``#INDEX``), their keys."""

    items: list[ProcessBenchItem] = field(default_factory=list)
    where: dict[str, tuple[int, str]] = field(default_factory=dict)  # id -> (order, where)
    keys: dict[str, Key] = field(default_factory=dict)


def read_items(path: str) -> ItemsFile:
    """Every item of ``path`` checked, or counted by reason (``bad_field:NAME``, ``duplicate_id``,
    ``duplicate_item``: the same problem and steps as an earlier item)."""
    from pipelines.io import fs  # imports Beam: only when the command runs, not for --help
    from pipelines.processbench import read_entries

    if not fs.exists(path):
        raise ConfigError(f"--human {path}: no such file")
    out, taken = ItemsFile(path), set()
    try:
        with fs.open_read(path) as handle:
            for order, entry in enumerate(read_entries(handle, f"--human {path}")):
                out.lines += 1
                if entry.error:
                    out.skip(order, entry.error.reason, entry.error.detail, entry.where)
                    continue
                try:
                    item = item_from_obj(entry.value)
                except ProcessBenchError as exc:
                    out.skip(order, f"bad_field:{exc.field.split('[')[0]}", str(exc), entry.where)
                    continue
                key = (norm(item.problem), tuple(norm(s) for s in item.steps))
                if item.id in out.keys or key in taken:
                    out.skip(order, "duplicate_id" if item.id in out.keys else "duplicate_item", item.id, entry.where)
                    continue
                taken.add(key)
                out.items.append(item)
                out.where[item.id], out.keys[item.id] = (order, entry.where), key
    except OSError as exc:
        raise ConfigError(f"--human {path}: cannot read it ({exc.strerror or exc})".splitlines()[0]) from None
    return out


def processbench_report(human_path: str, data_dirs: list[str]) -> dict[str, Any]:
    """The whole evaluation as a JSON-able dict (what ``--json`` writes), with every row's prediction."""
    if not data_dirs:
        raise ConfigError("--data: give at least one folder with PRM shards")
    human = read_items(human_path)
    rows_read, _, by_key = read_rows(data_dirs, set(), set(human.keys.values()))
    judged: list[Judged] = []
    for item in human.items:
        matched = by_key.get(human.keys[item.id], [])
        if not matched:
            order, where = human.where[item.id]
            human.skip(order, "no_rows_matched", f"{item.id}: no PRM row has this problem and these steps", where)
        judged += [Judged(r.id, item.id, r.method, r.model, item.label, predicted_first_error(r.labels)) for r in matched]
    used = len({j.item_id for j in judged})
    return {
        "human": human_path, "data": list(data_dirs), "format": "processbench", "lines": human.lines, "used": used,
        "rows_read": rows_read, "skipped": dict(sorted(human.skipped.items())), "examples": human.examples,
        "groups": figures(judged),
        "predictions": [{"item": j.item_id, "row_id": j.row_id, "method": j.method, "model": j.model, "label": j.human,
                         "predicted": j.predicted} for j in judged],
    }


def format_table(report: dict[str, Any]) -> str:
    """One line per group: the two accuracies (95% Wilson), F1 (95% bootstrap), the unmeasured rows."""
    rows = [[g["group"], str(g["counts"]["rows"]), _frac(g["erroneous"]), _frac(g["correct"]), _ci(g["f1"]),
             f"{g['counts']['unmeasured_erroneous']}/{g['counts']['unmeasured_correct']}", _num(g["f1_unmeasured_wrong"])]
            for g in report["groups"]]
    lines = [f"ProcessBench items: {report['human']} ({report['lines']} items: {report['used']} used, "
             f"{sum(report['skipped'].values())} skipped); PRM rows read: {report['rows_read']}", "",
             "ProcessBench first error: accuracy on erroneous and on correct solutions, F1 their harmonic mean "
             "(95% intervals: Wilson; F1 bootstrap over items)"]
    lines += _columns(["group", "rows", "erroneous", "correct", "F1", "unmeasured err/cor", "F1 unmeasured=miss"], rows)
    if report["skipped"]:
        lines += ["", "skipped: " + ", ".join(f"{reason} {n}" for reason, n in sorted(report["skipped"].items()))]
        lines += [f"  {example}" for example in report["examples"]]
    return "\n".join(lines)
