"""Pipeline tests run without progress bars; the demo's output is made once for the tests that read it."""

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pipelines.helpers import run


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVERSE_O1_NO_PROGRESS", "1")


@dataclass(frozen=True)
class DemoOutput:
    out: Path
    code: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> DemoOutput:
    """``reverse-o1 demo`` kept tiny (one problem, two rollouts) on the real embedded model, run once."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    stdout, stderr = io.StringIO(), io.StringIO()
    before = os.environ.get("REVERSE_O1_NO_PROGRESS")
    os.environ["REVERSE_O1_NO_PROGRESS"] = "1"
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = run(["demo", "--out", out, "--problems", "1", "--n", "2", "--max-new-tokens", "24"])
    finally:
        if before is None:
            os.environ.pop("REVERSE_O1_NO_PROGRESS", None)
        else:
            os.environ["REVERSE_O1_NO_PROGRESS"] = before
    return DemoOutput(out, code, stdout.getvalue(), stderr.getvalue())
