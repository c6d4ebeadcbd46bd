"""Screening of a command's inputs before any work: benchmark decontamination, a difficulty band, and
near-duplicate problems (``Screen``: stages ``screen`` and ``near_duplicates``).

- ``screen`` reads every input and filters it ``contaminated:BENCH`` when one of its texts (the
  problem, the human steps, the answer; a function's docstring and code; a theorem's statements)
  overlaps a benchmark's test set (``common.decontamination``: the bundled benchmarks of the input's
  domain by default, ``--decontaminate BENCH,...|none``, plus ``--decontaminate-file F --column C``),
  or ``too_easy``/``too_hard`` when a ``--difficulty`` output gives its problem a pass rate outside
  ``--min-pass``/``--max-pass`` (a problem it does not list goes on, counted ``no_difficulty``).
  Each contaminated input is also reported in ``DIR/reports/contaminated/`` with what matched.
- ``near_duplicates`` (problems only: seeds, trajectory rows, CoT rows; code keeps its own dedup):
  MinHash/LSH over the normalised problem text with numbers masked, so a copy with other numbers,
  spacing or a word changed is caught (problems of fewer than 8 words are too short to tell and are
  left to the id dedup); the first in input order is kept (and any problem an earlier
  run into the same folder kept: their signatures are in ``DIR/.state/near_duplicates/``), later
  ones filtered ``near_duplicate`` and reported in ``DIR/reports/near_duplicates/`` with the id they
  duplicate. All signatures meet on one worker (about 0.5 KB a problem).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.pvalue import TaggedOutput

from common import minhash
from common.decontamination import Matcher, Reference, benchmarks_for, load_bundled
from common.text_normal import normalise, words
from pipelines.io import fs
from pipelines.io.shards import WriteReports
from pipelines.stage.kernel import DEAD, REPORT, Emit, Filtered, Stage
from schemas.code import CodeFunction
from schemas.lean import LeanTheorem
from schemas.records import SFTRow, Trajectory

NEAR_STATE = ".state/near_duplicates"
SIGN = "sign"
MIN_NEAR_WORDS = 8  # a shorter problem is too short to fingerprint: only its exact id dedups it
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class ScreenSettings:
    decontaminate: str = "auto"
    files: tuple[str, ...] = ()
    column: str = "problem"
    near_duplicates: bool = True
    threshold: float = 0.7
    min_pass: float | None = None
    max_pass: float | None = None


@dataclass(frozen=True)
class Screened:
    """What screening reads of an input: its id, domain (math, code, lean), texts, and problem (near-dups)."""

    id: str
    domain: str
    texts: tuple[str, ...]
    problem: str | None


def screened(element: Any) -> Screened:
    """The texts of any input a command screens."""
    if isinstance(element, Trajectory):
        steps = "\n".join(s.text for s in element.steps)
        # near-duplicates: of seed problems only (rows of one problem's solutions share it by design)
        return Screened(element.id, "math", (element.problem, steps), element.problem if element.is_seed else None)
    if isinstance(element, SFTRow):
        domain = {"code": "code", "lean": "lean"}.get(element.source_kind, "math")
        steps = "\n".join(s.text for s in element.steps)
        return Screened(element.id, domain, (element.problem, steps), element.problem if domain == "math" else None)
    if isinstance(element, CodeFunction):
        return Screened(element.ref, "code", (element.docstring, element.code), None)
    if isinstance(element, LeanTheorem):
        texts = (element.informal_statement or "", element.formal_statement or "", element.full_name)
        return Screened(element.ref or element.full_name, "lean", texts, None)
    raise TypeError(f"cannot screen a {type(element).__name__}")


def user_references(files: tuple[str, ...], column: str) -> list[Reference]:
    """``--decontaminate-file`` JSONL files as references named after each file; a line without a string
    ``column`` is skipped (the count is in the reference's meta)."""
    import json

    out = []
    for path in files:
        ref = Reference(fs.basename(path).rsplit(".", 1)[0], meta={"source": path})
        skipped = 0
        for n, line in enumerate(fs.read_bytes(path).decode("utf-8", errors="replace").splitlines(), 1):
            try:
                value = json.loads(line).get(column) if line.strip() else None
            except (ValueError, AttributeError):
                value = None
            if isinstance(value, str) and value.strip():
                ref.add_text(value, f"{path}:{n}")
            elif line.strip():
                skipped += 1
        ref.meta["skipped_lines"] = skipped
        out.append(ref)
    return out


class ScreenFn(Stage):
    """Stage ``screen``: an input goes on, or is filtered contaminated / outside the difficulty band."""

    def __init__(self, settings: ScreenSettings, band: dict[str, float] | None = None, sign: bool = False,
                 stage: str = "screen"):
        super().__init__(stage)
        self.settings = settings
        self.band = band
        self.sign = sign  # also emit each kept problem's near-duplicate signature (tagged ``SIGN``)

    def setup(self) -> None:
        super().setup()
        self.matchers: dict[str, Matcher] = {}
        self.user = user_references(self.settings.files, self.settings.column)

    def matcher(self, domain: str) -> Matcher:
        if domain not in self.matchers:
            names = benchmarks_for(self.settings.decontaminate, domain)
            self.matchers[domain] = Matcher([load_bundled(n) for n in names] + self.user)
        return self.matchers[domain]

    def ref(self, element: Any) -> str:
        return getattr(element, "ref", "") or screened(element).id

    def run(self, element: Any) -> Any:
        item = screened(element)
        if self.band is not None:
            rate = self.band.get(item.id)
            if rate is None:
                self.stat("no_difficulty")
            elif self.settings.min_pass is not None and rate < self.settings.min_pass:
                return Filtered("too_hard")
            elif self.settings.max_pass is not None and rate > self.settings.max_pass:
                return Filtered("too_easy")
        hit = self.matcher(item.domain).check(list(item.texts))
        if hit is not None:
            return Filtered(f"contaminated:{hit[0]}", {"id": item.id, "benchmark": hit[0], "match": hit[1]})
        signed = sign(element, item) if self.sign else None
        return Emit(element, TaggedOutput(SIGN, signed)) if signed is not None else element


def near_tokens(problem: str) -> list[str]:
    """The problem's words for the near-duplicate check: normalised, every number masked as 0."""
    return words(_NUMBER.sub("0", normalise(problem)))


def near_signature(problem: str) -> np.ndarray:
    return minhash.signature(minhash.shingles(near_tokens(problem), 3))


def order_of(item_ref: str) -> tuple[str, int]:
    """An input's place: its file and line (``FILE:LINE``), for "the first is kept"."""
    path, _, line = item_ref.rpartition(":")
    return (path, int(line)) if line.isdigit() else (item_ref, 0)


def sign(element: Any, item: Screened) -> tuple[None, tuple[tuple[str, int], str, bytes]] | None:
    """``(None, (order, id, signature))`` of a problem long enough to fingerprint, for ``DecideFn``."""
    if not item.problem:
        return None
    tokens = near_tokens(item.problem)
    if len(tokens) < MIN_NEAR_WORDS:
        return None
    ref = getattr(element, "ref", "") or item.id
    return None, (order_of(ref), item.id, minhash.signature(minhash.shingles(tokens, 3)).tobytes())


class DecideFn(beam.DoFn):
    """Every problem's signature → ``{id: (first id, similarity)}`` for the later copies; the kept
    signatures of this run are added to the folder's state for the next runs."""

    def __init__(self, out_dir: str, run_id: str, threshold: float):
        self.out_dir, self.run_id, self.threshold = out_dir, run_id, threshold

    def process(self, element: tuple[None, Any]) -> Iterator[dict[str, tuple[str, float]]]:
        index = minhash.LSHIndex(self.threshold)
        for name, sig in load_state(self.out_dir):
            index.add(name, sig)
        dups: dict[str, tuple[str, float]] = {}
        kept: list[tuple[str, np.ndarray]] = []
        for _order, ident, raw in sorted(element[1]):
            sig = np.frombuffer(raw, dtype=np.uint32)
            hit = index.query(sig)
            if hit is not None and hit[0] != ident:
                dups[ident] = hit
                continue
            if hit is None:
                index.add(ident, sig)
                kept.append((ident, sig))
        if kept:
            save_state(self.out_dir, self.run_id, kept)
        yield dups


def load_state(out_dir: str) -> list[tuple[str, np.ndarray]]:
    import json

    folder = fs.join(out_dir, NEAR_STATE)
    out = []
    for match in fs.list_files(folder, ".json"):
        try:
            data = json.loads(fs.read_bytes(match.path))
            sigs = np.frombuffer(bytes.fromhex(data["signatures"]), dtype=np.uint32).reshape(-1, minhash.PERMUTATIONS)
            out += list(zip(data["ids"], sigs, strict=True))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged state file: its problems are not compared against (the rows stay)
    return out


def save_state(out_dir: str, run_id: str, kept: list[tuple[str, np.ndarray]]) -> None:
    import json

    data = {"ids": [i for i, _ in kept], "signatures": np.stack([s for _, s in kept]).astype(np.uint32).tobytes().hex()}
    fs.write_text(fs.join(out_dir, NEAR_STATE, f"{run_id}.json"), json.dumps(data), out_dir)


class DropNearDuplicatesFn(Stage):
    """Stage ``near_duplicates``: a later copy of a problem is filtered with the id it duplicates."""

    def __init__(self, stage: str = "near_duplicates"):
        super().__init__(stage)

    def ref(self, element: Any) -> str:
        return getattr(element, "ref", "") or screened(element).id

    def run(self, element: Any, dups: dict[str, tuple[str, float]] | None = None) -> Any:
        ident = element.id if isinstance(element, Trajectory | SFTRow) else screened(element).id
        hit = (dups or {}).get(ident)
        if hit is None:
            return element
        return Filtered("near_duplicate", {"id": ident, "duplicates": hit[0], "similarity": round(hit[1], 3)})


class Screen(beam.PTransform):
    """Inputs → ``{"kept": inputs, DEAD: (dead letters, ...)}``; reports written under ``DIR/reports/``."""

    def __init__(self, settings: ScreenSettings, out_dir: str, run_id: str, band: dict[str, float] | None = None,
                 near: bool = True):
        super().__init__()
        self.settings, self.out_dir, self.run_id, self.band = settings, out_dir, run_id, band
        self.near = near and settings.near_duplicates

    def expand(self, inputs: beam.PCollection) -> dict[str, Any]:
        screen = ScreenFn(self.settings, self.band, sign=self.near)
        checked = inputs | "Screen" >> beam.ParDo(screen).with_outputs(DEAD, REPORT, SIGN, main="kept")
        _ = checked[REPORT] | "ReportContaminated" >> WriteReports(self.out_dir, "contaminated", self.run_id)
        if not self.near:
            return {"kept": checked.kept, DEAD: (checked[DEAD],)}
        decisions = (checked[SIGN] | "Together" >> beam.GroupByKey()
                     | "Decide" >> beam.ParDo(DecideFn(self.out_dir, self.run_id, self.settings.threshold)))
        dups = beam.pvalue.AsSingleton(decisions, default_value={})
        kept = checked.kept | "NearDuplicates" >> beam.ParDo(DropNearDuplicatesFn(), dups=dups).with_outputs(
            DEAD, REPORT, main="kept")
        _ = kept[REPORT] | "ReportNearDuplicates" >> WriteReports(self.out_dir, "near_duplicates", self.run_id)
        return {"kept": kept.kept, DEAD: (checked[DEAD], kept[DEAD])}


def screen_settings(config: Any) -> ScreenSettings:
    """The screening a run's config asks for (``RunConfig``)."""
    return ScreenSettings(config.decontaminate, tuple(config.decontaminate_file), config.decontaminate_column,
                          config.near_duplicates, config.near_duplicate_threshold, config.min_pass, config.max_pass)


def difficulty_band(config: Any) -> dict[str, float] | None:
    """``problem_id → pass_rate`` of the ``--difficulty`` output (its folder, or its ``difficulty/`` shards, or
    one shard), read on the launcher; None without ``--difficulty``. A ConfigError when nothing is there or a
    band is asked for without one."""
    from common.errors import ConfigError

    if config.difficulty is None:
        if config.min_pass is not None or config.max_pass is not None:
            raise ConfigError("--min-pass/--max-pass need --difficulty DIR (the output of `reverse-o1 difficulty`)")
        return None
    path = config.difficulty
    shards = ([path] if path.endswith(".parquet") else
              [m.path for m in fs.list_files(fs.join(path, "difficulty"), ".parquet")] or
              [m.path for m in fs.list_files(path, ".parquet")])
    if not shards:
        raise ConfigError(f"--difficulty {path}: no difficulty shards (run `reverse-o1 difficulty --out {path}` first)")
    band: dict[str, float] = {}
    for shard in shards:
        try:
            table = fs.read_parquet(shard, columns=["problem_id", "pass_rate"])
        except Exception as exc:  # not Parquet, or not a difficulty shard
            raise ConfigError(f"--difficulty {shard}: unreadable difficulty shard ({type(exc).__name__})") from None
        for pid, rate in zip(table.column("problem_id").to_pylist(), table.column("pass_rate").to_pylist(), strict=True):
            if pid is not None and rate is not None:
                band[str(pid)] = float(rate)
    return band


def screen_for(config: Any, ctx: Any, band: bool = False, near: bool = True) -> Screen:
    """The ``Screen`` of a run (``RunConfig``, ``RunContext``): with the difficulty band where the command
    reads seeds (``band``), near-duplicates where its inputs are problems (``near``). A bad benchmark name or a
    missing ``--decontaminate-file`` is a ConfigError here, before any work."""
    from common.decontamination import DOMAINS, ReferenceError
    from common.errors import ConfigError

    try:
        for domain in DOMAINS:
            benchmarks_for(config.decontaminate, domain)
    except ReferenceError as exc:
        raise ConfigError(str(exc)) from None
    for path in config.decontaminate_file:
        if not fs.exists(path):
            raise ConfigError(f"--decontaminate-file {path}: no such file")
    return Screen(screen_settings(config), ctx.out_dir, ctx.run_id, difficulty_band(config) if band else None, near)
