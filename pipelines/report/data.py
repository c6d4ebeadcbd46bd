"""The figures of the report, from an output folder: its manifest and the few shard columns they need.

What ``verified`` means per command and why rows were not verified or left out come from the
manifest (``pipelines.io.verification``), as in the dataset card; so do the token lengths per
column (``manifest.token_lengths``; counted here, from the same bounded sample, for a folder whose
manifest has none). Rows themselves are not shown: the page holds no text of the data but names.

Shards are summed into small counters one by one (read in threads: on an object store reads are
latency bound), so a large dataset is never held in memory. Whatever cannot be read (no manifest,
a manifest that is not JSON, a corrupt shard) becomes a line of ``Figures.problems``, shown on the
page: a report of a damaged folder is when it is most wanted.
"""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from common.errors import ConfigError
from pipelines.io import fs
from pipelines.io.footers import command_of
from pipelines.io.resume import FOOTER_THREADS, shard_files
from pipelines.io.shards import UNTAGGED
from pipelines.io.token_lengths import token_lengths
from pipelines.io.verification import CommandOutcome, outcomes
from pipelines.report.trees import TreeFigures, load_trees

# Only these are read (``steps.list.element.factor``: the factors without the steps' text; the
# PRM rows' step count from ``labels``, which has one entry per completion, not their text).
COLUMNS = {"prm": ["labels", "soft_labels", "rollouts", "method", "answer_correct"],
           "sft": ["steps.list.element.factor", "source_kind", "verified", "verifier", "truncated"]}
OPTIONAL = {"truncated"}  # columns a shard of an older layout lacks
MAX_POSITIONS = 32  # soft labels of later steps are pooled into the last position
SPEND_STATS = ("rollouts", "simulations", "completions")
KINDS = ("sft", "prm")  # the row kinds the page tallies (trees: ``pipelines.report.trees``)
HARD = ("correct", "wrong", "unmeasured")  # a PRM hard label: True, False, null (a step nothing measured)


@dataclass
class Stage:
    name: str  # COMMAND/STAGE
    command: str
    read: int
    written: int
    filtered: dict[str, int]
    dead_lettered: int
    resumed: int
    balanced: bool
    stats: dict[str, float]


@dataclass
class Run:
    command: str
    model: str | None
    runner: str | None
    wall_seconds: float | None
    generated_tokens: float  # the ``generated_tokens`` stats of the command's stages, summed

    @property
    def tokens_per_second(self) -> float | None:
        return self.generated_tokens / self.wall_seconds if self.wall_seconds and self.generated_tokens else None


@dataclass
class Position:
    """The soft labels at one step position (0 = first) of one method; ``nulls``: never measured."""

    index: int
    label: str
    measured: int
    nulls: int
    mean: float | None
    q1: float | None
    median: float | None
    q3: float | None


@dataclass
class Share:
    key: str
    yes: int
    total: int

    @property
    def share(self) -> float:
        return self.yes / self.total if self.total else 0.0


@dataclass
class Tally:
    """What one shard (or all, merged) adds to the figures: counters only."""

    rows: Counter[str] = field(default_factory=Counter)
    shards: Counter[str] = field(default_factory=Counter)
    steps: dict[str, Counter[int]] = field(default_factory=lambda: {k: Counter() for k in KINDS})
    soft: dict[tuple[str, int], Counter[float]] = field(default_factory=dict)
    nulls: Counter[tuple[str, int]] = field(default_factory=Counter)
    hard: dict[str, Counter[str]] = field(default_factory=dict)  # per method: correct / wrong / unmeasured steps
    factors: dict[str, Counter[str]] = field(default_factory=dict)
    verified: dict[str, Counter[bool]] = field(default_factory=dict)
    correct: dict[str, Counter[bool]] = field(default_factory=dict)
    rollouts: Counter[str] = field(default_factory=Counter)
    commands: dict[str, Counter[str]] = field(default_factory=dict)  # as the manifest's by_command, from shard names

    def merge(self, other: Tally) -> None:
        for name in ("rows", "shards", "nulls", "rollouts"):
            getattr(self, name).update(getattr(other, name))
        for command, counts in other.commands.items():
            self.commands.setdefault(command, Counter()).update(counts)
        for kind, counts in other.steps.items():
            self.steps[kind].update(counts)
        for name in ("soft", "hard", "factors", "verified", "correct"):
            mine = getattr(self, name)
            for key, counts in getattr(other, name).items():
                mine.setdefault(key, Counter()).update(counts)

    def add(self, kind: str, table: Any, command: str | None = None) -> None:
        n = table.num_rows
        get = {name: table.column(name).to_pylist() if name in table.column_names else [None] * n
               for name in ("labels", "soft_labels", "rollouts", "method", "answer_correct", "steps", "source_kind",
                            "verified", "verifier", "truncated")}
        self.rows[kind] += n
        self.shards[kind] += 1
        if command is not None:
            per_command = self.commands.setdefault(command, Counter())
            per_command[f"{kind}_rows"] += n
            if kind == "sft":
                per_command["sft_verified"] += sum(v is True for v in get["verified"])
                per_command["sft_truncated"] += sum(v is True for v in get["truncated"])
        for i in range(n):
            if kind == "prm":
                method = str(get["method"][i])
                self.steps["prm"][len(get["labels"][i] or get["soft_labels"][i] or [])] += 1
                for pos, value in enumerate(get["soft_labels"][i] or []):
                    key = (method, min(pos, MAX_POSITIONS - 1))
                    if value is None or not math.isfinite(value):
                        self.nulls[key] += 1
                    else:
                        self.soft.setdefault(key, Counter())[round(value, 6)] += 1
                hard = self.hard.setdefault(method, Counter())
                hard.update(HARD[0] if v is True else HARD[1] if v is False else HARD[2] for v in get["labels"][i] or [])
                self.rollouts[method] += sum(x for x in get["rollouts"][i] or [] if x is not None)
                self.correct.setdefault(method, Counter())[get["answer_correct"][i] is True] += 1
            else:
                steps, kind_of = get["steps"][i] or [], str(get["source_kind"][i])
                self.steps["sft"][len(steps)] += 1
                self.factors.setdefault(kind_of, Counter()).update((s or {}).get("factor") or UNTAGGED for s in steps)
                self.verified.setdefault(f"{kind_of} / {get['verifier'][i]}", Counter())[get["verified"][i] is True] += 1


@dataclass
class Figures:
    folder: str
    problems: list[str]  # what could not be read: notes on the page
    notes: list[str]  # the manifest's own notes
    model: str | None
    versions: dict[str, Any]
    outputs: dict[str, Any]  # the manifest's counts
    wall_seconds: float | None
    rows: dict[str, int]  # rows found in the shards, per kind
    shards: dict[str, int]
    stages: list[Stage]
    runs: list[Run]
    soft_labels: dict[str, list[Position]]  # per method
    hard_labels: dict[str, dict[str, int]]  # per method: correct / wrong / unmeasured steps
    steps: dict[str, dict[int, int]]  # per kind: steps per row -> rows
    factors: dict[str, dict[str, int]]  # per source kind: factor -> steps
    factors_from: str  # "manifest" or "shards"
    sft_verified: list[Share]  # per "source_kind / verifier"
    prm_correct: list[Share]  # answer_correct per method
    rollouts: dict[str, int]  # per method
    spend: dict[str, dict[str, float]]  # per stage: its rollouts/simulations/completions stats
    outcomes: list[CommandOutcome] = field(default_factory=list)  # per command: meaning of verified, reasons
    token_lengths: dict[str, Any] = field(default_factory=dict)  # as ``manifest.token_lengths``
    trees: TreeFigures | None = None  # None: no ``trees/`` (written before 0.3, or ``expand --no-trees``)


def _num(v: Any) -> float:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    return (int(v) if isinstance(v, int) else float(v)) if ok else 0


def _dict(v: Any) -> dict[str, Any]:
    return {str(k): x for k, x in v.items()} if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _one_line(exc: BaseException) -> str:
    line = " ".join(f"{type(exc).__name__}: {exc}".split())
    return line if len(line) <= 200 else line[:197] + "..."


def read_manifest(folder: str, problems: list[str]) -> dict[str, Any]:
    path = fs.join(folder, "manifest.json")
    if not fs.exists(path):
        problems.append("no manifest.json: the funnel, the runs and the notes are unknown")
        return {}
    try:
        data = fs.read_json(path)
    except (OSError, ValueError) as exc:
        problems.append(f"manifest.json cannot be read as JSON ({_one_line(exc)}): figures from the shards only")
        return {}
    if not isinstance(data, dict):
        problems.append("manifest.json is not a JSON object: figures from the shards only")
    return _dict(data)


def stages_of(manifest: dict[str, Any]) -> list[Stage]:
    out = []
    for name, e in _dict(manifest.get("stages")).items():
        e = _dict(e)
        filtered = {k: int(_num(v)) for k, v in _dict(e.get("filtered")).items()}
        read, written, dead = (int(_num(e.get(k))) for k in ("read", "written", "dead_lettered"))
        ok = read == written + sum(filtered.values()) + dead and e.get("balanced") is not False
        out.append(Stage(name, name.split("/", 1)[0] if "/" in name else "", read, written, filtered, dead,
                         int(_num(e.get("resumed"))), ok, {k: _num(v) for k, v in _dict(e.get("stats")).items()}))
    return sorted(out, key=lambda s: s.name)


def runs_of(manifest: dict[str, Any], stages: list[Stage]) -> list[Run]:
    runs = _dict(manifest.get("runs"))
    commands = sorted(set(runs) | {s.command for s in stages if s.stats.get("generated_tokens")})
    out = []
    for command in commands:
        run = _dict(runs.get(command))
        tokens = sum(s.stats.get("generated_tokens", 0) for s in stages if s.command == command)
        wall = _num(run.get("wall_seconds")) if "wall_seconds" in run else None
        model, runner = run.get("model"), run.get("runner")
        out.append(Run(command, None if model is None else str(model), None if runner is None else str(runner), wall, tokens))
    return out


def _quantile(counts: Counter[float], total: int, p: float) -> float:
    """Linear interpolation between the order statistics around rank ``p * (total - 1)``."""
    rank = p * (total - 1)
    ordered, seen, lo, hi = sorted(counts.items()), 0, None, None
    for value, n in ordered:
        if lo is None and seen + n > math.floor(rank):
            lo = value
        if seen + n > math.ceil(rank):
            hi = value
            break
        seen += n
    lo, hi = (lo if lo is not None else ordered[-1][0]), (hi if hi is not None else ordered[-1][0])
    return lo + (hi - lo) * (rank - math.floor(rank))


def positions(tally: Tally) -> dict[str, list[Position]]:
    pooled = max(tally.steps["prm"], default=0) > MAX_POSITIONS
    out: dict[str, list[Position]] = {}
    for method in sorted({m for m, _ in tally.soft} | {m for m, _ in tally.nulls}):
        last = max(p for m, p in list(tally.soft) + list(tally.nulls) if m == method)
        out[method] = []
        for pos in range(last + 1):
            counts = tally.soft.get((method, pos), Counter())
            n = sum(counts.values())
            q = [_quantile(counts, n, p) for p in (0.25, 0.5, 0.75)] if n else [None, None, None]
            label = f"{pos + 1}+" if pooled and pos == MAX_POSITIONS - 1 else str(pos + 1)
            mean = sum(v * c for v, c in counts.items()) / n if n else None
            out[method].append(Position(pos, label, n, tally.nulls[(method, pos)], mean, *q))
    return out


def _read_shard(kind: str, path: str) -> Tally | str:
    try:
        with fs.parquet_file(path) as parquet:
            names = set(parquet.schema_arrow.names)
            table = parquet.read(columns=[c for c in COLUMNS[kind] if c not in OPTIONAL or c in names])
        tally = Tally()
        tally.add(kind, table, command_of(fs.basename(path)))
        return tally
    except Exception as exc:  # truncated, garbage, another schema: the page says so and goes on
        return f"{kind}/{fs.basename(path)} cannot be read ({_one_line(exc)}): left out of the figures"


def load_figures(folder: str) -> Figures:
    """Everything the page shows; ConfigError when ``folder`` is not a folder at all."""
    if not fs.is_folder(folder):
        raise ConfigError(f"{folder}: no such directory" if not fs.exists(folder) else f"{folder}: not a directory")
    problems: list[str] = []
    manifest = read_manifest(folder, problems)
    paths = [(kind, p) for kind in KINDS for p in shard_files(folder, kind)]
    tally = Tally()
    with ThreadPoolExecutor(max_workers=min(FOOTER_THREADS, max(1, len(paths)))) as pool:
        for result in pool.map(lambda kp: _read_shard(*kp), paths):
            if isinstance(result, str):
                problems.append(result)
            else:
                tally.merge(result)
    trees = load_trees(folder, problems)
    for kind in KINDS:
        if not any(k == kind for k, _ in paths):
            problems.append(f"no {kind.upper()} shards in {kind}/: its figures are empty")
    if not manifest and not paths and trees is None:
        problems.append("nothing to report: no manifest and no shards (is this an output folder?)")
    stages = stages_of(manifest)
    by_kind = _dict(_dict(manifest.get("factors")).get("by_source_kind"))
    factors = {k: {f: int(_num(n)) for f, n in _dict(v).items()} for k, v in by_kind.items() if _dict(v)}
    from_manifest = bool(factors)
    if not from_manifest:
        factors = {k: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for k, c in sorted(tally.factors.items())}
    notes = [str(n) for n in _list(manifest.get("notes"))]
    aside = [_dict(r) for r in _list(manifest.get("set_aside"))]
    notes += [f"set aside as corrupt: {r.get('shard')} ({r.get('reason')})" for r in aside]
    wall = manifest.get("wall_seconds")
    lengths = _dict(manifest.get("token_lengths"))
    if not _dict(lengths.get("columns")) and not lengths.get("unavailable") and paths:
        try:
            lengths = token_lengths(folder)
        except Exception as exc:  # a folder the sample cannot read: the page says so
            problems.append(f"token lengths cannot be counted ({_one_line(exc)})")
    return Figures(
        folder=folder, problems=problems, notes=notes,
        model=None if manifest.get("model") is None else str(manifest["model"]), versions=_dict(manifest.get("versions")),
        outputs=_dict(manifest.get("outputs")), wall_seconds=_num(wall) if wall is not None else None,
        rows={k: tally.rows[k] for k in KINDS}, shards={k: tally.shards[k] for k in KINDS}, stages=stages,
        runs=runs_of(manifest, stages), soft_labels=positions(tally),
        hard_labels={m: {k: c[k] for k in HARD} for m, c in sorted(tally.hard.items())},
        steps={k: dict(sorted(tally.steps[k].items())) for k in KINDS}, factors=factors,
        factors_from="manifest" if from_manifest else "shards",
        sft_verified=[Share(k, c[True], c.total()) for k, c in sorted(tally.verified.items())],
        prm_correct=[Share(k, c[True], c.total()) for k, c in sorted(tally.correct.items())],
        rollouts=dict(sorted(tally.rollouts.items())),
        spend={s.name: {k: s.stats[k] for k in SPEND_STATS if k in s.stats} for s in stages
               if any(k in s.stats for k in SPEND_STATS)},
        outcomes=outcomes(manifest if _dict(manifest.get("by_command")) else {**manifest, "by_command": tally.commands}),
        token_lengths=lengths, trees=trees,
    )
