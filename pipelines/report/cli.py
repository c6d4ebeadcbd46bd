"""``reverse-o1 report DIR -o FILE``: write the report of an output folder (see ``pipelines.report``).

Imports nothing heavy until it runs (the CLI builds this parser for every command).
"""

from __future__ import annotations

import argparse
import sys

from common.errors import ConfigError
from pipelines.command import Command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="an output folder (local, gs://, s3://): its manifest.json and shards")
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="where the HTML page goes (local, gs://, s3://; - for standard output)")


def run(args: argparse.Namespace) -> int:
    from pipelines.io import fs  # imports Beam: only when the command runs, not for --help
    from pipelines.report import render_report

    out = args.output
    if out != "-" and fs.is_local(out) and fs.is_folder(out):
        raise ConfigError(f"-o {out}: is a directory")
    page = render_report(args.dir)
    if out == "-":
        sys.stdout.write(page)
        return 0
    try:
        fs.write_text(out, page)
    except OSError as exc:  # a local folder that cannot be written, a bucket refused
        raise ConfigError(f"-o {out}: cannot write it ({' '.join(str(exc).split())})") from None
    print(f"reverse-o1 report: wrote {out} ({len(page.encode('utf-8'))} bytes)", file=sys.stderr)
    return 0


COMMAND = Command("report", "a self-contained HTML report of an output folder, in pictures", add_arguments,
                  lambda args, unknown: run(args))
