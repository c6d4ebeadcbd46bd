"""The ``reverse-o1`` command line (also ``python -m pipelines``).

Options a command does not know go to Beam's ``PipelineOptions`` unchanged (``--runner``,
``--direct_num_workers``, ...). Exit 0 on success. A typed error that means "cannot run like this"
(a ``ConfigError``: a bad option, input or output; no sandbox, no Lean, a bad repository, a local
path the workers can't see, an unusable ``--factors`` file) is one line and exit 2. Anything else
is a failure of the tool itself (a bug, a corrupt file deep in a read): one summary line naming a
log file that holds the traceback, exit 1; with ``--debug`` the traceback is printed instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, get_args

from generators.backends.registry import BACKENDS
from pipelines.config import ConfigError, RunConfig, build_config, with_worker_threads
from pipelines.errors import internal_error, typed_errors

PROG = "reverse-o1"
DEBUG_HELP = "on an internal error, print its traceback (else it goes to a log file under the cache)"

class RegistryNames(Sequence[str]):
    """argparse choices read from a registry when first needed (a value to check, a --help to
    print), so that starting the CLI imports none of the registries' packages."""

    def __init__(self, load: Callable[[], Iterable[str]]):
        self._load = load
        self._names: tuple[str, ...] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        if self._names is None:
            self._names = tuple(self._load())
        return self._names

    def __getitem__(self, index: Any) -> Any:
        return self.names[index]

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"RegistryNames({list(self.names)!r})"


def _tagger_tiers() -> Iterable[str]:
    from generators.tagging import TIERS

    return TIERS


def _sandbox_names() -> Iterable[str]:
    from verifiers.sandbox.select import BACKENDS as SANDBOXES

    # "none" (no isolation) is never chosen by name: --unsafe-no-sandbox allows it as the last resort
    return ["auto", *(name for name in SANDBOXES if name != "none")]


def _seed_formats() -> Iterable[str]:
    from schemas.seed_import import IMPORTERS

    return IMPORTERS


def _config_literal(field: str) -> list[str]:
    """The values RunConfig accepts for a Literal field (the ones a --config file may give too)."""
    return list(get_args(RunConfig.model_fields[field].annotation))


def _choices(action: argparse.Action, names: Sequence[str]) -> None:
    # set after add_argument: argparse formats the choices there (for the metavar check), which
    # would load a lazy registry at start-up
    action.choices = names


def _common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("common options (also from --config FILE.yaml)")
    g.add_argument("--config", help="YAML file of options; flags given here win")
    g.add_argument("--out", help="output directory (required; local, gs:// or s3://)")
    g.add_argument("--backend", choices=list(BACKENDS),
                   help="LLM backend (default transformers; 'scripted' is a test double)")
    g.add_argument("--model", help="model name or path (default: the embedded SmolLM2-135M-Instruct)")
    g.add_argument("--base-url", dest="base_url", help="OpenAI-compatible server URL, e.g. http://localhost:8000/v1")
    g.add_argument("--temperature", type=float)
    g.add_argument("--max-new-tokens", dest="max_new_tokens", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--limit", type=int, help="take only the first N inputs (a trial run)")
    g.add_argument("--max-batch-size", dest="max_batch_size", type=int,
                   help="rows of one generate call of a local model (transformers; default 16)")
    g.add_argument("--max-concurrency", dest="max_concurrency", type=int,
                   help="requests in flight at once (openai; default 64)")
    g.add_argument("--inflight", type=int,
                   help="elements each worker's generation engine runs at once, their requests merged into large "
                        "backend calls (default sized to the backend: 256 for openai and vllm, 4 x the batch for transformers)")
    g.add_argument("--vllm-arg", dest="vllm_arg", action="append", metavar="KEY=VALUE",
                   help="a vllm.EngineArgs argument for --backend vllm (repeatable; e.g. tensor_parallel_size=2, "
                        "gpu_memory_utilization=0.9, max_model_len=32768, dtype=bfloat16, quantization=awq); "
                        "also a vllm: mapping in --config")
    g.add_argument("--max-batch-sequences", dest="max_batch_sequences", type=int,
                   help="sequences per backend call (default the backend's best: its batch for transformers, "
                        "1024 for vllm, one request per call for openai)")
    g.add_argument("--request-timeout", dest="request_timeout", type=float)
    g.add_argument("--max-retries", dest="max_retries", type=int)
    g.add_argument("--threads", type=int, help="torch threads per worker process")
    g.add_argument("--prompt-budget", dest="prompt_budget", type=int,
                   help="most prompt tokens a request may have; a longer one filters its input prompt_too_long "
                        "(default: the model's context minus max_new_tokens; openai: the server's reported "
                        "context, else 8192 assumed)")
    g.add_argument("--rows-per-shard", dest="rows_per_shard", type=int)
    g.add_argument("--max-record-bytes", dest="max_record_bytes", type=int)
    g.add_argument("--shared-filesystem", dest="shared_filesystem", action="store_true", default=None,
                   help="the runner's workers see this machine's local paths (else a local --out/--input is refused "
                        "on a runner whose workers have their own disk)")
    g.add_argument("--quiet", action="store_true", default=None, help="no progress bars (drawn only on a terminal)")
    g.add_argument("--test-fraction", dest="test_fraction", type=float,
                   help="put this fraction of the problems (whole: every row made from one) in a test split "
                        "(default 0: all train; a rerun into DIR keeps DIR's split)")
    g.add_argument("--split-seed", dest="split_seed", type=int, help="which problems go to test (default 0)")
    g.add_argument("--factors", help="thought-factor vocabulary YAML (default: the built-in one)")
    _choices(g.add_argument("--tagger", help="how steps get their factor (default rules)"), RegistryNames(_tagger_tiers))


def _sft_options(parser: argparse.ArgumentParser) -> None:
    """Options of the commands that write SFT rows."""
    parser.add_argument("--only-verified", dest="only_verified", action="store_true", default=None,
                        help="write only SFT rows whose answer was verified (default: keep them too, verified=false; "
                             "PRM rows keep both)")


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("sandbox (where code from repositories and models runs)")
    _choices(g.add_argument("--sandbox", help="isolation (default auto: bwrap, else refuse; unshare only with"
                                              " --unsafe-no-sandbox)"), RegistryNames(_sandbox_names))
    g.add_argument("--unsafe-no-sandbox", dest="unsafe_no_sandbox", action="store_true", default=None,
                   help="where bwrap is missing, run code under unshare (no filesystem isolation) or unisolated"
                        " (only code you trust)")
    g.add_argument("--sandbox-timeout", dest="sandbox_timeout", type=float, help="wall seconds per execution (default 10)")
    g.add_argument("--sandbox-memory-mb", dest="sandbox_memory_mb", type=int,
                   help="memory per execution: the whole process tree where a cgroup can be made, else per process"
                        " (default 1024)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Synthetic chain-of-thought data pipelines on Apache Beam.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    label = sub.add_parser("label", help="step labels on solutions (seeds or trajectory rows) -> PRM rows")
    label.add_argument("--input", nargs="+", action="extend", help="seeds JSONL / rows (JSONL, JSON, Parquet), files or dirs")
    # the labellers' registry (pipelines.label.LABELLERS) imports Beam and torch: too slow for --help
    label.add_argument("--method", choices=_config_literal("method"),
                       help="shepherd: n rollouts from every step; binary: OmegaPRM search for the first wrong step")
    label.add_argument("--n", type=int, help="completions per probed step (default 8)")
    label.add_argument("--probe-chunk", dest="probe_chunk", type=int,
                       help="binary: completions per call at a probe, stopping at the first success (default 2)")
    _common(label)

    expand = sub.add_parser("expand", help="MCTS from every cut of human-annotated solutions -> SFT and PRM rows")
    expand.add_argument("--seeds", dest="input", nargs="+", action="extend", help="seed JSONL files (seeds template)")
    expand.add_argument("--cuts", help="which prefixes become roots: all | first | random:K (default all)")
    expand.add_argument("--branching", type=int, help="candidate next steps per expansion, one batch (default 4)")
    expand.add_argument("--c-puct", dest="c_puct", type=float, help="PUCT exploration constant (default 1.5)")
    expand.add_argument("--simulations", type=int, help="select-expand-evaluate-backup rounds per root (default 16)")
    expand.add_argument("--parallel-leaves", dest="parallel_leaves", type=int,
                        help="leaves selected per tree and round, each path given a virtual loss, so one search fills "
                             "a large batch (default 1: the plain search; K > 1 gives other trees and row ids)")
    expand.add_argument("--max-depth", dest="max_depth", type=int, help="steps the tree may add below a root (default 12)")
    expand.add_argument("--factor-actions", dest="factor_actions", action="store_true", default=None,
                        help="the search picks each step's thought factor as part of the action")
    _sft_options(expand)
    _common(expand)

    lean = sub.add_parser("lean-cot", help="math CoT from Lean proofs (LeanDojo JSON, whole-proof JSONL, a traced repo)")
    lean.add_argument("--input", nargs="+", action="extend",
                      help="LeanDojo Benchmark JSON file or dir, miniF2F-style whole-proof JSONL, or a traced repo dir")
    lean.add_argument("--lean-repo", dest="lean_repo", help="URL@COMMIT to trace with lean_dojo (needs Lean and the network)")
    lean.add_argument("--thought-samples", dest="thought_samples", type=int,
                      help="candidate thoughts per tactic; the first that does not leak the tactic is kept (default 2)")
    _sft_options(lean)
    _common(lean)

    code = sub.add_parser("code-cot", help="code CoT reverse-generated from functions of git repositories -> SFT rows")
    code.add_argument("--repo", nargs="+", action="extend",
                      help="PATH_OR_GIT_URL[@REV]: a directory, a local git repo (at REV, default HEAD) or a URL to clone")
    code.add_argument("--repo-cache", dest="repo_cache",
                      help="where clones and snapshots go (default ~/.cache/reverse-o1/repos); on a runner whose "
                           "workers have their own disk, the workers' cache (the launcher clones into its default)")
    code.add_argument("--max-file-bytes", dest="max_file_bytes", type=int,
                      help="skip larger source files (default 1000000, at most 16 MiB)")
    code.add_argument("--max-snapshot-bytes", dest="max_snapshot_bytes", type=int,
                      help="bytes of files one repository snapshot may unpack; a larger one is filtered "
                           "snapshot_too_large (default 512 MiB)")
    code.add_argument("--max-snapshot-files", dest="max_snapshot_files", type=int,
                      help="files, folders and links one snapshot may unpack (default 100000)")
    code.add_argument("--cot-samples", dest="cot_samples", type=int,
                      help="candidate CoTs per function; the first without hindsight is kept (default 2)")
    _sandbox_options(code)
    _sft_options(code)
    _common(code)

    tag = sub.add_parser("tag", help="segment and tag existing CoT text (JSONL or Parquet) -> SFT rows")
    tag.add_argument("--input", nargs="+", action="extend", help="JSONL or Parquet files or dirs")
    tag.add_argument("--column", help="the column holding the CoT text")
    _sft_options(tag)
    _common(tag)

    export = sub.add_parser("export", help="convert a run's output to other formats")
    export_sub = export.add_subparsers(dest="export_format", metavar="FORMAT")
    export_sub.required = True
    shepherd = export_sub.add_parser("math-shepherd", help="PRM shards as Math-Shepherd JSONL (input, label, task)")
    shepherd.add_argument("dir", help="an output directory of label or expand")
    shepherd.add_argument("--output", "-o", help="write here (default DIR/math_shepherd.jsonl; - for stdout)")
    shepherd.add_argument("--task", default="GSM8K", help="the task column (default GSM8K)")
    pairs = export_sub.add_parser("pairs", help="preference pairs (TRL): verified vs unverified trajectories, and step "
                                                "pairs from expand's trees -> DIR/pairs_trajectory, DIR/pairs_step")
    pairs.add_argument("dir", help="an output directory")
    pairs.add_argument("--kind", choices=["both", "trajectory", "step"], default="both")
    pairs.add_argument("--min-margin", dest="min_margin", type=float, default=0.5,
                       help="step pairs: least Q gap (Q in [-1, 1]) between chosen and rejected (default 0.5)")
    pairs.add_argument("--per-prefix", dest="per_prefix", type=int, default=1,
                       help="step pairs per tree node: the K best against the K worst candidates (default 1)")
    pairs.add_argument("--max-pairs-per-problem", dest="max_pairs_per_problem", type=int, default=4,
                       help="trajectory pairs per problem (default 4)")
    sft_export = export_sub.add_parser("sft", help="the SFT rows as a config of their own (DIR/sft_verified)")
    sft_export.add_argument("dir", help="an output directory")
    sft_export.add_argument("--verified", action="store_true", help="only rows with verified=true (-> DIR/sft_verified)")
    orl = export_sub.add_parser("openrlhf", help="PRM rows for OpenRLHF's train_prm (<= 0.9.5): input, value -> DIR/openrlhf")
    orl.add_argument("dir", help="an output directory of label or expand")
    orl.add_argument("--soft", action="store_true", help="soft labels (floats) as value, for --reward_tokens + -")

    seeds = sub.add_parser("seeds", help="annotator tools: validate, import, template")
    seeds_sub = seeds.add_subparsers(dest="seeds_command", metavar="ACTION")
    seeds_sub.required = True
    validate = seeds_sub.add_parser("validate", help="check a seed file; every problem as FILE:LINE: field: message")
    validate.add_argument("file")
    validate.add_argument("--factors", help="thought-factor vocabulary YAML that step factors must come from "
                                            "(default: the built-in one)")
    imp = seeds_sub.add_parser("import", help="turn GSM8K or PRM800K JSONL into seeds (JSONL on stdout)")
    _choices(imp.add_argument("--format", required=True), RegistryNames(_seed_formats))
    imp.add_argument("file")
    imp.add_argument("--output", "-o", help="write here instead of stdout")
    seeds_sub.add_parser("template", help="print a commented example seed")

    verify = sub.add_parser("verify", help="one verification, JSON on stdout")
    verify_sub = verify.add_subparsers(dest="verify_command", metavar="KIND")
    verify_sub.required = True
    math = verify_sub.add_parser("math", help="is ANSWER (or the final answer in --text) equal to GOLD?")
    math.add_argument("--gold", required=True)
    group = math.add_mutually_exclusive_group(required=True)
    group.add_argument("--answer")
    group.add_argument("--text", help="free text; its final answer is extracted")

    code_check = verify_sub.add_parser("code", help="run a tests file with a code file beside it as solution.py, sandboxed")
    code_check.add_argument("--code", required=True, help="the code under test (becomes solution.py)")
    code_check.add_argument("--tests", required=True, help="a test file: module code, then every test_* function")
    code_check.add_argument("--max-file-bytes", dest="max_file_bytes", type=int,
                            help="refuse larger code or test files (default 1000000)")
    _sandbox_options(code_check)

    from pipelines import tokenizer_cli

    tokenizer = sub.add_parser("tokenizer", help="a tokenizer (and model) with the tag vocabulary as special tokens")
    tokenizer_cli.add_arguments(tokenizer)

    from pipelines.studio import cli as studio_cli

    studio = sub.add_parser("studio", help="the annotators' web app: seed editor, step review, trees, agreement, report")
    studio_cli.add_arguments(studio)

    evaluate = sub.add_parser("eval", help="measure a dataset against human judgement")
    eval_sub = evaluate.add_subparsers(dest="eval_command", metavar="WHAT")
    eval_sub.required = True
    from pipelines import eval_labels

    agreement = eval_sub.add_parser("labels", help="how the generated step labels agree with human ones (studio or PRM800K)")
    eval_labels.add_arguments(agreement)

    from pipelines.report import cli as report_cli

    report = sub.add_parser("report", help="a self-contained HTML report of an output folder, in pictures")
    report_cli.add_arguments(report)

    demo = sub.add_parser("demo", help="run every pipeline on the bundled samples with the embedded model")
    demo.add_argument("--problems", type=int, default=None, help="GSM8K problems to label (default 3)")
    demo.add_argument("--n", type=int, help="completions per step (default 4 in the demo)")
    _sft_options(demo)
    _common(demo)

    parser.add_argument("--debug", action="store_true", default=False, help=DEBUG_HELP)
    _debug_everywhere(parser)
    return parser



def _debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """``--debug`` after any command too (``reverse-o1 tag --debug ...``). SUPPRESS as the default,
    so that a subcommand without it keeps a ``--debug`` given before the command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
                _debug_everywhere(sub)


CONFIG_KEYS = set(RunConfig.model_fields) | {"vllm_arg"}  # --vllm-arg: merged into the vllm: mapping


def unknown_to_beam(args: list[str]) -> list[str]:
    """The flags among ``args`` that no Beam ``PipelineOptions`` class defines (typos), as given.

    Every runner's Python options are known: those of Direct, Dataflow, Portable, Flink, Spark,
    Prism and Kafka Streams, of the filesystems (GCS, S3, Azure, HDFS) and of setup, workers and
    debugging live in ``apache_beam.options.pipeline_options``; the few runner modules that define
    more are imported here, each optional (a runner whose dependencies are missing, e.g. Dask,
    is skipped). Only names are checked, never values: Beam checks those when the pipeline starts.

    A job-server runner (Portable, Flink, Spark, Prism, Kafka Streams) learns further options from
    its job server at submission (Flink's ``--checkpointing_interval``, ...), so there a flag that
    is not a Python option passes on with a note on stderr, unless it is a near miss of one (a
    typo such as ``--runnr``).
    """
    import difflib
    import importlib

    from apache_beam.options.pipeline_options import PipelineOptions

    for module in ("apache_beam.runners.render",  # RenderOptions (--render_output, ...)
                   "apache_beam.runners.dask.dask_runner"):  # DaskOptions; needs dask
        try:
            importlib.import_module(module)
        except Exception:  # an optional runner that cannot load here has no options to offer
            pass
    try:
        from apache_beam.options.pipeline_options import _BeamArgumentParser as parser_class
    except ImportError:
        parser_class = argparse.ArgumentParser

    known: set[str] = set()
    pending, seen = [PipelineOptions], set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        if "_add_argparse_args" not in vars(cls):
            continue
        beam_parser = parser_class(add_help=False, allow_abbrev=False)  # one per class: no conflicts
        try:
            cls._add_argparse_args(beam_parser)
        except Exception:  # a broken third-party options class must not break the CLI
            continue
        known.update(beam_parser._option_string_actions)

    flags: list[str] = []
    runner = ""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-" or re.fullmatch(r"-\d+(\.\d*)?|-\.\d+", arg):
            continue  # a value
        name = arg.split("=", 1)[0]
        if name == "--runner":
            runner = arg.split("=", 1)[1] if "=" in arg else (args[i + 1] if i + 1 < len(args) else "")
        elif name not in known:
            flags.append(arg)
    runner_key = runner.rsplit(".", 1)[-1].lower().removesuffix("runner")
    if not flags or runner_key not in ("portable", "flink", "spark", "prism", "kafkastreams"):
        return flags
    typos = [a for a in flags if difflib.get_close_matches(a.split("=", 1)[0], known, n=1, cutoff=0.85)]
    passed = [a.split("=", 1)[0] for a in flags if a not in typos]
    if passed:
        print(f"{PROG}: note: {' '.join(passed)}: not Python Beam options; passed on for the {runner} job server "
              "(Beam drops, with a warning, those it does not define either)", file=sys.stderr)
    return typos


def _config(args: argparse.Namespace) -> RunConfig:
    flags = {k: v for k, v in vars(args).items() if k in CONFIG_KEYS}
    return build_config(flags, args.config)


def _run_pipeline(name: str, config: RunConfig, build: Callable[..., Any], unknown: list[str],
                  cannot_run: tuple[type[Exception], ...] = (), model_name: str | None = None) -> int:
    """Every pipeline command: split the cores among Beam workers, run, print the stage table and
    the command's notes. ``cannot_run`` are errors that mean "can't run here" (no sandbox, no Lean,
    a bad repository): one line, exit 2."""
    from pipelines.io.placement import PlacementError, runs_here
    from pipelines.runner import pipeline_options, run_command
    from pipelines.summary import print_summary

    if runs_here(pipeline_options(unknown)):  # else the threads are sized on each worker
        config = with_worker_threads(config, unknown)
    if config.quiet:  # the DirectRunner's worker processes inherit it
        from pipelines.io.progress import NO_PROGRESS

        os.environ[NO_PROGRESS] = "1"
    try:
        summary = run_command(name, config, build, unknown, model_name=model_name)
    except (PlacementError, *cannot_run) as exc:
        raise ConfigError(str(exc)) from None
    print_summary(summary)
    return 0


def cmd_label(args: argparse.Namespace, unknown: list[str]) -> int:
    from pipelines.label import build_label

    config = _config(args).require("label")
    # one run name per method, so that both methods can label into one DIR without one run's
    # manifest entries and dead letters replacing the other's
    name = "label" if config.method == "shepherd" else f"label-{config.method}"
    return _run_pipeline(name, config, build_label, unknown)


def cmd_expand(args: argparse.Namespace, unknown: list[str]) -> int:
    from pipelines.expand import build_expand

    config = _config(args).require("expand")
    return _run_pipeline("expand", config, build_expand, unknown)


def cmd_lean_cot(args: argparse.Namespace, unknown: list[str]) -> int:
    from pipelines.io.lean_traced import LeanUnavailable, parse_repo_spec
    from pipelines.lean_cot import build_lean_cot

    config = _config(args).require("lean-cot")
    if config.lean_repo:
        try:
            parse_repo_spec(config.lean_repo)  # its ValueError means a malformed --lean-repo
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return _run_pipeline("lean-cot", config, build_lean_cot, unknown, cannot_run=(LeanUnavailable,))


def cmd_code_cot(args: argparse.Namespace, unknown: list[str]) -> int:
    from pipelines.code_cot import build_code_cot
    from pipelines.io.repos import RepoError
    from verifiers.sandbox import SandboxUnavailable

    config = _config(args).require("code-cot")
    return _run_pipeline("code-cot", config, build_code_cot, unknown, cannot_run=(RepoError, SandboxUnavailable))


def cmd_tag(args: argparse.Namespace, unknown: list[str]) -> int:
    from pipelines.tag import build_tag

    config = _config(args).require("tag")
    return _run_pipeline("tag", config, build_tag, unknown, model_name="rule-tagger" if config.tagger == "rules" else None)


def cmd_export(args: argparse.Namespace, unknown: list[str]) -> int:
    from pipelines.export import export_math_shepherd

    if args.export_format == "pairs":
        from pipelines.export_pairs import export_pairs

        return export_pairs(args.dir, args.kind, args.min_margin, args.per_prefix, args.max_pairs_per_problem)
    if args.export_format == "sft":
        from pipelines.export_sft import export_sft

        return export_sft(args.dir, args.verified)
    if args.export_format == "openrlhf":
        from pipelines.export_openrlhf import export_openrlhf

        return export_openrlhf(args.dir, args.soft)
    if args.output and args.output != "-" and os.path.isdir(args.output):  # a missing parent is made
        raise ConfigError(f"--output {args.output}: is a directory")
    return export_math_shepherd(args.dir, args.output, args.task)


def _check_local_output(option: str, path: str) -> None:
    """A local output file that ``open(path, "w")`` will take: not a directory, in one that exists
    and may be written (else a one-line error)."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ConfigError(f"{option} {path}: is a directory")
    if not os.path.isdir(parent):
        raise ConfigError(f"{option} {path}: no such directory {parent}")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"{option} {path}: cannot write in {parent}")


def cmd_seeds(args: argparse.Namespace, unknown: list[str]) -> int:
    from pipelines import seeds_cli

    if args.seeds_command == "import" and args.output:
        _check_local_output("--output", args.output)
    return seeds_cli.run(args)


def cmd_verify(args: argparse.Namespace, unknown: list[str]) -> int:
    if args.verify_command == "code":
        return verify_code(args)
    from verifiers.math_answer import MathVerifier

    verifier = MathVerifier()
    try:
        if args.answer is not None:
            result = verifier.verify(args.gold, args.answer)
        else:
            result = verifier.verify_text(args.gold, args.text)
    finally:
        verifier.close()
    print(json.dumps({"correct": result.correct, "status": result.status, "detail": result.detail}))
    return 0


def verify_code(args: argparse.Namespace) -> int:
    """Exit 0 when the tests passed, 1 when they did not (the JSON says why), 2 when nothing could run."""
    from pipelines.settings import sandbox_settings
    from verifiers.sandbox import SandboxUnavailable

    keys = ("sandbox", "unsafe_no_sandbox", "sandbox_timeout", "sandbox_memory_mb", "max_file_bytes")
    config = build_config({k: getattr(args, k) for k in keys})
    texts = []
    for option, path in (("--code", args.code), ("--tests", args.tests)):
        try:
            with open(path, "rb") as handle:
                raw = handle.read(config.max_file_bytes + 1)
            if len(raw) > config.max_file_bytes:
                raise ConfigError(f"{option} {path}: larger than --max-file-bytes {config.max_file_bytes}")
            texts.append(raw.decode("utf-8"))
        except OSError as exc:
            raise ConfigError(f"{option} {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{option} {path}: not UTF-8 (invalid byte at {exc.start})") from None
    try:
        verifier = sandbox_settings(config).verifier()
    except SandboxUnavailable as exc:
        raise ConfigError(str(exc)) from None
    # verify_files falls back to test_solution.py for a name that is not a test module's
    verdict = verifier.verify_files(texts[0], texts[1], tests_name=os.path.basename(args.tests))
    print(json.dumps(verdict.to_dict(), ensure_ascii=False))
    return 0 if verdict.passed else 1


def cmd_tokenizer(args: argparse.Namespace, unknown: list[str]) -> int:
    from pipelines import tokenizer_cli

    return tokenizer_cli.run(args)


def cmd_studio(args: argparse.Namespace, unknown: list[str]) -> int:
    from pipelines.studio import cli as studio_cli

    return studio_cli.run(args)


def cmd_eval(args: argparse.Namespace, unknown: list[str]) -> int:
    from pipelines import eval_labels

    return eval_labels.run(args)


def cmd_report(args: argparse.Namespace, unknown: list[str]) -> int:
    from pipelines.report import cli as report_cli

    return report_cli.run(args)


def cmd_demo(args: argparse.Namespace, unknown: list[str]) -> int:
    from pipelines.demo import run_demo

    flags = {k: v for k, v in vars(args).items() if k in CONFIG_KEYS}
    return run_demo(flags, args.config, args.problems, unknown)


COMMANDS: dict[str, Callable[[argparse.Namespace, list[str]], int]] = {
    "label": cmd_label,
    "expand": cmd_expand,
    "tag": cmd_tag,
    "lean-cot": cmd_lean_cot,
    "code-cot": cmd_code_cot,
    "export": cmd_export,
    "seeds": cmd_seeds,
    "verify": cmd_verify,
    "tokenizer": cmd_tokenizer,
    "studio": cmd_studio,
    "eval": cmd_eval,
    "report": cmd_report,
    "demo": cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    from pipelines import quiet

    quiet.install()  # before anything imports Beam
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser()
    args, unknown = parser.parse_known_args(argv)
    local_only = ("seeds", "verify", "export", "tokenizer", "studio", "eval", "report")
    not_beam = unknown if args.command in local_only else unknown_to_beam(unknown)
    if not_beam:
        parser.error(f"unrecognized arguments: {' '.join(not_beam)} (not a reverse-o1 option nor a Beam pipeline option)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args, unknown)
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        if isinstance(exc, typed_errors()):  # the user's to fix: one line
            print(f"{PROG} {args.command}: error: {exc}".splitlines()[0], file=sys.stderr)
            return int(getattr(exc, "exit_code", 2))
        if args.debug:
            raise
        return internal_error(PROG, args.command, exc, argv)
