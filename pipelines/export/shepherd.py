"""``reverse-o1 export math-shepherd DIR``: the PRM shards as Math-Shepherd JSONL.

One line per PRM row, in the format of ``peiyi9979/Math-Shepherd``:
``input`` = "PROBLEM Step 1: TEXT ки\\nStep 2: TEXT ки", ``label`` = the same text with each
`` ки`` replaced by `` +`` (good step) or `` -`` (bad step), and ``task`` (``--task``).

Readers find step scores by the "ки" tag and split steps at "ки\\n", so the text around must not
fake either: an "ки" inside a problem or a step (Cyrillic words hold it) gets a word joiner
(U+2060) between its letters, invisible when shown, and a step's internal line breaks become
single spaces (one step per line, as in Math-Shepherd). Only rows of the chosen methods (``--method``,
default ``shepherd,binary``) are written; a row with a step nothing measured (a null label) is
dropped or cut before that step (``--unmeasured``; ``pipelines.export.measured``), never filled in.
Rows that can't be written faithfully (no labels, as many labels as steps not, no steps, a repeated
id) are left out too; stderr says how many rows were read, written, cut and left out by reason,
and how many of each method were written. The file is written to a temporary name and renamed,
so it is whole or absent.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from pipelines.export import files as exports
from pipelines.export.measured import Selection, Tally, select
from pipelines.io import fs
from schemas.math_shepherd import shepherd_input, shepherd_label

COLUMNS = ["id", "prompt", "completions", "labels"]  # required; ``method`` is read where a shard has it
# the methods whose labels are fractions of independent completions (consensus: those a judge agreed with)
MEASURED = ("shepherd", "binary", "consensus")
def to_math_shepherd(problem: str, steps: list[str], labels: list[bool], task: str) -> dict[str, str]:
    """One Math-Shepherd record (``schemas.math_shepherd``); ``labels`` has one bool per step."""
    return {"input": shepherd_input(problem, steps), "label": shepherd_label(problem, steps, labels), "task": task}


def _shards(out_dir: str) -> list[str]:
    """The PRM shards, each checked by its footer before anything is written (``exports.checked_shards``)."""
    return exports.checked_shards(out_dir, "prm", COLUMNS, "run `reverse-o1 label` or `expand` into it first")


def _rows(shards: list[str]) -> Iterator[dict[str, Any]]:
    for _split, row in exports.rows_with_split(shards, "prm", COLUMNS, optional=("method",)):
        yield row


def _write(rows: Iterator[dict[str, Any]], handle: TextIO, task: str, selection: Selection, tally: Tally) -> int:
    seen: set[str] = set()
    written = 0
    for row in rows:
        chosen = select(row, selection, seen, tally)
        if chosen is None:
            continue
        kept, labels = chosen
        record = to_math_shepherd(kept["prompt"], [s or "" for s in kept["completions"]], labels, task)
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        written += 1
    return written


def export_math_shepherd(out_dir: str, output: str | None, task: str, methods: tuple[str, ...] = MEASURED,
                         unmeasured: str = "drop") -> int:
    """Write DIR's PRM rows of ``methods`` as Math-Shepherd JSONL to ``output`` (default DIR/math_shepherd.jsonl,
    - for stdout); rows with a null label dropped or cut (``unmeasured``, ``pipelines.export.measured``)."""
    selection = Selection(tuple(methods), unmeasured)
    shards = _shards(out_dir)
    target = output or fs.join(out_dir, "math_shepherd.jsonl")
    tally = Tally()
    if target == "-":
        written = _write(_rows(shards), sys.stdout, task, selection, tally)
        sys.stdout.flush()
    else:
        with fs.open_write(target) as raw:
            handle = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
            written = _write(_rows(shards), handle, task, selection, tally)
            handle.flush()
            handle.detach()  # the file is closed (and renamed into place) by open_write
    where = "stdout" if target == "-" else target
    print(f"export math-shepherd: {written} rows of {tally.read} from {len(shards)} shards -> {where} "
          f"(--method {','.join(selection.methods)}, --unmeasured {unmeasured}); {tally.notes()}", file=sys.stderr)
    return 0
