"""The studio's seed file: read, validated by ``seeds validate``'s own code, saved atomically.

A save changes exactly one line (or adds or removes one) and keeps every other byte of the file.
Every save names the version (SHA-256 of the bytes) it was made against; a file that changed on
disk since then is never overwritten (``SeedFileChanged``): the annotator reloads, or saves their
version as a new file beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.io import fs
from schemas.seeds import MAX_LINE_BYTES, SeedError, SeedProblem, check_seed, decode_line, validate_lines

OPS = ("replace", "insert_after", "append", "delete")
FIELD_ORDER = ("id", "problem", "answer", "steps", "domain", "annotator", "notes")
_LINES = re.compile(rb"[^\n]*\n|[^\n]+$")
KEPT_VERSIONS = 32  # snapshots kept in memory, so a conflicting edit can still be saved as a new file


class SeedFileChanged(Exception):
    """The file on disk is not the version the edit was made against."""

    def __init__(self, path: str, current: str):
        self.current = current
        super().__init__(f"{os.path.basename(path)} changed on disk since you opened it: reload it, or save your "
                         "version as a new file (nothing was overwritten)")


class SeedEditError(ValueError):
    """An edit that cannot be applied (a line that does not exist, an unknown operation, ...)."""


@dataclass(frozen=True)
class Snapshot:
    """The file's bytes at one moment, split into lines with their endings kept."""

    data: bytes
    version: str
    lines: tuple[bytes, ...]

    @classmethod
    def of(cls, data: bytes) -> Snapshot:
        # split on LF only, as ``seeds validate`` reads lines (a lone CR is JSON whitespace, not a line break)
        return cls(data, hashlib.sha256(data).hexdigest(), tuple(_LINES.findall(data)))

    @property
    def newline(self) -> bytes:
        first = self.lines[0] if self.lines else b"\n"
        return b"\r\n" if first.endswith(b"\r\n") else b"\n"

    def numbered(self) -> list[tuple[int, bytes]]:
        return [(i + 1, line.rstrip(b"\r\n")) for i, line in enumerate(self.lines)]


def seed_line(obj: dict[str, Any]) -> bytes:
    """One seed as the studio writes it: known fields in the template's order, then any others."""
    ordered = {k: obj[k] for k in FIELD_ORDER if k in obj}
    ordered.update({k: v for k, v in obj.items() if k not in ordered})
    return json.dumps(ordered, ensure_ascii=False).encode("utf-8")


class SeedFile:
    """One seed file given on the command line (a local path: saves rename a temporary file over it)."""

    def __init__(self, path: str, factors: Collection[str] | None = None, max_bytes: int = MAX_LINE_BYTES):
        self.path = os.path.realpath(path)  # a link's target is what gets edited, not the link replaced
        self.factors = factors
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._versions: OrderedDict[str, Snapshot] = OrderedDict()
        self._id_cache: dict[str, dict[str, list[int]]] = {}

    def snapshot(self) -> Snapshot:
        data = fs.read_bytes(self.path) if fs.exists(self.path) else b""
        version = hashlib.sha256(data).hexdigest()
        snap = self._versions.get(version) or Snapshot.of(data)  # a version seen before: its lines are split already
        self._remember(snap)
        return snap

    def _unchanged_since(self, snap: Snapshot) -> None:
        """Read the file once more just before the rename: an outside save while this one was being
        checked is refused too (what is left is the rename's own instant)."""
        now = hashlib.sha256(fs.read_bytes(self.path) if fs.exists(self.path) else b"").hexdigest()
        if now != snap.version:
            raise SeedFileChanged(self.path, now)

    def _remember(self, snap: Snapshot) -> None:
        self._versions[snap.version] = snap
        self._versions.move_to_end(snap.version)
        while len(self._versions) > KEPT_VERSIONS:
            self._versions.popitem(last=False)

    def entries(self, snap: Snapshot) -> list[dict[str, Any]]:
        """Every non-blank line: its number, the seed (when it decodes to an object) and its problems."""
        _, problems = validate_lines(snap.numbered(), self.max_bytes, self.factors)
        by_line: dict[int, list[SeedProblem]] = {}
        for problem in problems:
            by_line.setdefault(problem.line, []).append(problem)
        out = []
        for number, raw in snap.numbered():
            if not raw.strip():
                continue
            try:
                obj = decode_line(raw, number, self.max_bytes)
            except SeedError:
                obj = None
            entry: dict[str, Any] = {"line": number, "problems": [_plain(p) for p in by_line.get(number, [])]}
            if isinstance(obj, dict):
                entry["seed"] = obj
            else:
                entry["raw"] = raw[:self.max_bytes].decode("utf-8", errors="replace")
            out.append(entry)
        return out

    def problems_for(self, version: str, op: str, line: int | None, seed: Any = None, raw: str | None = None) -> list[dict]:
        """The problems ``seeds validate`` would report on the edited line, were the edit saved."""
        base = self._versions.get(version) or self.snapshot()
        new_lines, target = self._apply(base, op, line, seed, raw)
        return [_plain(p) for p in self._line_problems(base, op, line, new_lines, target)]

    def save(self, version: str, op: str, line: int | None, seed: Any = None, raw: str | None = None) -> dict[str, Any]:
        """Apply one edit to the version it was made against and write the file atomically.

        Refused (SeedFileChanged) when the file on disk is another version, and refused with the
        problems (SeedError) when the edited line would not pass ``seeds validate``.
        """
        with self._lock:
            current = self.snapshot()
            if current.version != version:
                raise SeedFileChanged(self.path, current.version)
            new_lines, target = self._apply(current, op, line, seed, raw)
            self._check(current, op, line, new_lines, target)
            data = b"".join(new_lines)
            self._unchanged_since(current)
            fs.write_bytes(self.path, data)  # whole or not at all: a temporary beside it, renamed over it
            snap = Snapshot.of(data)
            self._remember(snap)
            self._carry_ids(current, snap, op, line, new_lines, target)
            return {"version": snap.version, "line": target}

    def save_as_new(self, version: str, op: str, line: int | None, seed: Any = None,
                    raw: str | None = None) -> tuple[str, int]:
        """The edit applied to the version it was made against, written to a new file beside this
        one (``NAME.studio-TIME.jsonl``); that file's path and the edited line. Used when the file
        changed on disk."""
        base = self._versions.get(version)
        if base is None:
            raise SeedEditError("the version this edit was made against is no longer known: copy your edit, then reload")
        new_lines, target = self._apply(base, op, line, seed, raw)
        self._check(base, op, line, new_lines, target)
        stem = self.path[:-6] if self.path.endswith(".jsonl") else self.path
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = f"{stem}.studio-{stamp}.jsonl"
        try:
            with open(path, "xb") as handle:  # never over an existing file (nor through a link)
                handle.write(b"".join(new_lines))
                handle.flush()
                os.fsync(handle.fileno())
        except FileExistsError:
            raise SeedEditError(f"{os.path.basename(path)} exists already: save again") from None
        if os.path.exists(self.path):
            os.chmod(path, os.stat(self.path).st_mode & 0o777)
        return path, target

    def new_seed_problems(self, seed: dict[str, Any], line: int) -> list[SeedProblem]:
        """``seeds validate``'s checks on one seed that would be appended as ``line`` (imports)."""
        try:
            raw = seed_line(seed)
        except UnicodeEncodeError:
            return [SeedProblem(line, "line", "contains a lone surrogate escape (not valid Unicode text)")]
        return validate_lines([(line, raw)], self.max_bytes, self.factors)[1]

    def append_many(self, version: str, seeds: list[dict[str, Any]]) -> dict[str, Any]:
        """Several new seeds at the end in one atomic save (``seeds import``)."""
        with self._lock:
            current = self.snapshot()
            if current.version != version:
                raise SeedFileChanged(self.path, current.version)
            lines = list(current.lines)
            _terminate_last(lines, current.newline)
            lines += [seed_line(s) + current.newline for s in seeds]
            data = b"".join(lines)
            self._unchanged_since(current)
            fs.write_bytes(self.path, data)  # whole or not at all: a temporary beside it, renamed over it
            snap = Snapshot.of(data)
            self._remember(snap)
            return {"version": snap.version, "added": len(seeds)}

    def _apply(self, snap: Snapshot, op: str, line: int | None, seed: Any, raw: str | None) -> tuple[list[bytes], int]:
        """The file's lines after the edit, and the edited line's number (the removed one's for delete)."""
        if op not in OPS:
            raise SeedEditError(f"unknown operation {op!r} (known: {', '.join(OPS)})")
        lines = list(snap.lines)
        if op != "append" and (not isinstance(line, int) or isinstance(line, bool) or not 1 <= line <= len(lines)):
            raise SeedEditError(f"line {line!r} is not a line of the file (it has {len(lines)})")
        if op == "delete":
            del lines[line - 1]
            return lines, line
        try:
            body = self._body(seed, raw)
        except UnicodeEncodeError:
            raise SeedEditError("the seed holds a lone surrogate escape (not valid Unicode text)") from None
        if op == "replace":
            ending = lines[line - 1][len(lines[line - 1].rstrip(b"\r\n")):]
            lines[line - 1] = body + ending
            return lines, line
        if op == "insert_after":
            _terminate(lines, line - 1, snap.newline)
            lines.insert(line, body + snap.newline)
            return lines, line + 1
        _terminate_last(lines, snap.newline)
        lines.append(body + snap.newline)
        return lines, len(lines)

    def _ids(self, snap: Snapshot) -> dict[str, list[int]]:
        """Each seed id of a snapshot and the lines it is on (decoded once per version)."""
        if snap.version not in self._id_cache:
            ids: dict[str, list[int]] = {}
            for number, raw in snap.numbered():
                try:
                    obj = decode_line(raw, number, self.max_bytes) if raw.strip() else None
                except SeedError:
                    continue
                if isinstance(obj, dict) and isinstance(obj.get("id"), str) and not check_seed(obj, number):
                    ids.setdefault(obj["id"].strip(), []).append(number)
            self._id_cache = {snap.version: ids}  # one version at a time: the file being edited
        return self._id_cache[snap.version]

    def _carry_ids(self, base: Snapshot, snap: Snapshot, op: str, line: int | None, lines: list[bytes],
                   target: int) -> None:
        """The new version's ids from the old ones and the edit, so the next save need not decode the
        whole file again (the edited line is valid: ``_check`` passed)."""
        if base.version not in self._id_cache:
            return
        old = self._id_cache[base.version]
        if op in ("replace", "append"):  # no line moves: only the edited line's id changes
            ids = dict(old)
            for seed_id, numbers in old.items() if op == "replace" else ():
                if line in numbers:
                    ids[seed_id] = [n for n in numbers if n != line]
                    if not ids[seed_id]:
                        del ids[seed_id]
        else:
            shift, at = (1, line) if op == "insert_after" else (-1, line)
            ids = {}
            for seed_id, numbers in old.items():
                kept = [n + shift if n > at else n for n in numbers if op != "delete" or n != at]
                if kept:
                    ids[seed_id] = kept
        if op != "delete":
            obj = decode_line(lines[target - 1].rstrip(b"\r\n"), target, self.max_bytes)
            ids.setdefault(str(obj["id"]).strip(), []).append(target)
        self._id_cache = {snap.version: ids}

    def _line_problems(self, base: Snapshot, op: str, line: int | None, lines: list[bytes],
                       target: int) -> list[SeedProblem]:
        """``seeds validate``'s problems for the edited line alone (its own checks run on it as the
        only line), plus a duplicate id anywhere else in the file: a save costs one line's checks
        and a lookup, not a pass over the whole file."""
        if op == "delete":
            return []
        raw = lines[target - 1].rstrip(b"\r\n")
        _, problems = validate_lines([(target, raw)], self.max_bytes, self.factors)
        if problems:
            return problems
        new_id = str(decode_line(raw, target, self.max_bytes)["id"]).strip()
        shift = 1 if op == "insert_after" else 0  # lines after the new one moved down by one
        others = [n + (shift if n >= target else 0) for n in self._ids(base).get(new_id, [])
                  if not (op == "replace" and n == line)]
        if others:
            return [SeedProblem(target, "id", f"duplicate id {new_id!r} (also on line {others[0]})")]
        return []

    @staticmethod
    def _body(seed: Any, raw: str | None) -> bytes:
        if raw is not None:
            body = raw.encode("utf-8")
            if b"\n" in body or b"\r" in body:
                raise SeedEditError("a seed is one line: the raw text must not contain a line break")
            return body
        if isinstance(seed, dict):
            return seed_line(seed)
        raise SeedEditError("an edit needs a seed (a JSON object) or the line's raw text")

    def _check(self, base: Snapshot, op: str, line: int | None, lines: list[bytes], target: int) -> None:
        mine = self._line_problems(base, op, line, lines, target)
        if mine:
            raise SeedError(mine)


def _terminate(lines: list[bytes], index: int, newline: bytes) -> None:
    if 0 <= index < len(lines) and not lines[index].endswith(b"\n"):
        lines[index] += newline


def _terminate_last(lines: list[bytes], newline: bytes) -> None:
    _terminate(lines, len(lines) - 1, newline)


def _plain(problem: SeedProblem) -> dict[str, Any]:
    return {"line": problem.line, "field": problem.field, "message": problem.message}
