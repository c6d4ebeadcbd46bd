"""``reverse-o1 verify math | code``: one verification, JSON on stdout."""

from __future__ import annotations

import argparse
import json
import os

from common.errors import ConfigError
from pipelines import options
from pipelines.command import Command
from pipelines.config import build_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="verify_command", metavar="KIND")
    sub.required = True
    math = sub.add_parser("math", help="is ANSWER (or the final answer in --text) equal to GOLD?")
    math.add_argument("--gold", required=True)
    group = math.add_mutually_exclusive_group(required=True)
    group.add_argument("--answer")
    group.add_argument("--text", help="free text; its final answer is extracted")

    code = sub.add_parser("code", help="run a tests file with a code file beside it as solution.py, sandboxed")
    code.add_argument("--code", required=True, help="the code under test (becomes solution.py)")
    code.add_argument("--tests", required=True, help="a test file: module code, then every test_* function")
    code.add_argument("--max-file-bytes", dest="max_file_bytes", type=int,
                      help="refuse larger code or test files (default 1000000)")
    options.sandbox_options(code)


def run(args: argparse.Namespace, unknown: list[str]) -> int:
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


COMMAND = Command("verify", "one verification, JSON on stdout", add_arguments, run)
