"""The studio's human-label file: JSONL of ``schemas.human_labels.HumanLabel``, only ever appended to.

A save is one write of whole lines under ``flock``; a crash can at worst leave a torn last line,
which reading skips. A later line for one (row, step, annotator) supersedes an earlier one.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import UTC, datetime

from schemas.human_labels import HumanLabel, HumanLabelError, human_label_from_obj, latest


class LabelFile:
    def __init__(self, path: str):
        self.path = os.path.realpath(path)
        self._lock = threading.Lock()

    def read(self) -> tuple[list[HumanLabel], int]:
        """Every valid label in file order, and how many lines were not labels (left as they are)."""
        labels, bad = [], 0
        try:
            with open(self.path, "rb") as handle:
                for raw in handle:
                    if not raw.strip():
                        continue
                    try:
                        labels.append(human_label_from_obj(json.loads(raw)))
                    except (ValueError, HumanLabelError, RecursionError):
                        bad += 1
        except FileNotFoundError:
            pass
        return labels, bad

    def for_row(self, row_id: str) -> dict[int, dict[str, str]]:
        """Per step of one row, each annotator's latest verdict."""
        out: dict[int, dict[str, str]] = {}
        for (row, step, annotator), label in latest(self.read()[0]).items():
            if row == row_id:
                out.setdefault(step, {})[annotator] = label.label
        return out

    def append(self, labels: list[HumanLabel]) -> list[str]:
        """Add the labels (stamped now, when they carry no time) in one appending write under an
        exclusive lock, so two studios sharing one file never lose each other's lines; the lines written."""
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        lines = [HumanLabel(**{**label.__dict__, "time": label.time or now}).to_json() for label in labels]
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        with self._lock, open(self.path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                handle.seek(0, os.SEEK_END)
                if handle.tell():
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        data = b"\n" + data  # a torn last line stays its own (skipped) line
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return lines
