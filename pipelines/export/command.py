"""``reverse-o1 export FORMAT DIR``: the command's arguments and its dispatch to each format's module."""

from __future__ import annotations

import argparse
import os

from common.errors import ConfigError
from pipelines.command import Command

# consensus labels are Monte Carlo labels a judge agreed with: measured; a judge's alone are an opinion
MEASURED = "shepherd,binary,consensus"
METHODS = ("shepherd", "binary", "consensus", "mcts", "judge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="export_format", metavar="FORMAT")
    sub.required = True
    shepherd = sub.add_parser("math-shepherd", help="PRM shards as Math-Shepherd JSONL (input, label, task)")
    shepherd.add_argument("dir", help="an output directory of label or expand")
    shepherd.add_argument("--output", "-o", help="write here (default DIR/math_shepherd.jsonl; - for stdout)")
    shepherd.add_argument("--task", default="GSM8K", help="the task column (default GSM8K)")
    _label_choice(shepherd)
    pairs = sub.add_parser("pairs", help="preference pairs (TRL): verified vs unverified trajectories, and step "
                                         "pairs from expand's trees -> DIR/pairs_trajectory, DIR/pairs_step")
    pairs.add_argument("dir", help="an output directory")
    pairs.add_argument("--kind", choices=["both", "trajectory", "step"], default="both")
    pairs.add_argument("--rule", choices=["rstar", "q-gap"], default="rstar",
                       help="step pairs: rstar (rStar-Math: the highest-Q candidates with a correct trajectory below "
                            "against the lowest-Q ones with a wrong one; default) or q-gap (highest against lowest Q)")
    pairs.add_argument("--min-visits", dest="min_visits", type=int, default=2,
                       help="step pairs: least visits of either candidate, so a Q from one visit does not count (default 2)")
    pairs.add_argument("--min-margin", dest="min_margin", type=float, default=0.5,
                       help="step pairs, --rule q-gap: least Q gap (Q in [-1, 1]) between chosen and rejected (default 0.5)")
    pairs.add_argument("--per-prefix", dest="per_prefix", type=int, default=None,
                       help="step pairs per tree node: the K best against the K worst candidates "
                            "(default 2 for rstar, 1 for q-gap)")
    pairs.add_argument("--max-pairs-per-problem", dest="max_pairs_per_problem", type=int, default=4,
                       help="trajectory pairs per problem (default 4)")
    sft = sub.add_parser("sft", help="the SFT rows as a config of their own (DIR/sft_verified)")
    sft.add_argument("dir", help="an output directory")
    sft.add_argument("--verified", action="store_true", help="only rows with verified=true (-> DIR/sft_verified)")
    orl = sub.add_parser("openrlhf", help="PRM rows for OpenRLHF's train_prm (<= 0.9.5): input, value -> DIR/openrlhf")
    orl.add_argument("dir", help="an output directory of label or expand")
    orl.add_argument("--soft", action="store_true", help="soft labels (floats) as value, for --reward_tokens + -")
    _label_choice(orl)
    prm = sub.add_parser("prm", help="PRM rows for TRL's PRMTrainer, a measured label on every step -> DIR/prm_trl")
    prm.add_argument("dir", help="an output directory of label or expand")
    _label_choice(prm)
    pv = sub.add_parser("policy-value", help="AlphaZero policy and value targets over thought factors from expand's "
                                             "trees (expand --factor-actions) -> DIR/policy_value")
    pv.add_argument("dir", help="an output directory of expand")
    pv.add_argument("--min-visits", dest="min_visits", type=int, default=1,
                    help="least visits of a state for its row (default 1: every expanded state)")
    rl = sub.add_parser("rl", help="GRPO/PPO prompt sets (TRL GRPOTrainer columns) from difficulty's rows -> DIR/rl")
    rl.add_argument("dir", help="an output directory of difficulty")
    rl.add_argument("--min-pass", dest="min_pass", type=float, default=None,
                    help="keep problems with pass_rate >= this (default: > 0, i.e. solved at least once)")
    rl.add_argument("--max-pass", dest="max_pass", type=float, default=None,
                    help="keep problems with pass_rate <= this (default: < 1, i.e. not always solved)")
    orm = sub.add_parser("orm", help="outcome reward model rows: the k completions per problem with 0/1 labels -> DIR/orm")
    orm.add_argument("dir", help="an output directory of difficulty")
    sc = sub.add_parser("self-correction", help="prefix + wrong step + a SelfCorrect step written by the model + a "
                                                "verified continuation, from expand's trees -> DIR/self_correction")
    sc.add_argument("dir", help="an output directory of expand")
    sc.add_argument("--max-per-problem", dest="max_per_problem", type=int, default=2,
                    help="rows per problem (default 2)")
    _model_options(sc)


def _label_choice(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", dest="methods", default=MEASURED,
                        help="labelling methods to export, comma-separated: shepherd, binary, consensus, mcts, judge, "
                             f"or all (default {MEASURED}: the measured ones; mcts rows label only what their tree "
                             "measured, judge rows are a model's opinion)")
    parser.add_argument("--unmeasured", choices=["drop", "cut"], default="drop",
                        help="a row with a step nothing measured (null label): dropped (default), or cut before that "
                             "step (kept when a labelled step is left)")


def _model_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("the model that writes (as every command's)")
    g.add_argument("--config", help="YAML file of options; flags given here win")
    g.add_argument("--backend", help="LLM backend (default transformers; 'scripted' is a test double)")
    g.add_argument("--model", help="model name or path (default: the embedded SmolLM2-135M-Instruct)")
    g.add_argument("--base-url", dest="base_url", help="OpenAI-compatible server URL")
    g.add_argument("--temperature", type=float)
    g.add_argument("--max-new-tokens", dest="max_new_tokens", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--factors", help="thought-factor vocabulary YAML (default: the built-in one)")


def methods(value: str) -> tuple[str, ...]:
    """``--method``'s value as method names; ConfigError for an unknown one."""
    names = METHODS if value.strip() == "all" else tuple(m.strip() for m in value.split(",") if m.strip())
    unknown = sorted(set(names) - set(METHODS))
    if unknown or not names:
        raise ConfigError(f"--method {value}: unknown method {', '.join(unknown) or '(none)'}; "
                          f"choose from {', '.join(METHODS)}, all")
    return names


def model_config(args: argparse.Namespace):  # -> RunConfig
    """The run config of an export that calls a model: its flags over ``--config``'s file."""
    from pipelines.command import CONFIG_KEYS
    from pipelines.config import build_config

    flags = {k: v for k, v in vars(args).items() if k in CONFIG_KEYS and v is not None}
    return build_config(flags, getattr(args, "config", None))


def run(args: argparse.Namespace, unknown: list[str]) -> int:
    if args.export_format == "pairs":
        from pipelines.export.pairs import export_pairs

        per_prefix = args.per_prefix if args.per_prefix is not None else (2 if args.rule == "rstar" else 1)
        return export_pairs(args.dir, args.kind, args.min_margin, per_prefix, args.max_pairs_per_problem,
                            rule=args.rule, min_visits=args.min_visits)
    if args.export_format == "sft":
        from pipelines.export.sft import export_sft

        return export_sft(args.dir, args.verified)
    if args.export_format == "openrlhf":
        from pipelines.export.openrlhf import export_openrlhf

        return export_openrlhf(args.dir, args.soft, methods(args.methods), args.unmeasured)
    if args.export_format == "prm":
        from pipelines.export.prm_trl import export_prm

        return export_prm(args.dir, methods(args.methods), args.unmeasured)
    if args.export_format == "policy-value":
        from pipelines.export.policy_value import export_policy_value

        return export_policy_value(args.dir, args.min_visits)
    if args.export_format == "rl":
        from pipelines.export.rl import export_rl

        return export_rl(args.dir, args.min_pass, args.max_pass)
    if args.export_format == "orm":
        from pipelines.export.orm import export_orm

        return export_orm(args.dir)
    if args.export_format == "self-correction":
        from pipelines.export.self_correction import export_self_correction

        return export_self_correction(args.dir, model_config(args), args.max_per_problem)
    if args.output and args.output != "-" and os.path.isdir(args.output):  # a missing parent is made
        raise ConfigError(f"--output {args.output}: is a directory")
    from pipelines.export.shepherd import export_math_shepherd

    return export_math_shepherd(args.dir, args.output, args.task, methods(args.methods), args.unmeasured)


COMMAND = Command("export", "convert a run's output to other formats", add_arguments, run)
