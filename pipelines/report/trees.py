"""The report's search-tree figures, from ``DIR/trees`` (``TREE_SCHEMA``: one row per node ``expand`` created).

Like the rest of the report, shards are summed into counters one by one (read in threads), and only
the few small columns the figures need are read: never a step's text or a rollout. A folder written
before 0.3 (or with ``expand --no-trees``) has no ``trees/``: its figures are None, and the page says
why (its PRM rows' ``nodes`` hold only the nodes on found trajectories, not a tree).
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pipelines.io import fs
from pipelines.io.resume import FOOTER_THREADS, shard_files

COLUMNS = ["parent", "depth", "visits", "expanded", "terminal_reason", "factor", "answer_correct"]
NO_FACTOR = "(no factor)"


@dataclass
class TreeTally:
    """What one trees shard (or all, merged) adds: counters only."""

    shards: int = 0
    nodes: int = 0
    roots: int = 0
    expanded: int = 0
    dead_ends: int = 0
    answers: int = 0  # terminal nodes whose step states an answer
    answers_correct: int = 0
    unvisited: int = 0  # children the search created but never selected
    depths: Counter[int] = field(default_factory=Counter)
    factors: Counter[str] = field(default_factory=Counter)  # among children (every node but the roots)
    root_visits: Counter[int] = field(default_factory=Counter)

    def merge(self, other: TreeTally) -> None:
        for name in ("shards", "nodes", "roots", "expanded", "dead_ends", "answers", "answers_correct", "unvisited"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("depths", "factors", "root_visits"):
            getattr(self, name).update(getattr(other, name))

    def add(self, table: Any) -> None:
        n = table.num_rows
        get = {c: table.column(c).to_pylist() if c in table.column_names else [None] * n for c in COLUMNS}
        self.shards += 1
        self.nodes += n
        for i in range(n):
            visits, reason = get["visits"][i] or 0, get["terminal_reason"][i]
            self.depths[int(get["depth"][i] or 0)] += 1
            self.expanded += get["expanded"][i] is True
            self.dead_ends += reason == "dead_end"
            self.answers += reason == "answer"
            self.answers_correct += reason == "answer" and get["answer_correct"][i] is True
            if get["parent"][i] is None:
                self.roots += 1
                self.root_visits[int(visits)] += 1
            else:
                self.unvisited += visits == 0
                self.factors[get["factor"][i] or NO_FACTOR] += 1


@dataclass
class TreeFigures:
    """The "Search trees" section: how big the trees are, how they branch, which factors they tried."""

    shards: int
    nodes: int
    trees: int  # roots
    expanded: int
    dead_ends: int
    answers: int
    answers_correct: int
    unvisited: int
    depths: dict[int, int]  # depth (0 = root) -> nodes
    factors: dict[str, int]  # factor -> children, most first
    root_visits: dict[int, int]  # visits -> roots

    @property
    def children(self) -> int:
        return self.nodes - self.trees

    @property
    def mean_branching(self) -> float | None:
        """Children per expanded node (every child's parent was expanded)."""
        return self.children / self.expanded if self.expanded else None

    @property
    def mean_root_visits(self) -> float | None:
        total = sum(self.root_visits.values())
        return sum(v * n for v, n in self.root_visits.items()) / total if total else None

    def factor_shares(self) -> list[tuple[str, int, float]]:
        return [(f, n, n / self.children if self.children else 0.0) for f, n in self.factors.items()]


def figures_of(tally: TreeTally) -> TreeFigures:
    return TreeFigures(tally.shards, tally.nodes, tally.roots, tally.expanded, tally.dead_ends, tally.answers,
                       tally.answers_correct, tally.unvisited, dict(sorted(tally.depths.items())),
                       dict(sorted(tally.factors.items(), key=lambda kv: (-kv[1], kv[0]))),
                       dict(sorted(tally.root_visits.items())))


def _read_shard(path: str) -> TreeTally | str:
    try:
        with fs.parquet_file(path) as parquet:
            names = set(parquet.schema_arrow.names)
            table = parquet.read(columns=[c for c in COLUMNS if c in names])
        tally = TreeTally()
        tally.add(table)
        return tally
    except Exception as exc:  # truncated, garbage, another schema: the page says so and goes on
        line = " ".join(f"{type(exc).__name__}: {exc}".split())
        return f"trees/{fs.basename(path)} cannot be read ({line[:200]}): left out of the figures"


def load_trees(folder: str, problems: list[str]) -> TreeFigures | None:
    """The trees' figures; None when ``folder`` has no trees shards. Unreadable shards become ``problems``."""
    paths = shard_files(folder, "trees")
    if not paths:
        return None
    tally = TreeTally()
    with ThreadPoolExecutor(max_workers=min(FOOTER_THREADS, len(paths))) as pool:
        for result in pool.map(_read_shard, paths):
            if isinstance(result, str):
                problems.append(result)
            else:
                tally.merge(result)
    return figures_of(tally)
