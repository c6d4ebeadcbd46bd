"""Running one command's pipeline: prepare the output, run on Beam, account, write the card.

Every pipeline command goes through ``run_command`` so that resume, dead letters, the
manifest and the dataset card behave the same everywhere, on any runner and filesystem: the
launcher hands the workers paths, never data it read, and afterwards reads what they wrote.

A stage whose every input failed on the backend (server down, model missing) made nothing: the
run still writes its manifest, dead letters and card, and its summary carries that error once, so
the CLI exits non-zero with it (``StageFailed``) instead of 0 beside "N dead letters".
"""

from __future__ import annotations

import contextlib
import io
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from generators.backends.handle import BackendHandle
from pipelines.config import ConfigError, RunConfig
from pipelines.io import card, fs, manifest, placement, resume
from pipelines.io.counters import read_stage_counts
from pipelines.io.shards import WriteDeadLetters
from pipelines.settings import backend_config, split_settings
from schemas.splits import SplitSettings

BACKEND_ERROR = "backend_error"  # the dead-letter reason of a failed backend call
# how many tries a backend message counts, which differs between the inputs of one failure
_ATTEMPTS = re.compile(r" after \d+ attempts?(?: \([^)]*\))?")


class StageFailed(RuntimeError):
    """Every input of a stage failed on the backend (server down, model missing): the command
    failed (one line, exit 2, as ``pipelines.errors.CANNOT_RUN``), its manifest and dead letters written."""


class NothingWritten(RuntimeError):
    """The run finished but wrote no rows (every input rejected or filtered, or none there): one
    line naming the reasons, exit 3 (its manifest and dead letters are written)."""

    exit_code = 3


@dataclass
class RunContext:
    """What a pipeline builder needs besides the config: where, which run, what exists."""

    command: str
    out_dir: str
    run_id: str
    pipeline: beam.Pipeline
    backend: BackendHandle  # the run's one handle: every DoFn that needs the model shares it
    workers_share_disk: bool = True
    split: SplitSettings = field(default_factory=SplitSettings)  # how rows go to train and test (WriteShards)
    notes: list[str] = field(default_factory=list)
    _existing: dict[str, beam.pvalue.AsSingleton] = field(default_factory=dict)

    def existing(self, kind: str) -> beam.pvalue.AsSingleton:
        """The ids already under ``DIR/KIND`` as a side input (a frozenset), read by the workers once per run."""
        if kind not in self._existing:
            ids = self.pipeline | f"Existing{kind.upper()}" >> resume.ExistingIds(self.out_dir, kind, self.run_id)
            self._existing[kind] = beam.pvalue.AsSingleton(ids)
        return self._existing[kind]

    @property
    def staging_dir(self) -> str:
        """Where the launcher puts what the workers must read (repository snapshots)."""
        return fs.join(self.out_dir, ".staging")


@dataclass
class RunSummary:
    command: str
    out_dir: str
    manifest: dict[str, Any]
    wall_seconds: float
    failure: str | None = None  # every input of a stage failed on the backend: why, in one line
    nothing: str | None = None  # the run wrote no rows: why, in one line


# A builder adds its transforms to the pipeline and returns the dead-letter PCollections (or tuples of them).
Builder = Callable[[beam.Pipeline, RunConfig, RunContext], list[beam.PCollection]]


def pipeline_options(beam_args: list[str] | None) -> PipelineOptions:
    beam_args = list(beam_args or [])
    if not any(a.startswith("--default_sdk_harness_log_level") for a in beam_args):
        beam_args.append("--default_sdk_harness_log_level=WARNING")  # quiet multi-process workers
    options = PipelineOptions(beam_args)
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            options.get_all_options()  # Beam parses lazily: a bad value would exit later with its whole usage text
        except SystemExit:
            lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
            raise ConfigError(lines[-1].split(": error: ", 1)[-1] if lines else "invalid Beam options") from None
    fs.set_options(options)  # the launcher's own reads and writes use the same S3/GCS settings
    return options


def run_command(command: str, config: RunConfig, build: Builder, beam_args: list[str] | None = None,
                model_name: str | None = None) -> RunSummary:
    out_dir = config.out
    if not out_dir:
        raise ConfigError(f"{command} needs --out DIR")
    options = pipeline_options(beam_args)
    share = placement.workers_share_disk(options, config.shared_filesystem)
    placement.check_paths(options, {"--out": [out_dir], "--input": list(config.input)}, config.shared_filesystem)
    resume.prepare(out_dir)
    config = settle_split(out_dir, config)
    started = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    ctx = RunContext(
        command=command,
        out_dir=out_dir,
        run_id=f"{command}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}",
        pipeline=pipeline,
        backend=BackendHandle(backend_config(config)),
        workers_share_disk=share,
        split=split_settings(config),
    )
    dead = build(pipeline, config, ctx)
    for i, letters in enumerate(dead_letter_collections(dead)):
        _ = letters | f"WriteDeadLetters{i}" >> WriteDeadLetters(out_dir, ctx.run_id)
    result = pipeline.run()
    result.wait_until_finish()
    wall = time.monotonic() - started
    stages, counts_from = read_stage_counts(result)
    for kind in resume.KINDS:
        resume.drop_duplicate_rows(out_dir, kind, ctx.run_id)
    resume.remove_stale_dead_letters(out_dir, command, ctx.run_id)
    if not stages:  # a runner without metrics: count what this run left in the output instead
        stages = {"output": resume.run_output_stage(out_dir, ctx.run_id)}
        counts_from += "; stage 'output' counted from this run's shards and dead letters"
    stats = resume.output_stats(out_dir, ctx.run_id)
    set_aside = resume.set_aside_records(out_dir, ctx.run_id)  # by the workers and by output_stats
    notes = ctx.notes + ([set_aside_note(command, out_dir, set_aside)] if set_aside else [])
    failure = backend_failure(out_dir, ctx.run_id, stages)
    extra: dict[str, Any] = {"counts_from": counts_from, **placement.describe(options), "set_aside": set_aside}
    if failure:
        extra["failure"] = failure
    data = manifest.update(
        out_dir, command, stages, config.model_dump(mode="json"), model_name or config.model_label(), wall,
        stats, resume.count_dead_letters(out_dir), notes, extra, split=ctx.split,
    )
    card.write(out_dir, data)
    nothing = None if failure else nothing_written(out_dir, ctx.run_id, stages)
    return RunSummary(command, out_dir, data, wall, failure, nothing)


def dead_letter_collections(dead: list[Any]) -> list[beam.PCollection]:
    """A builder's dead letters, tuples of collections opened. Each is written where it is made
    (fused with the step that makes it): a Flatten of them all made the runner hold every dead letter
    before the first was written (Beam's in-memory runner: 1M dead letters, 1 GB)."""
    found: list[beam.PCollection] = []
    for item in dead:
        found.extend(dead_letter_collections(list(item)) if isinstance(item, (list, tuple)) else [item])
    return found


SPLIT_STATE = ".state/split.json"  # the folder's split, recorded before its first rows are written


def settle_split(out_dir: str, config: RunConfig) -> RunConfig:
    """The config with the split ``out_dir`` already has: one split assignment per directory, so a
    rerun, a resume or another command into it can never put one problem's rows on both sides.

    The split is recorded in ``DIR/.state/split.json`` before the run writes anything (so a run
    killed before its manifest still left it). Unset options take the directory's values; a
    directory that holds rows refuses other values (``ConfigError``): its rows were assigned by them.
    A folder whose shards say they are split but hold no record (written by a version without one)
    must be given the options again.
    """
    state = fs.join(out_dir, SPLIT_STATE)
    try:
        previous = fs.read_json(state) if fs.exists(state) else (manifest.load(out_dir).get("split") or {})
    except (OSError, ValueError):
        previous = {}
    shards = [fs.basename(p) for kind in resume.KINDS for p in resume.shard_files(out_dir, kind)]
    old = SplitSettings(float(previous.get("test_fraction") or 0.0), int(previous.get("seed") or 0)) if shards else None
    split_named = any(name.endswith((".train.parquet", ".test.parquet")) for name in shards)
    if old is not None and not old.enabled and split_named:
        if config.test_fraction is None:
            raise ConfigError(f"{out_dir} holds train/test shards but no record of their split; give the "
                              "--test-fraction and --split-seed of the run that wrote them")
        old = None  # the user says what it was
    fraction = config.test_fraction if config.test_fraction is not None else (old.test_fraction if old else 0.0)
    seed = config.split_seed if config.split_seed is not None else (old.seed if old else 0)
    new = SplitSettings(fraction, seed)
    if old is not None and (new.test_fraction, new.seed if new.enabled else 0) != (old.test_fraction,
                                                                                  old.seed if old.enabled else 0):
        raise ConfigError(f"{out_dir} already holds rows split with --test-fraction {old.test_fraction} --split-seed "
                          f"{old.seed}; rerun with those (or leave them out), or write to a new --out")
    fs.write_json(state, new.to_dict(), out_dir)
    return config.model_copy(update={"test_fraction": fraction, "split_seed": seed})


def nothing_written(out_dir: str, run_id: str, stages: dict[str, dict[str, Any]]) -> str | None:
    """Why this run wrote no rows (nor found any already written), in one line; None when it did."""
    if any(entry.get("resumed", 0) for entry in stages.values()):
        return None
    if resume.run_rows(out_dir, run_id):
        return None
    reasons: Counter[str] = Counter()
    for entry in stages.values():
        reasons.update(entry.get("filtered", {}))
        reasons.update(entry.get("dead_reasons", {}) or ({"dead_lettered": entry["dead_lettered"]}
                                                          if entry.get("dead_lettered") else {}))
    read = max((entry["read"] for entry in stages.values()), default=0)
    if not read:
        return "no rows written: the input held no records"
    top = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common(4))
    more = f" and {len(reasons) - 4} more reasons" if len(reasons) > 4 else ""
    return (f"no rows written: every input was rejected or filtered ({top}{more}); "
            f"see {fs.join(out_dir, 'dead_letter')} and the manifest")


def set_aside_note(command: str, out_dir: str, records: list[dict[str, Any]]) -> str:
    """One line for the console and the manifest's notes: which shards were set aside, and why."""
    shards = "; ".join(f"{r.get('kind')}/{fs.basename(str(r.get('shard')))} ({r.get('reason')})" for r in records)
    return (f"{command}: set aside {len(records)} damaged shard{'s' if len(records) != 1 else ''} in "
            f"{fs.join(out_dir, resume.CORRUPT_DIR)} (their ids are no longer trusted: the command that wrote them makes "
            f"their rows again): {shards}")


def backend_failure(out_dir: str, run_id: str, stages: dict[str, dict[str, Any]]) -> str | None:
    """The error of a stage whose every input this run failed on the backend (its dead letters
    read back), in one line; None when every stage made something, or failed for other reasons."""
    for stage, entry in sorted(stages.items()):
        if not entry["read"] or entry["dead_lettered"] != entry["read"]:
            continue
        errors: Counter[str] = Counter()
        for letter in resume.run_dead_letters(out_dir, run_id):
            if letter.get("stage") == stage:
                if letter.get("reason") != BACKEND_ERROR:
                    break
                errors[_ATTEMPTS.sub("", str(letter.get("error", "")))] += 1
        else:
            if sum(errors.values()) < entry["read"]:
                continue  # letters missing: no verdict
            error, _ = errors.most_common(1)[0]
            others = f" (and {len(errors) - 1} other backend errors)" if len(errors) > 1 else ""
            inputs = f"all {entry['read']} inputs" if entry["read"] > 1 else "the one input"
            return (f"{inputs} of stage {stage!r} failed on the backend: {' '.join(error.split())}{others}; "
                    f"dead letters in {fs.join(out_dir, 'dead_letter')}")
    return None
