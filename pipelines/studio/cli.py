"""``reverse-o1 studio``: the annotators' web app on this machine (FastAPI under uvicorn).

Binds 127.0.0.1 unless told otherwise; any other address needs ``--token`` (or the environment
variable ``REVERSE_O1_STUDIO_TOKEN``), which every request must then carry. Imports nothing heavy
until it runs (the CLI builds this parser for every command).
"""

from __future__ import annotations

import argparse
import os
import sys

from common.errors import ConfigError
from pipelines.command import Command

LOOPBACK = ("127.0.0.1", "localhost", "::1")
TOKEN_ENV = "REVERSE_O1_STUDIO_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", help="the seed file to edit (JSONL, a local path; created on the first save)")
    parser.add_argument("--data", action="append", default=[], metavar="DIR",
                        help="an output folder to review (its PRM rows and MCTS trees) and report on; repeatable")
    parser.add_argument("--labels", default="human_labels.jsonl",
                        help="where the human step labels are appended (JSONL, local; default ./human_labels.jsonl)")
    parser.add_argument("--factors", help="thought-factor vocabulary YAML for the step factor menus (default: built-in)")
    parser.add_argument("--annotator", default="", help="the annotator's name to start with")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --token)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument("--token", default=None, help=f"a secret every request must carry (default ${TOKEN_ENV})")
    parser.add_argument("--max-body-bytes", dest="max_body", type=int, default=4_000_000,
                        help="largest request body accepted (default 4,000,000)")


def settings_from(args: argparse.Namespace):  # -> StudioSettings (imported late: FastAPI is not light)
    from pipelines.io import fs
    from pipelines.studio.app import StudioSettings

    token = args.token or os.environ.get(TOKEN_ENV) or None
    if args.host not in LOOPBACK and not token:
        raise ConfigError(f"binding {args.host} serves the studio to other machines: give --token SECRET "
                          f"(or set {TOKEN_ENV}), e.g. --token $(python -c 'import secrets; print(secrets.token_urlsafe())')")
    if token is not None and len(token) < 16:
        raise ConfigError("--token: use at least 16 characters")
    if not args.seeds and not args.data:
        raise ConfigError("nothing to open: give --seeds FILE.jsonl and/or --data DIR")
    for name, path in (("--seeds", args.seeds), ("--labels", args.labels)):
        if path and not fs.is_local(path):
            raise ConfigError(f"{name} {path}: the studio edits local files only (saves are atomic renames)")
        if path and os.path.isdir(path):
            raise ConfigError(f"{name} {path}: is a folder, not a file")
    if args.seeds and os.path.exists(args.seeds):
        from pipelines.seeds_cli import check_file

        check_file(args.seeds)
    for folder in args.data:
        if not fs.is_folder(folder):
            raise ConfigError(f"--data {folder}: no such directory")
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port}: not a port")
    return StudioSettings(seeds=args.seeds, data=list(args.data), labels=args.labels, factors=args.factors,
                          annotator=args.annotator, host=args.host, port=args.port, token=token, max_body=args.max_body)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from pipelines.studio.app import create_app

    settings = settings_from(args)
    app = create_app(settings)
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    url = f"http://{shown}:{settings.port}/" + (f"?token={settings.token}" if settings.token else "")
    print(f"reverse-o1 studio: open {url}  (Ctrl+C stops it)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
    return 0


COMMAND = Command("studio", "the annotators' web app: seed editor, step review, trees, agreement, report", add_arguments,
                  lambda args, unknown: run(args))
