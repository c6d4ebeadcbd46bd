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
import logging
import re
import sys

from pipelines.commands import COMMANDS, load
from pipelines.errors import internal_error, typed_errors

PROG = "reverse-o1"
DEBUG_HELP = "on an internal error, print its traceback (else it goes to a log file under the cache)"


def make_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, one subparser per command of ``pipelines.commands``. With ``only``,
    that command's arguments alone are read (the others are names without arguments), so parsing
    one command imports only its module."""
    parser = argparse.ArgumentParser(prog=PROG, description="Synthetic chain-of-thought data pipelines on Apache Beam.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name)
            continue
        command = load(name)
        command.add_arguments(sub.add_parser(name, help=command.help))
    parser.add_argument("--debug", action="store_true", default=False, help=DEBUG_HELP)
    _debug_everywhere(parser)
    return parser


def command_named(argv: list[str]) -> str | None:
    """The command ``argv`` names (its first word that is not an option), if it is one of ours."""
    for arg in argv:
        if arg == "--":
            break
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def _debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """``--debug`` after any command too (``reverse-o1 tag --debug ...``). SUPPRESS as the default,
    so that a subcommand without it keeps a ``--debug`` given before the command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
                _debug_everywhere(sub)


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


def main(argv: list[str] | None = None) -> int:
    from pipelines import quiet

    quiet.install()  # before anything imports Beam
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser(only=command_named(argv))
    args, unknown = parser.parse_known_args(argv)
    command = load(args.command)
    not_beam = unknown_to_beam(unknown) if command.beam_options else unknown
    if not_beam:
        parser.error(f"unrecognized arguments: {' '.join(not_beam)} (not a reverse-o1 option nor a Beam pipeline option)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return command.run(args, unknown)
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
