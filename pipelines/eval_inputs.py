"""What ``eval labels`` reads: human-label files line by line and the PRM rows they name.

A file is read in capped lines (``capped_lines``: a line over the cap is never held whole), each decoded
or a ``LineError`` with the reason it is counted under (``HumanFile``: reasons, and the first few as
``FILE:LINE: reason``). ``read_rows`` makes one pass over the PRM shards of some folders and keeps the rows
named by id or by (problem, steps) ``Key``. Shared by the studio/PRM800K agreement (``eval_labels``) and
ProcessBench's (``processbench_eval``); imports nothing heavy until it reads.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

MAX_LINE_BYTES = 1_000_000
CHUNK = 1 << 16
EXAMPLES = 10
PRM_COLUMNS = ["id", "prompt", "completions", "labels", "method", "generator"]
Key = tuple[str, tuple[str, ...]]  # (normalised problem, normalised steps): how a PRM800K line finds its rows


@dataclass(frozen=True)
class Row:
    """The columns of a PRM row that agreement needs."""

    id: str
    method: str
    model: str
    completions: tuple[str, ...]
    labels: tuple[bool | None, ...]


@dataclass
class SkipLog:
    """The lines of a human-label file that could not be used, by reason, and the first few as examples."""

    path: str
    lines: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    first: list[tuple[int, str]] = field(default_factory=list)  # (line, example): the earliest few kept

    def skip(self, line: int, reason: str, detail: str = "", where: str = "") -> None:
        """Count ``reason``; the example is named ``FILE:LINE``, or ``FILE`` + ``where`` (``#3``: an array's item)."""
        self.skipped[reason] += 1
        self.first.append((line, f"{self.path}{where or f':{line}'}: {reason}" + (f" ({detail})" if detail else "")))
        if len(self.first) > 2 * EXAMPLES:
            self.first = sorted(self.first)[:EXAMPLES]

    @property
    def examples(self) -> list[str]:
        """The first few skipped lines in file order (reasons found after matching come late, lines early)."""
        return [text for _, text in sorted(self.first)[:EXAMPLES]]


class LineError(ValueError):
    """A line that cannot be used; ``reason`` is the key it is counted under."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def norm(text: str) -> str:
    """Whitespace-insensitive text, so a re-indented or re-wrapped step still matches."""
    return " ".join(text.split())


def capped_lines(handle: BinaryIO, max_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """(1-based line number, bytes without the newline) per line, None for a line over ``max_bytes``,
    which is never held whole. Only ``read`` is used, so any FileSystems reader will do."""
    number, buf, over = 0, bytearray(), False
    while chunk := handle.read(CHUNK):
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            if not over and len(buf) + end - start <= max_bytes:
                yield number, (bytes(buf) + chunk[start:end]).rstrip(b"\r")
            else:
                yield number, None
            buf, over, start = bytearray(), False, end + 1
        if not over:
            buf += chunk[start:]
            if len(buf) > max_bytes:
                buf, over = bytearray(), True
    if buf or over:  # a last line without a newline (perhaps cut short)
        yield number + 1, None if over else bytes(buf).rstrip(b"\r")


def decode(raw: bytes, line: int) -> Any:
    """A line's JSON value, or LineError saying why not."""
    if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte order mark, as some editors write
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineError("not_utf8", f"invalid byte at {exc.start + 1}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineError("malformed_json", f"{exc.msg}: column {exc.colno}") from None
    except (RecursionError, ValueError) as exc:  # nested too deeply; an integer beyond Python's digit limit
        raise LineError("malformed_json", type(exc).__name__) from None


def read_rows(data_dirs: list[str], ids: set[str], keys: set[Key]) -> tuple[int, dict[str, Row], dict[Key, list[Row]]]:
    """(rows read, the rows named by ``ids``, the rows per (prompt, steps) key in ``keys``); only those
    are kept, so a large folder costs one pass and little memory. The first of a duplicated id wins."""
    from pipelines.export import files as exports

    hint = "run `reverse-o1 label` (or expand) into it first"
    shards = [path for folder in data_dirs for path in exports.checked_shards(folder, "prm", PRM_COLUMNS, hint)]
    read, by_id, by_key = 0, {}, {}
    for _, record in exports.rows_with_split(shards, "prm", PRM_COLUMNS):
        read += 1
        if not record["id"]:
            continue
        completions = tuple(c or "" for c in record["completions"] or ())
        key = (norm(record["prompt"] or ""), tuple(norm(c) for c in completions))
        if record["id"] in by_id or (record["id"] not in ids and key not in keys):
            continue
        labels = list(record["labels"] or ())[: len(completions)]
        row = Row(record["id"], record["method"] or "?", (record["generator"] or {}).get("model") or "?", completions,
                  tuple(labels + [None] * (len(completions) - len(labels))))
        by_id[row.id] = row
        if key in keys:
            by_key.setdefault(key, []).append(row)
    return read, by_id, by_key
