"""What the CLI does with errors: typed ones are one line (exit 2), anything else is an internal
error whose traceback goes to a log file (exit 1), or is raised with ``--debug``; and its choices
come from the registries, loaded without slowing ``--help``."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, get_args

import pyarrow as pa
import pyarrow.lib
import pyarrow.parquet as pq
import pytest

from generators.backends.registry import BACKENDS
from generators.tagging import TIERS
from pipelines import cli, errors
from pipelines.command import CONFIG_KEYS
from pipelines.config import ConfigError, RunConfig
from schemas.seed_import import IMPORTERS
from tests.pipelines.helpers import replace_run, run
from verifiers.sandbox.select import BACKENDS as SANDBOXES

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(r"^reverse-o1 (\S+): internal error: (\w+): (.*) "
                     r"\(traceback in (.+\.log); rerun with --debug to print it\)$")


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Logs go under a cache of the test's own."""
    monkeypatch.setenv("REVERSE_O1_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def failing(exc: BaseException) -> Any:
    def command(args: argparse.Namespace, unknown: list[str]) -> int:
        raise exc

    return command


def one_summary(capsys: pytest.CaptureFixture[str]) -> re.Match[str]:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    match = SUMMARY.match(lines[0])
    assert match, lines[0]
    return match


# typed errors: one line, exit 2


def cannot_run_errors() -> list[BaseException]:
    from pipelines.io.placement import PlacementError
    from pipelines.sources.code.repos import RepoError
    from pipelines.sources.lean.traced import LeanUnavailable
    from schemas.factors import FactorFileError
    from verifiers.sandbox import SandboxUnavailable

    return [ConfigError("bad thing\nand more"), PlacementError("bad thing"), LeanUnavailable("bad thing"),
            RepoError("bad thing"), SandboxUnavailable("bad thing"), FactorFileError("bad thing", ["x"])]


@pytest.mark.parametrize("debug", [[], ["--debug"]])
@pytest.mark.parametrize("index", range(6))
def test_a_typed_error_is_one_line_and_exit_2(index: int, debug: list[str], monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str], _cache: Path) -> None:
    exc = cannot_run_errors()[index]
    replace_run(monkeypatch, "tag", failing(exc))
    assert cli.main(["tag", *debug]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("reverse-o1 tag: error: bad thing")
    assert not _cache.exists()  # no log for the user's mistakes


def test_every_cannot_run_error_is_where_the_cli_looks_for_it() -> None:
    for module_name, class_name in errors.CANNOT_RUN:
        error = getattr(importlib.import_module(module_name), class_name)
        assert issubclass(error, Exception) and error in errors.typed_errors()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["seeds", "validate", "{tmp}/missing.jsonl"], "missing.jsonl: No such file or directory"),
        (["seeds", "import", "--format", "gsm8k", "{tmp}"], "is a directory"),
        (["seeds", "import", "--format", "gsm8k", "{seeds}", "-o", "{tmp}/no/such/dir/s.jsonl"], "no such directory"),
        (["export", "math-shepherd", "{tmp}/missing"], "no such directory"),
        (["export", "math-shepherd", "{tmp}"], "no PRM shards"),
        (["export", "math-shepherd", "{shards}", "-o", "{tmp}"], "--output {tmp}: is a directory"),
        (["lean-cot", "--lean-repo", "no-commit", "--out", "{tmp}/o"], "--lean-repo expects URL@COMMIT"),
    ],
)
def test_the_users_own_mistakes_are_typed(args: list[str], message: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"question": "Q?", "answer": "1\\n#### 1"}\n')
    write_shard(tmp_path / "out", "s.parquet", prm_table(1))
    assert run([a.format(tmp=tmp_path, seeds=seeds, shards=tmp_path / "out") for a in args]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"reverse-o1 {args[0]}: error: ") and message.format(tmp=tmp_path) in line


# anything else: a summary line, the traceback in a log file, exit 1


@pytest.mark.parametrize("exc", [KeyError("steps"), pyarrow.lib.ArrowInvalid("Parquet magic bytes not found\nmore")])
def test_an_internal_error_names_a_log_with_the_traceback(exc: Exception, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str], _cache: Path) -> None:
    replace_run(monkeypatch, "tag", failing(exc))
    assert cli.main(["tag", "--input", "x.jsonl", "--column", "cot"]) == 1
    command, kind, message, path = one_summary(capsys).groups()
    assert (command, kind) == ("tag", type(exc).__name__)
    assert message == str(exc).splitlines()[0]
    log = Path(path)
    assert log.parent == _cache / "logs" and re.fullmatch(r"tag-\d{8}T\d{6}\.log", log.name)
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "in command" in text and "raise exc" in text
    assert f"{type(exc).__name__}: {str(exc).splitlines()[0]}" in text
    assert "command: reverse-o1 tag --input x.jsonl --column cot" in text


def test_two_errors_in_the_same_second_get_two_logs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(errors.time, "strftime", lambda fmt, *a: "20240101T000000" if "T" in fmt else "then")
    replace_run(monkeypatch, "tag", failing(KeyError("x")))
    paths = []
    for _ in range(2):
        assert cli.main(["tag"]) == 1
        paths.append(Path(one_summary(capsys).group(4)))
    assert [p.name for p in paths] == ["tag-20240101T000000.log", "tag-20240101T000000-2.log"]


def test_an_unwritable_cache_puts_the_log_in_the_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("REVERSE_O1_CACHE", str(blocked))  # logs/ can't be made under a file
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    os.makedirs(tmp_path / "tmp")
    replace_run(monkeypatch, "seeds", failing(ValueError("boom")))
    assert cli.main(["seeds", "template"]) == 1
    log = Path(one_summary(capsys).group(4))
    assert log.parent == tmp_path / "tmp" and log.name.startswith("reverse-o1-seeds-")
    assert "ValueError: boom" in log.read_text(encoding="utf-8")


def test_with_nowhere_to_write_a_log_the_traceback_is_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("REVERSE_O1_CACHE", str(blocked))
    monkeypatch.setattr(tempfile, "tempdir", str(blocked))
    replace_run(monkeypatch, "tag", failing(KeyError("x")))
    assert cli.main(["tag"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "KeyError: 'x'" in err
    assert err.strip().splitlines()[-1] == ("reverse-o1 tag: internal error: KeyError: 'x' "
                                            "(no log file could be written; the traceback is above)")


@pytest.mark.parametrize("args", [["--debug", "tag"], ["tag", "--debug"], ["--debug", "seeds", "template"],
                                  ["seeds", "template", "--debug"], ["export", "math-shepherd", "--debug", "d"]])
def test_debug_raises_the_internal_error(args: list[str], monkeypatch: pytest.MonkeyPatch, _cache: Path) -> None:
    replace_run(monkeypatch, args[1] if args[0] == "--debug" else args[0], failing(KeyError("x")))
    with pytest.raises(KeyError, match="x"):
        cli.main(args)
    assert not _cache.exists()


def test_debug_is_neither_a_beam_option_nor_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[argparse.Namespace, list[str]]] = []
    replace_run(monkeypatch, "tag", lambda args, unknown: seen.append((args, unknown)) or 0)
    assert cli.main(["tag", "--debug", "--runner=DirectRunner"]) == 0
    [(args, unknown)] = seen
    assert args.debug is True and unknown == ["--runner=DirectRunner"] and "debug" not in CONFIG_KEYS


def test_keyboard_interrupt_is_unchanged(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    replace_run(monkeypatch, "tag", failing(KeyboardInterrupt()))
    assert cli.main(["tag", "--debug"]) == 130
    assert "interrupted; rerun the same command to resume" in capsys.readouterr().err


def test_the_subprocess_exit_codes(tmp_path: Path) -> None:
    env = {**os.environ, "REVERSE_O1_CACHE": str(tmp_path / "cache")}
    seeds = tmp_path / "s.jsonl"
    seeds.write_text("{}\n")
    typed = subprocess.run([sys.executable, "-m", "pipelines", "seeds", "validate", str(tmp_path / "missing")],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert typed.returncode == 2 and typed.stderr.count("\n") == 1
    # an internal error: --format's registry is patched away so that the importer lookup fails
    code = ("import sys, schemas.seed_import as s; s.IMPORTERS['gsm8k'] = None; from pipelines.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    for debug, rc in (([], 1), (["--debug"], 1)):
        done = subprocess.run([sys.executable, "-c", code, "seeds", "import", "--format", "gsm8k", str(seeds), *debug],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        assert done.returncode == rc, done.stderr
        if debug:
            assert "Traceback (most recent call last)" in done.stderr and "TypeError" in done.stderr
        else:
            assert SUMMARY.match(done.stderr.strip().splitlines()[-1]) and "Traceback" not in done.stderr


# export math-shepherd on a damaged DIR/prm


def write_shard(out: Path, name: str, table: pa.Table) -> Path:
    os.makedirs(out / "prm", exist_ok=True)
    pq.write_table(table, out / "prm" / name)
    return out / "prm" / name


def prm_table(n: int = 200) -> pa.Table:
    return pa.Table.from_pylist([{"id": f"r{i}", "prompt": "P? " * 50, "completions": ["step a " * 30, "b"],
                                  "labels": [True, False]} for i in range(n)])


def test_a_shard_that_is_not_parquet_or_not_prm_is_the_users_error(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    write_shard(out, "good.parquet", prm_table(3))
    (out / "prm" / "truncated.parquet").write_bytes((out / "prm" / "good.parquet").read_bytes()[:-40])
    assert run(["export", "math-shepherd", out]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"reverse-o1 export: error: {out}/prm/truncated.parquet: unreadable PRM shard (")
    os.remove(out / "prm" / "truncated.parquet")
    write_shard(out, "foreign.parquet", pa.table({"id": ["a"], "text": ["t"]}))
    assert run(["export", "math-shepherd", out]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.endswith("foreign.parquet: unreadable PRM shard (no prompt, completions, labels column)")
    assert sorted(os.listdir(out)) == ["prm"]


def test_a_shard_damaged_inside_is_an_internal_error_with_its_traceback(tmp_path: Path, _cache: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The footer reads, the pages don't: not a mistake of the user's to name in one line, so the
    traceback (pyarrow's, chained to the export's own message) is kept in the log."""
    out = tmp_path / "out"
    shard = write_shard(out, "damaged.parquet", prm_table())
    data = bytearray(shard.read_bytes())
    data[30:94] = bytes(b ^ 0xFF for b in data[30:94])  # inside the first column chunk
    shard.write_bytes(bytes(data))
    assert run(["export", "math-shepherd", out]) == 1
    command, kind, message, path = one_summary(capsys).groups()
    assert (command, kind) == ("export", "RuntimeError") and "damaged.parquet: unreadable PRM shard (OSError" in message
    text = Path(path).read_text(encoding="utf-8")
    assert "OSError: " in text and "in _rows" in text  # pyarrow's own error, chained with ``from``
    assert sorted(os.listdir(out)) == ["prm"]  # no partial output


# choices come from the registries


def choices(path: list[str], option: str) -> list[str]:
    parser: argparse.ArgumentParser = cli.make_parser()
    for name in path:
        [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = sub.choices[name]
    [action] = [a for a in parser._actions if option in a.option_strings]
    return list(action.choices)


def test_choices_are_the_registries_keys() -> None:
    from pipelines.label import METHODS

    for command in (["label"], ["expand"], ["lean-cot"], ["code-cot"], ["tag"], ["demo"]):
        assert choices(command, "--backend") == list(BACKENDS)
        assert choices(command, "--tagger") == list(TIERS)
    assert choices(["label"], "--method") == list(METHODS)
    for command in (["code-cot"], ["verify", "code"]):
        assert choices(command, "--sandbox") == ["auto", *(name for name in SANDBOXES if name != "none")]
    assert choices(["seeds", "import"], "--format") == [*IMPORTERS, "processbench"]
    # what a flag may say, a --config file may say too
    for field, option, command in (("method", "--method", ["label"]), ("tagger", "--tagger", ["tag"]),
                                   ("sandbox", "--sandbox", ["code-cot"])):
        assert choices(command, option) == list(get_args(RunConfig.model_fields[field].annotation))


HELP_IMPORTS = """
import contextlib, io, sys
from pipelines.cli import main

with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(sys.argv[1:-1])
print(sorted(m for m in sys.argv[-1].split(",") if m in sys.modules))
"""


@pytest.mark.parametrize(("argv", "never"), [
    (["--help"], ["torch", "transformers"]),
    (["label", "--help"], ["torch", "transformers", "pipelines.expand", "pipelines.code_cot"]),
    (["seeds", "--help"], ["torch", "transformers", "apache_beam", "pipelines.label", "generators.tagging"]),
])
def test_help_imports_nothing_heavy(argv: list[str], never: list[str]) -> None:
    """Each command's record lives in its module (a pipeline's imports Beam for its transforms):
    ``--help`` of all loads those modules but never the model's libraries; one command's --help
    loads no other command's module."""
    done = subprocess.run([sys.executable, "-c", HELP_IMPORTS, *argv, ",".join(never)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
