"""``reverse-o1 export FORMAT DIR``: the command's arguments and its dispatch to each format's module."""

from __future__ import annotations

import argparse
import os

from common.errors import ConfigError
from pipelines.command import Command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="export_format", metavar="FORMAT")
    sub.required = True
    shepherd = sub.add_parser("math-shepherd", help="PRM shards as Math-Shepherd JSONL (input, label, task)")
    shepherd.add_argument("dir", help="an output directory of label or expand")
    shepherd.add_argument("--output", "-o", help="write here (default DIR/math_shepherd.jsonl; - for stdout)")
    shepherd.add_argument("--task", default="GSM8K", help="the task column (default GSM8K)")
    pairs = sub.add_parser("pairs", help="preference pairs (TRL): verified vs unverified trajectories, and step "
                                         "pairs from expand's trees -> DIR/pairs_trajectory, DIR/pairs_step")
    pairs.add_argument("dir", help="an output directory")
    pairs.add_argument("--kind", choices=["both", "trajectory", "step"], default="both")
    pairs.add_argument("--min-margin", dest="min_margin", type=float, default=0.5,
                       help="step pairs: least Q gap (Q in [-1, 1]) between chosen and rejected (default 0.5)")
    pairs.add_argument("--per-prefix", dest="per_prefix", type=int, default=1,
                       help="step pairs per tree node: the K best against the K worst candidates (default 1)")
    pairs.add_argument("--max-pairs-per-problem", dest="max_pairs_per_problem", type=int, default=4,
                       help="trajectory pairs per problem (default 4)")
    sft = sub.add_parser("sft", help="the SFT rows as a config of their own (DIR/sft_verified)")
    sft.add_argument("dir", help="an output directory")
    sft.add_argument("--verified", action="store_true", help="only rows with verified=true (-> DIR/sft_verified)")
    orl = sub.add_parser("openrlhf", help="PRM rows for OpenRLHF's train_prm (<= 0.9.5): input, value -> DIR/openrlhf")
    orl.add_argument("dir", help="an output directory of label or expand")
    orl.add_argument("--soft", action="store_true", help="soft labels (floats) as value, for --reward_tokens + -")


def run(args: argparse.Namespace, unknown: list[str]) -> int:
    if args.export_format == "pairs":
        from pipelines.export.pairs import export_pairs

        return export_pairs(args.dir, args.kind, args.min_margin, args.per_prefix, args.max_pairs_per_problem)
    if args.export_format == "sft":
        from pipelines.export.sft import export_sft

        return export_sft(args.dir, args.verified)
    if args.export_format == "openrlhf":
        from pipelines.export.openrlhf import export_openrlhf

        return export_openrlhf(args.dir, args.soft)
    if args.output and args.output != "-" and os.path.isdir(args.output):  # a missing parent is made
        raise ConfigError(f"--output {args.output}: is a directory")
    from pipelines.export.shepherd import export_math_shepherd

    return export_math_shepherd(args.dir, args.output, args.task)


COMMAND = Command("export", "convert a run's output to other formats", add_arguments, run)
