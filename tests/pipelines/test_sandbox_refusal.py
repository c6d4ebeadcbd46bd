"""Where bwrap is missing, code is refused at run time with one line saying how to install it; the
unshare fallback (no filesystem isolation) runs only with --unsafe-no-sandbox."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(args: list[str], bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": str(bin_dir)}
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def no_bwrap_path(tmp_path: Path) -> Path:
    """A PATH with unshare and the limit tools but no bwrap."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("unshare", "prlimit", "setpriv", "sh", "true"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return bin_dir


@pytest.fixture
def job(tmp_path: Path) -> list[str]:
    (tmp_path / "code.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    (tmp_path / "test_add.py").write_text("from solution import add\n\ndef test_add():\n    assert add(2, 3) == 5\n",
                                          encoding="utf-8")
    return ["verify", "code", "--code", str(tmp_path / "code.py"), "--tests", str(tmp_path / "test_add.py")]


def test_no_bwrap_is_refused_in_one_line(no_bwrap_path: Path, job: list[str]) -> None:
    done = _cli(job, no_bwrap_path)
    assert done.returncode == 2, done
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "apt-get install -y bubblewrap" in lines[0] and "--unsafe-no-sandbox" in lines[0], done.stderr
    assert done.stdout == ""


def test_naming_unshare_is_refused_too(no_bwrap_path: Path, job: list[str]) -> None:
    done = _cli([*job, "--sandbox", "unshare"], no_bwrap_path)
    assert done.returncode == 2 and "does not isolate the filesystem" in done.stderr, done


def test_unsafe_no_sandbox_runs_and_says_so(no_bwrap_path: Path, job: list[str]) -> None:
    if not (no_bwrap_path / "unshare").exists():
        pytest.skip("no unshare here")
    done = _cli([*job, "--unsafe-no-sandbox"], no_bwrap_path)
    assert done.returncode in (0, 1), done  # it ran (unshare may be refused by the kernel: then "none")
    assert "NOT isolated" in done.stderr or "UNSANDBOXED" in done.stderr
    assert done.stderr.count("NOT isolated") + done.stderr.count("UNSANDBOXED") == 1  # said once
