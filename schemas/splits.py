"""Train/test splits by problem, so that nothing of a test problem is seen in training.

Every row made from one problem (a seed and all its MCTS trajectories and PRM rows; a Lean
theorem; a function of a repository, in any commit) has one *problem key*, and the key alone,
hashed with the split seed, decides the split. A pure function of the row: any worker, any run,
any resume gives the same answer, with no state to share.

- code from a repository (``code-cot``): the function: ``source.uri``, ``source.path``,
  ``source.symbol`` (the problem text is written from the function and may change between
  commits);
- every other row (seeds, Lean, and rows read by ``label`` or ``tag``, whose ``source.path`` is
  the ``FILE:LINE`` they were read from, code or not): the problem text, with runs
  of whitespace made one space, so one problem read from two files (two seed files, a seed and
  the trajectories labelled from it) lands in one split.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

TRAIN, TEST = "train", "test"
_RECORD_REF = re.compile(r":\d+\Z")  # FILE:LINE, where a reader found a record (not a repository file)
SPLITS = (TRAIN, TEST)


def problem_key(source_kind: str | None, source: dict[str, Any] | None, problem: str | None) -> str:
    """The key every row of one problem shares (see the module docstring)."""
    src = source or {}
    path = str(src.get("path") or "")
    if source_kind == "code" and src.get("symbol") and path and not _RECORD_REF.search(path):
        return "\0".join(("code", str(src.get("uri") or ""), str(src.get("path") or ""), str(src["symbol"])))
    return "text\0" + " ".join(str(problem or "").split())


@dataclass(frozen=True)
class SplitSettings:
    """``--test-fraction`` and ``--split-seed``; a fraction of 0 means one split, ``train``."""

    test_fraction: float = 0.0
    seed: int = 0

    @property
    def enabled(self) -> bool:
        return self.test_fraction > 0

    def split_of_key(self, key: str) -> str:
        if not self.enabled:
            return TRAIN
        digest = hashlib.sha256(f"{self.seed}\0{key}".encode("utf-8", "surrogatepass")).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
        return TEST if point < self.test_fraction else TRAIN

    def split_of(self, row: dict[str, Any]) -> str:
        """The split of an SFT or PRM row (a dict of its columns)."""
        problem = row.get("problem") if row.get("problem") is not None else row.get("prompt")
        return self.split_of_key(problem_key(row.get("source_kind"), row.get("source"), problem))

    def to_dict(self) -> dict[str, Any]:
        return {"test_fraction": self.test_fraction, "seed": self.seed}


def shard_split(name: str) -> str:
    """The split of a shard from its file name: ``RUN-HASH.test.parquet`` is test, anything else train."""
    return TEST if name.endswith(f".{TEST}.parquet") else TRAIN
