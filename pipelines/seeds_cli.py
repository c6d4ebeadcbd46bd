"""``reverse-o1 seeds validate | import | template``: tools for annotators."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys

from pipelines.io import fs
from schemas.seed_import import IMPORTERS, SeedImportError
from schemas.seeds import TEMPLATE, SeedError, decode_line, iter_lines, validate_file


def check_file(path: str) -> None:
    """Raise ``ConfigError`` (one line, exit 2) unless ``path`` is a regular file that can be read:
    a FIFO is never opened (that blocks until a writer comes), a folder, a symlink loop or a
    refused permission is named in one line instead of a traceback."""
    from pipelines.config import ConfigError
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
    return import_file(args.format, args.file, args.output)


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
        fs.write_text(output, buffer.getvalue())
    if output and written:
        carry_license(path, output)
    print(f"imported {written} seed(s) from {path}, {failed} line(s) skipped", file=sys.stderr)
    return 0 if written and not failed else (1 if not written else 0)
