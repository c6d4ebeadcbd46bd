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
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from generators.backends.handle import BackendHandle
from pipelines.config import ConfigError, RunConfig
from pipelines.io import bookkeeping, card, fs, manifest, placement, resume
from pipelines.io.shards import WriteDeadLetters
from pipelines.settings import backend_config, split_settings
from pipelines.stage.counters import read_stage_counts
from schemas.splits import SplitSettings


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
                model_name: str | None = None, settings: dict[str, Any] | None = None, uses_llm: bool = True) -> RunSummary:
    """Run ``build``'s pipeline as ``command`` into ``config.out``, then account for it in one call
    (``pipelines.io.bookkeeping``) and write the manifest and the card. ``settings`` are what the
    manifest records as the run's settings (a ``PipelineCommand`` projects them); ``uses_llm`` says
    whether an LLM made the rows (the card names the model only then)."""
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
    run = bookkeeping.account(out_dir, command, ctx.run_id, stages, counts_from)
    extra: dict[str, Any] = {"counts_from": run.counts_from, **placement.describe(options), "set_aside": run.set_aside,
                             "settings": settings or {}, "uses_llm": uses_llm}
    if run.failure:
        extra["failure"] = run.failure
    data = manifest.update(out_dir, command, run.stages, config.model_dump(mode="json"), model_name or config.model_label(),
                           wall, run.stats, run.dead_letters, ctx.notes + run.notes, extra, split=ctx.split,
                           licenses=run.licenses)
    card.write(out_dir, data)
    return RunSummary(command, out_dir, data, wall, run.failure, run.nothing)


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


