"""``reverse-o1 seeds validate | import | template``: tools for annotators."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys

from pipelines import options
from pipelines.command import Command
from schemas.seed_import import IMPORTERS, SeedImportError
from schemas.seeds import TEMPLATE, SeedError, decode_line, iter_lines, validate_file


def check_file(path: str) -> None:
    """Raise ``ConfigError`` (one line, exit 2) unless ``path`` is a regular file that can be read:
    a FIFO is never opened (that blocks until a writer comes), a folder, a symlink loop or a
    refused permission is named in one line instead of a traceback."""
    from common.errors import ConfigError
    from pipelines.io import fs

    try:
        fs.check_regular(path)
        with open(path, "rb"):
            pass
    except fs.NotAFileError as exc:
        raise ConfigError(str(exc).replace(": skipped, never opened", "")) from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    if args.seeds_command == "template":
        sys.stdout.write(TEMPLATE)
        return 0
    check_file(args.file)
    if args.seeds_command == "validate":
        return validate(args.file, args.factors)
    answers, answers_format = getattr(args, "answers", None), getattr(args, "answers_format", None)
    if args.format != "processbench" and (answers or answers_format):
        from common.errors import ConfigError

        raise ConfigError("--answers and --answers-format: only with --format processbench")
    if args.format == "processbench":
        if answers:
            check_file(answers)
        return import_processbench(args.file, args.output, answers, answers_format)
    return import_file(args.format, args.file, args.output)


def import_processbench(path: str, output: str | None, answers: str | None, answers_format: str | None) -> int:
    """ProcessBench items to trajectory rows (``pipelines.processbench``), written as ``import_file`` writes
    seeds; exit 0 when some row was written, else 1."""
    from pipelines.processbench import import_processbench as convert

    buffer = io.StringIO()
    written = convert(path, buffer if output else sys.stdout, answers, answers_format)
    if output:
        from pipelines.io import fs  # imports Beam: only when a file is written, not for --help

        fs.write_text(output, buffer.getvalue())
        if written:
            carry_license(path, output)
    return 0 if written else 1


def validate(path: str, factors_file: str | None = None) -> int:
    """Every problem of the file; step factors are checked against the vocabulary (``--factors``)."""
    from schemas.factors import load_factors

    valid, problems = validate_file(path, factors=load_factors(factors_file).names)
    for line in problems:
        print(line)
    status = "ok" if not problems else f"{len(problems)} problem(s)"
    print(f"{path}: {valid} valid seed(s), {status}", file=sys.stderr)
    return 1 if problems else 0


def carry_license(source: str, output: str) -> str | None:
    """Seeds made from a licensed file keep its licence: a REUSE sidecar ``OUTPUT.license`` naming
    it (the readers look for one), written where the source's licence is a recognised SPDX id."""
    from pipelines.io import fs  # imports Beam: only when a file is written, not for --help
    from pipelines.io.licenses import LicenseFinder
    from schemas.provenance import source_uri

    found = LicenseFinder().license_of(os.path.abspath(source))
    if not found or found.startswith("see "):
        return None
    fs.write_text(output + ".license",
                  f"SPDX-License-Identifier: {found}\nSPDX-FileComment: converted from {source_uri(source)}\n")
    return found


def import_file(fmt: str, path: str, output: str | None) -> int:
    """Convert every line; lines that can't be converted are reported as FILE:LINE: reason. To
    ``output`` (any FileSystems path) the seeds are written whole at the end, else as they come to stdout."""
    convert = IMPORTERS[fmt]
    written, failed, seen = 0, 0, set()
    buffer = io.StringIO()
    sink = buffer if output else sys.stdout
    for number, raw in iter_lines(path):
        if not raw.strip():
            continue
        try:
            seed = convert(decode_line(raw, number), ref=f"{path}:{number}")
        except SeedError as exc:
            print(f"{path}:{number}: {exc}", file=sys.stderr)
            failed += 1
            if exc.reason == "wrong_encoding":
                break  # every other line would say it again
            continue
        except (SeedImportError, ValueError) as exc:
            print(f"{path}:{number}: {exc}", file=sys.stderr)
            failed += 1
            continue
        if seed["id"] in seen:
            print(f"{path}:{number}: id: duplicate problem {seed['id']!r}, skipped", file=sys.stderr)
            failed += 1
            continue
        seen.add(seed["id"])
        sink.write(json.dumps(seed, ensure_ascii=False) + "\n")
        written += 1
    if output:
        from pipelines.io import fs  # imports Beam: only when a file is written, not for --help

        fs.write_text(output, buffer.getvalue())
    if output and written:
        carry_license(path, output)
    print(f"imported {written} seed(s) from {path}, {failed} line(s) skipped", file=sys.stderr)
    return 0 if written and not failed else (1 if not written else 0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="seeds_command", metavar="ACTION")
    sub.required = True
    validate = sub.add_parser("validate", help="check a seed file; every problem as FILE:LINE: field: message")
    validate.add_argument("file")
    validate.add_argument("--factors", help="thought-factor vocabulary YAML that step factors must come from "
                                            "(default: the built-in one)")
    imp = sub.add_parser("import", help="turn GSM8K or PRM800K JSONL into seeds, ProcessBench items into trajectory rows "
                                        "(JSONL on stdout)")
    options.choices(imp.add_argument("--format", required=True), options.RegistryNames(import_formats))
    imp.add_argument("file")
    imp.add_argument("--output", "-o", help="write here instead of stdout")
    imp.add_argument("--answers", metavar="FILE", help="processbench: gold answers joined by problem text from this "
                                                       "reference (GSM8K or MATH test JSONL or JSON array)")
    imp.add_argument("--answers-format", dest="answers_format", choices=("gsm8k", "math"),
                     help="processbench: gsm8k (question, answer ending '#### N') or math (problem, answer or a "
                          "\\boxed{} in solution)")
    sub.add_parser("template", help="print a commented example seed")


def import_formats() -> list[str]:
    """The seed importers, and processbench (trajectory rows: not a seed importer, so not the studio's)."""
    return [*options.seed_formats(), "processbench"]


def run_command(args: argparse.Namespace, unknown: list[str]) -> int:
    if args.seeds_command == "import" and args.output:
        check_local_output("--output", args.output)
    return run(args)


def check_local_output(option: str, path: str) -> None:
    """A local output file that ``open(path, "w")`` will take: not a directory, in one that exists
    and may be written (else a one-line error)."""
    from common.errors import ConfigError

    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ConfigError(f"{option} {path}: is a directory")
    if not os.path.isdir(parent):
        raise ConfigError(f"{option} {path}: no such directory {parent}")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"{option} {path}: cannot write in {parent}")


COMMAND = Command("seeds", "annotator tools: validate, import, template", add_arguments, run_command)
