"""Running one command's pipeline: prepare the output, run on Beam, account, write the card.

Every pipeline command goes through ``run_command`` so that resume, dead letters, the
manifest and the dataset card behave the same everywhere.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.config import RunConfig
from pipelines.io import card, manifest, resume
from pipelines.io.counters import stage_counts
from pipelines.io.shards import WriteDeadLetters


@dataclass
class RunContext:
    """What a pipeline builder needs besides the config: where, which run, what exists."""

    command: str
    out_dir: str
    run_id: str
    existing: dict[str, set[str]]
    notes: list[str] = field(default_factory=list)


@dataclass
class RunSummary:
    command: str
    out_dir: str
    manifest: dict[str, Any]
    wall_seconds: float
    duplicates_dropped: int


# A builder adds its transforms to the pipeline and returns the dead-letter PCollections.
Builder = Callable[[beam.Pipeline, RunConfig, RunContext], list[beam.PCollection]]


def run_command(command: str, config: RunConfig, build: Builder, beam_args: list[str] | None = None,
                model_name: str | None = None, extra: dict[str, Any] | None = None) -> RunSummary:
    out_dir = config.out
    resume.prepare(out_dir)
    ctx = RunContext(
        command=command,
        out_dir=out_dir,
        run_id=f"{command}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}",
        existing={kind: resume.existing_ids(out_dir, kind) for kind in ("sft", "prm")},
    )
    beam_args = list(beam_args or [])
    if not any(a.startswith("--default_sdk_harness_log_level") for a in beam_args):
        beam_args.append("--default_sdk_harness_log_level=WARNING")  # quiet multi-process workers
    options = PipelineOptions(beam_args)
    started = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    dead = build(pipeline, config, ctx)
    if dead:
        _ = (dead | "AllDeadLetters" >> beam.Flatten()) | "WriteDeadLetters" >> WriteDeadLetters(out_dir, ctx.run_id)
    result = pipeline.run()
    result.wait_until_finish()
    wall = time.monotonic() - started
    stages = stage_counts(result)
    dropped = sum(resume.drop_duplicate_rows(out_dir, kind) for kind in ("sft", "prm"))
    resume.remove_stale_dead_letters(out_dir, command, ctx.run_id)
    outputs = {
        "sft_rows": resume.count_rows(out_dir, "sft"),
        "prm_rows": resume.count_rows(out_dir, "prm"),
        "dead_letters": resume.count_dead_letters(out_dir),
    }
    data = manifest.update(
        out_dir, command, stages, config.model_dump(mode="json"), model_name or config.model_label(), wall,
        outputs, ctx.notes, extra,
    )
    card.write(out_dir, data)
    return RunSummary(command, out_dir, data, wall, dropped)
