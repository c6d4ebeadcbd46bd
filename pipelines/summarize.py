"""``reverse-o1 summarize``: summary-model pairs, a short user-facing summary of each SFT row's hidden CoT.

read (``DIR/sft/*.parquet`` of each ``--input`` folder → records; an unreadable shard is one dead
letter) → parse (record → ``SFTRow``; wrong types or missing columns: dead letter ``bad_sft_row``) →
dedupe (one row per SFT id) → screen (decontamination, as every command) → summarize (per row one
request of ``--samples`` summaries, a program on the worker's engine; each checked by
``generators.summary``: filtered ``answer_mismatch``, ``leaks_cot`` or ``too_long`` when no sample
passes, ``no_cot`` for a row without steps, ``no_row_answer`` for a row without an answer) → one row
per kept summary (``schemas.arrow.SUMMARY_SCHEMA``: ``prompt``, ``cot``, ``summary``, ``answer``,
``messages`` for a summariser's SFT, provenance) → Parquet shards under ``DIR/summaries``. A row already
in DIR (same SFT row, settings, prompt version and model) is resumed.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

import apache_beam as beam

from common.errors import ConfigError
from generators.backends.handle import BackendHandle
from generators.prompts import template
from generators.summary import ANSWER_MISMATCH, Summaries, SummarySettings, render_cot, summary_program
from pipelines import options
from pipelines.command import PipelineCommand, Requirement
from pipelines.config import RunConfig
from pipelines.io import fs
from pipelines.io.read import DEAD, RawRecord, ReadRecords
from pipelines.io.shards import WriteShards
from pipelines.io.unique import KeepFirst
from pipelines.runner import RunContext
from pipelines.screen import screen_for
from pipelines.settings import ModelSettings, model_settings
from pipelines.stage.kernel import RESUMED, Filtered, Rejected, Stage
from pipelines.stage.program_stage import CheckedProgramStage
from schemas.ids import content_id
from schemas.records import SOURCE_FIELDS, GeneratorInfo, SFTRow, Source, Step
from schemas.tags import TagError

KIND = "summaries"
REQUIRED = ("id", "source_kind", "source", "problem", "steps", "answer")  # of SFT_SCHEMA's columns
UNKNOWN_GENERATOR = GeneratorInfo("unknown", "unknown", 0.0, 0, "unknown")


def sft_shards(inputs: list[str]) -> list[str]:
    """The SFT shards of each input: an output folder (its ``sft/*.parquet``), an ``sft`` folder itself, or one
    shard. A ``ConfigError`` (one line, exit 2) for a missing input or one without SFT shards."""
    shards: list[str] = []
    for name in inputs:
        if name.endswith(".parquet") and fs.exists(name) and not fs.is_folder(name):
            shards.append(name)
            continue
        if not fs.is_folder(name):
            raise ConfigError(f"--input {name}: no such folder (summarize reads an output folder's SFT rows, DIR/sft/*.parquet)")
        found = fs.list_files(fs.join(name, "sft"), ".parquet")
        if not found and fs.basename(name) == "sft":
            found = fs.list_files(name, ".parquet")
        if not found:
            raise ConfigError(f"--input {name}: no SFT shards in {fs.join(name, 'sft')} (write SFT rows there first, "
                              f"e.g. reverse-o1 tag --input FILE --column COL --out {name})")
        shards.extend(m.path for m in found)
    return shards


def check_inputs(config: RunConfig) -> None:
    """Before anything runs: every ``--input`` holds SFT shards (else one ``ConfigError`` line)."""
    sft_shards(config.input)


class BadRow(ValueError):
    """A record that is not an SFT row (its message says which column and why)."""


def _text(value: dict[str, Any], column: str, empty: bool = True) -> str:
    item = value[column]
    if not isinstance(item, str) or (not empty and not item.strip()):
        raise BadRow(f"column {column!r} must be a {'' if empty else 'non-empty '}string, got {type(item).__name__}")
    return item


def _steps(value: Any) -> list[Step]:
    if not isinstance(value, list):
        raise BadRow(f"column 'steps' must be a list of {{text, factor}}, got {type(value).__name__}")
    steps = []
    for i, step in enumerate(value):
        if not isinstance(step, dict) or not isinstance(step.get("text"), str) \
                or not isinstance(step.get("factor"), str | type(None)):
            raise BadRow(f"steps[{i}] must be {{text: string, factor: string or null}}, got {str(step)[:80]}")
        steps.append(Step(step["text"], step.get("factor")))
    return steps


def _source(value: Any) -> Source:
    if not isinstance(value, dict) or not isinstance(value.get("uri"), str):
        raise BadRow(f"column 'source' must be a {{uri, ...}} struct with a string uri, got {str(value)[:80]}")
    fields = {k: value.get(k) for k in SOURCE_FIELDS}
    bad = [k for k, v in fields.items() if not isinstance(v, str | type(None))]
    if bad:
        raise BadRow(f"source.{bad[0]} must be a string or null, got {type(fields[bad[0]]).__name__}")
    return Source(**fields)


def _generator(value: Any) -> GeneratorInfo:
    names = GeneratorInfo.__dataclass_fields__
    if isinstance(value, dict) and all(value.get(k) is not None for k in names):
        return GeneratorInfo(**{k: value[k] for k in names})
    return UNKNOWN_GENERATOR  # not what a summary row records (its own generator is): kept loose


def sft_row(value: Any) -> SFTRow:
    """An SFT row's columns (``schemas.arrow.SFT_SCHEMA``) as an ``SFTRow``; ``BadRow`` for wrong types or
    missing columns. A null answer is an empty one (filtered ``no_row_answer`` later)."""
    if not isinstance(value, dict):
        raise BadRow(f"an SFT row must be a mapping of columns, got {type(value).__name__}")
    missing = [c for c in REQUIRED if c not in value]
    if missing:
        raise BadRow(f"missing columns {', '.join(missing)} (not an SFT row: see schemas.arrow.SFT_SCHEMA)")
    answer = "" if value["answer"] is None else _text(value, "answer")
    verifier, detail = value.get("verifier"), value.get("verifier_detail")
    return SFTRow(id=_text(value, "id", empty=False), source_kind=_text(value, "source_kind"), source=_source(value["source"]),
                  problem=_text(value, "problem", empty=False), steps=_steps(value["steps"]), answer=answer, messages=[],
                  verified=value.get("verified") is True, verifier=verifier if isinstance(verifier, str) else "none",
                  verifier_detail=detail if isinstance(detail, str) else "", generator=_generator(value.get("generator")))


class ParseSFTFn(Stage):
    """Stage ``parse``: a record of an SFT shard → ``(id, (order, SFTRow))`` for the dedupe, or a dead letter."""

    failure = "bad_sft_row"

    def ref(self, record: RawRecord) -> str:
        return record.ref

    def preview(self, record: RawRecord) -> Any:
        return record.value

    def run(self, record: RawRecord) -> Any:
        try:
            row = sft_row(record.value)
        except BadRow as exc:
            return Rejected("bad_sft_row", str(exc), record.value, ref=record.ref)
        return row.id, (record.order, row)


def summary_settings(config: RunConfig) -> SummarySettings:
    return SummarySettings(samples=config.samples, temperature=config.temperature, max_new_tokens=config.max_new_tokens,
                           seed=config.seed, max_copied=config.max_copied, max_ratio=config.max_ratio)


def summary_row_id(row: SFTRow, settings: SummarySettings, model: ModelSettings) -> str:
    """Deterministic: the same SFT row, settings (samples, seed, thresholds...), prompt version and model."""
    return content_id(KIND, row.id, settings, template(settings.template).id, model.backend, model.model)


class SummarizeFn(CheckedProgramStage):
    """SFT row → its summary row: ``samples`` summaries in one request, as a program on the worker's engine
    (many rows' requests in one backend call); the first that passes the checks is kept."""

    failure = "summary_error"

    def __init__(self, handle: BackendHandle, settings: SummarySettings, model: ModelSettings, stage: str = "summarize"):
        super().__init__(stage, handle)
        self.settings = settings
        self.model = model

    def start(self, row: SFTRow, done: frozenset[str] = frozenset()) -> Any:
        if summary_row_id(row, self.settings, self.model) in done:
            return RESUMED
        if not row.steps:
            return Filtered("no_cot")
        if not row.answer.strip():
            return Filtered("no_row_answer")
        try:
            render_cot(row.steps)
        except TagError as exc:
            return Rejected("untagged_cot", f"the hidden CoT cannot be rendered with its tags: {exc}", row.id)
        return summary_program(row, self.verifier, self.settings)

    def finish(self, row: SFTRow, summaries: Summaries) -> Any:
        self.stat("samples", len(summaries.texts))
        self.stat("generated_tokens", sum(summaries.tokens))
        self.stat("summaries_without_answer", sum(c.answer is None for c in summaries.checks))
        self.stat("summaries_truncated", sum(summaries.truncated))
        kept = summaries.kept
        if self.settings.samples > 1:  # every sample before the kept one (all, when none is); one sample: the filter says it
            for check in summaries.checks[:kept]:
                self.stat(f"rejected:{check.reason}")
        if kept is None:
            return Filtered(summaries.reason or ANSWER_MISMATCH)
        text, check, s = summaries.texts[kept], summaries.checks[kept], self.settings
        generator = GeneratorInfo(self.model.backend, self.engine().backend.model_name, s.temperature, s.seed,
                                  template(s.template).id)
        return {
            "prompt": row.problem, "cot": render_cot(row.steps), "summary": text, "answer": row.answer,
            "messages": [*summaries.prompt, {"role": "assistant", "content": text}],
            "id": summary_row_id(row, s, self.model), "sft_id": row.id, "summary_answer": check.answer,
            "copied": check.copied, "length_ratio": check.ratio, "sample": kept, "sft_verified": row.verified,
            "source_kind": row.source_kind, "source": asdict(row.source), "generator": asdict(generator),
        }


def build_summarize(pipeline: beam.Pipeline, config: RunConfig, ctx: RunContext) -> list[beam.PCollection]:
    read = pipeline | "Read" >> ReadRecords(sft_shards(config.input), "read", config.max_record_bytes, config.limit)
    parsed = read["records"] | "Parse" >> beam.ParDo(ParseSFTFn("parse")).with_outputs(DEAD, main="rows")
    unique = parsed.rows | "Dedupe" >> KeepFirst("dedupe")
    screen = unique["kept"] | "Screen" >> screen_for(config, ctx, near=False)
    summed = screen["kept"] | "Summarize" >> beam.ParDo(
        SummarizeFn(ctx.backend, summary_settings(config), model_settings(config)), done=ctx.existing(KIND),
    ).with_outputs(DEAD, main="rows")
    _ = summed.rows | "WriteSummaries" >> WriteShards(ctx.out_dir, KIND, ctx.run_id, config.rows_per_shard, ctx.split)
    return [read[DEAD], parsed[DEAD], unique[DEAD], screen[DEAD], summed[DEAD]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", nargs="+", action="extend",
                        help="output folders whose SFT rows (DIR/sft/*.parquet) get summaries (or sft folders, or shards)")
    g = parser.add_argument_group("summaries")
    g.add_argument("--samples", type=int, metavar="K",
                   help="summaries drawn per row in one request; the first that passes is kept (default 1)")
    g.add_argument("--max-copied", dest="max_copied", type=float, metavar="SHARE",
                   help="most of the CoT's words a summary may copy, as the share of them inside a word 6-gram the "
                        "summary holds too (else filtered leaks_cot, as for any tag in it; default 0.5)")
    g.add_argument("--max-ratio", dest="max_ratio", type=float, metavar="R",
                   help="a summary must have fewer characters than R times the CoT's text (else filtered too_long; "
                        "default 0.8)")
    options.common(parser)


COMMAND = PipelineCommand(
    name="summarize",
    help="a short user-facing summary of each SFT row's hidden CoT (answer, leak and length checked) -> summaries rows",
    add_arguments=add_arguments,
    build=build_summarize,
    required=(Requirement(lambda c: bool(c.input), "summarize needs --input DIR, an output folder with SFT rows "
                                                   "(or input: in --config)"),),
    check=check_inputs,
)
