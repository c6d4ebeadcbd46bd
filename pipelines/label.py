"""``reverse-o1 label``: step labels for solutions, as PRM rows (Math-Shepherd and friends).

read (files → records) → seeds (records → unique trajectories) → [gold (``--gold majority``: a gold
answer by majority vote where an input has none, ``pipelines.majority_gold``)] → label (trajectory →
PRM row: Monte Carlo, ``pipelines.label_mc``; an LLM judge, ``pipelines.label_judge``; or both,
kept where they agree, ``pipelines.label_consensus``; each labelling a program on the worker's
engine, many trajectories' requests merged into each backend call) → Parquet shards under ``DIR/prm``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import apache_beam as beam

from common.errors import ConfigError
from pipelines import options
from pipelines.command import PipelineCommand, Requirement
from pipelines.config import RunConfig
from pipelines.io.read import DEAD, ReadRecords
from pipelines.io.shards import WriteShards
from pipelines.label_consensus import consensus_stages
from pipelines.label_judge import judge_stage
from pipelines.label_mc import LABELLERS, LabelFn, label_settings
from pipelines.majority_gold import MajorityGoldFn, majority_settings
from pipelines.runner import RunContext
from pipelines.screen import screen_for
from pipelines.settings import model_settings
from pipelines.trajectories import ToTrajectories

__all__ = ["COMMAND", "LABELLERS", "METHODS", "build_label", "label_settings"]

METHODS = (*LABELLERS, "judge", "consensus")
Stages = Callable[[beam.PCollection, RunConfig, RunContext], tuple[beam.PCollection, list[Any]]]


def mc_stage(solutions: beam.PCollection, config: RunConfig, ctx: RunContext) -> tuple[beam.PCollection, list[Any]]:
    labelled = solutions | "Label" >> beam.ParDo(
        LabelFn(ctx.backend, config.method, label_settings(config), model_settings(config)), done=ctx.existing("prm"),
    ).with_outputs(DEAD, main="rows")
    return labelled.rows, [labelled[DEAD]]


STAGES: dict[str, Stages] = {"shepherd": mc_stage, "binary": mc_stage, "judge": judge_stage, "consensus": consensus_stages}


def build_label(pipeline: beam.Pipeline, config: RunConfig, ctx: RunContext) -> list[beam.PCollection]:
    read = pipeline | "Read" >> ReadRecords(config.input, "read", config.max_record_bytes, config.limit)
    parsed = read["records"] | "Seeds" >> ToTrajectories("seeds", gold_optional=config.gold == "majority")
    screen = parsed["trajectories"] | "Screen" >> screen_for(config, ctx, band=True)
    solutions, dead = screen["kept"], [read[DEAD], parsed[DEAD], screen[DEAD]]
    if config.gold == "majority":
        gold = solutions | "Gold" >> beam.ParDo(MajorityGoldFn(ctx.backend, majority_settings(config))).with_outputs(
            DEAD, main="kept")
        solutions, dead = gold.kept, [*dead, gold[DEAD]]
    rows, more = STAGES[config.method](solutions, config, ctx)
    _ = rows | "WritePRM" >> WriteShards(ctx.out_dir, "prm", ctx.run_id, config.rows_per_shard, ctx.split)
    return [*dead, *more]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", nargs="+", action="extend", help="seeds JSONL / rows (JSONL, JSON, Parquet), files or dirs")
    parser.add_argument("--method", choices=options.config_literal("method"),
                        help="shepherd: n rollouts from every step; binary: OmegaPRM search for the first wrong step; "
                             "judge: an LLM judge's verdict on each step; consensus: MC and the judge, kept where they agree")
    parser.add_argument("--n", type=int, help="completions per probed step (default 8)")
    parser.add_argument("--probe-chunk", dest="probe_chunk", type=int,
                        help="binary: completions per call at a probe, stopping at the first success (default 2)")
    judge_options(parser)
    options.band_options(parser)
    options.common(parser)


def judge_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("the LLM judge, consensus labels, gold answers by majority vote")
    g.add_argument("--judge-model", dest="judge_model", help="judge, consensus: the judge's model (default: --model)")
    g.add_argument("--judge-base-url", dest="judge_base_url",
                   help="judge, consensus: the judge's OpenAI-compatible server (default: --base-url)")
    g.add_argument("--mc-method", dest="mc_method", choices=["shepherd", "binary"],
                   help="consensus: the Monte Carlo labelling beside the judge (default binary)")
    g.add_argument("--consensus", choices=["keep-agreeing", "drop-solution"],
                   help="consensus: a solution where MC and the judge disagree on the first wrong step is kept with "
                        "the disagreeing steps null (keep-agreeing, default) or filtered judge_disagrees (drop-solution)")
    g.add_argument("--gold", choices=["given", "majority"],
                   help="given: an input without a gold answer is dead-lettered no_gold_answer (default); majority: "
                        "its gold is the most common final answer of --gold-samples sampled solutions")
    g.add_argument("--min-majority", dest="min_majority", type=float,
                   help="--gold majority: the least share of the samples the majority answer needs, else the "
                        "input is filtered no_consensus_answer (default 0.5; a tie is never a majority)")
    g.add_argument("--gold-samples", dest="gold_samples", type=int,
                   help="--gold majority: solutions sampled per problem without a gold answer (default 8)")


def check(config: RunConfig) -> None:
    """Options that say something only with another: an error where that other is missing."""
    judged = ("judge", "consensus")
    for name, flag, methods in (("judge_model", "--judge-model", judged), ("judge_base_url", "--judge-base-url", judged),
                                ("mc_method", "--mc-method", ("consensus",)), ("consensus", "--consensus", ("consensus",))):
        if getattr(config, name) is not None and config.method not in methods:
            raise ConfigError(f"{flag} applies to --method {' or '.join(methods)}")
    if config.gold != "majority" and (config.min_majority is not None or config.gold_samples is not None):
        raise ConfigError("--min-majority and --gold-samples apply to --gold majority")


COMMAND = PipelineCommand(
    name="label",
    help="step labels on solutions (seeds or trajectory rows) -> PRM rows",
    add_arguments=add_arguments,
    build=build_label,
    required=(Requirement(lambda c: bool(c.input), "label needs --input FILE_OR_DIR (or input: in --config)"),),
    check=check,
    # one run name per method, so that every method can label into one DIR without one run's
    # manifest entries and dead letters replacing another's
    run_name=lambda c: "label" if c.method == "shepherd" else f"label-{c.method}",
    model_name=lambda c: (c.judge_model or c.model_label()) if c.method == "judge" else None,  # a judge's rows: its model
)
