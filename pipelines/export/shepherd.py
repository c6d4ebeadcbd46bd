"""``reverse-o1 export math-shepherd DIR``: the PRM shards as Math-Shepherd JSONL.

One line per PRM row, in the format of ``peiyi9979/Math-Shepherd``:
``input`` = "PROBLEM Step 1: TEXT ки\\nStep 2: TEXT ки", ``label`` = the same text with each
`` ки`` replaced by `` +`` (good step) or `` -`` (bad step), and ``task`` (``--task``).

Readers find step scores by the "ки" tag and split steps at "ки\\n", so the text around must not
fake either: an "ки" inside a problem or a step (Cyrillic words hold it) gets a word joiner
(U+2060) between its letters, invisible when shown, and a step's internal line breaks become
single spaces (one step per line, as in Math-Shepherd). Rows that can't be written faithfully
(null labels, as many labels as steps not, no steps, a repeated id) are skipped and counted on
stderr. The file is written to a temporary name and renamed, so it is whole or absent.
"""

from __future__ import annotations

import collections
import io
import json
import re
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from pipelines.export import files as exports
from pipelines.io import fs

TAG = "ки"
SAFE_TAG = "к\u2060и"
COLUMNS = ["id", "prompt", "completions", "labels"]
_LINE_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029\x85\x0b\x0c]+\s*")


def _safe(text: str) -> str:
    return text.replace(TAG, SAFE_TAG)


def _one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", _safe(text)).strip()


def to_math_shepherd(problem: str, steps: list[str], labels: list[bool], task: str) -> dict[str, str]:
    """One Math-Shepherd record; ``labels`` has one bool per step."""
    head = _safe(problem).strip()
    lines = [f"Step {i}: {_one_line(text)}".rstrip() for i, text in enumerate(steps, 1)]
    tagged = "\n".join(f"{line} {TAG}" for line in lines)
    marked = "\n".join(f"{line} {'+' if ok else '-'}" for line, ok in zip(lines, labels, strict=True))
    return {"input": f"{head} {tagged}", "label": f"{head} {marked}", "task": task}


def _shards(out_dir: str) -> list[str]:
    """The PRM shards, each checked by its footer before anything is written (``exports.checked_shards``)."""
    return exports.checked_shards(out_dir, "prm", COLUMNS, "run `reverse-o1 label` or `expand` into it first")


def _rows(shards: list[str]) -> Iterator[dict[str, Any]]:
    for _split, row in exports.rows_with_split(shards, "prm", COLUMNS):
        yield row


def skip_reason(row: dict[str, Any], seen: set[str]) -> str | None:
    steps, labels = row.get("completions"), row.get("labels")
    if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
        return "no_problem"
    if not steps:
        return "no_steps"
    if labels is None or any(x is None for x in labels):
        return "unlabelled"
    if len(labels) != len(steps):
        return "length_mismatch"
    if row.get("id") in seen:
        return "duplicate_id"
    return None


def _write(rows: Iterator[dict[str, Any]], handle: TextIO, task: str, skipped: collections.Counter[str]) -> int:
    seen: set[str] = set()
    written = 0
    for row in rows:
        reason = skip_reason(row, seen)
        if reason:
            skipped[reason] += 1
            continue
        seen.add(row["id"])
        record = to_math_shepherd(row["prompt"], [s or "" for s in row["completions"]], row["labels"], task)
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        written += 1
    return written


def export_math_shepherd(out_dir: str, output: str | None, task: str) -> int:
    """Write DIR's PRM rows as Math-Shepherd JSONL to ``output`` (default DIR/math_shepherd.jsonl, - for stdout)."""
    shards = _shards(out_dir)
    target = output or fs.join(out_dir, "math_shepherd.jsonl")
    skipped: collections.Counter[str] = collections.Counter()
    if target == "-":
        written = _write(_rows(shards), sys.stdout, task, skipped)
        sys.stdout.flush()
    else:
        with fs.open_write(target) as raw:
            handle = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
            written = _write(_rows(shards), handle, task, skipped)
            handle.flush()
            handle.detach()  # the file is closed (and renamed into place) by open_write
    detail = ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items()))
    where = "stdout" if target == "-" else target
    print(f"export math-shepherd: {written} rows from {len(shards)} shards -> {where}"
          + (f"; skipped {sum(skipped.values())} ({detail})" if skipped else ""), file=sys.stderr)
    return 0
