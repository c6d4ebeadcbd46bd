"""The sandbox API on real processes: files, read-only mounts, limits, classification, selection."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from verifiers.sandbox import (
    BwrapSandbox,
    ExecutionResult,
    Limits,
    SandboxUnavailable,
    UnsafeSandbox,
    UnshareSandbox,
    select_sandbox,
)
from verifiers.sandbox.select import probe

FAST = Limits(wall_seconds=3, cpu_seconds=2, memory_bytes=512 << 20, max_processes=32, output_bytes=4096)

BACKENDS = [BwrapSandbox, UnshareSandbox, UnsafeSandbox]


def make(cls):
    ok, why = probe({BwrapSandbox: "bwrap", UnshareSandbox: "unshare", UnsafeSandbox: "none"}[cls])
    if not ok:
        pytest.skip(f"{cls.__name__} unavailable here: {why}")
    return cls()


@pytest.mark.parametrize("cls", BACKENDS, ids=lambda c: c.name)
def test_files_mounts_and_stdin(cls, tmp_path):
    box = make(cls)
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "a.txt").write_text("original")
    (repo / "pkg" / "b.txt").write_text("kept")
    overlay = tmp_path / "overlay.txt"
    overlay.write_text("overlaid")
    prog = ("import sys; print(open('sub/dir/x.txt').read(), open('repo/pkg/a.txt').read(), open('repo/pkg/b.txt').read(), "
            "sys.stdin.read(), sep='|')")
    result = box.run(["python", "-c", prog], files={"sub/dir/x.txt": "hello"},
                     ro_mounts={"repo": str(repo), "repo/pkg/a.txt": str(overlay)}, limits=FAST, stdin=b"input")
    assert result.status == "ok", result
    assert result.stdout.strip() == "hello|overlaid|kept|input"
    assert result.sandbox == box.name and result.exit_code == 0
    assert (repo / "pkg" / "a.txt").read_text() == "original"


def test_bwrap_mounts_are_read_only(tmp_path):
    box = make(BwrapSandbox)
    (tmp_path / "m.txt").write_text("x")
    result = box.run(["python", "-c", "open('repo/m.txt', 'w').write('changed')"], ro_mounts={"repo": str(tmp_path)}, limits=FAST)
    assert result.status == "failed"
    assert "Read-only file system" in result.stderr or "Permission denied" in result.stderr
    assert (tmp_path / "m.txt").read_text() == "x"


@pytest.mark.parametrize("path", ["/etc/x", "../x", "a/../../x", ""])
def test_paths_must_stay_in_the_work_dir(path):
    with pytest.raises(ValueError):
        UnsafeSandbox().run(["python", "-c", "pass"], files={path: "x"}, limits=FAST)


def test_failed_exit_code_and_result_dict():
    result = make(BwrapSandbox).run(["python", "-c", "import sys; print('out'); sys.exit(4)"], limits=FAST)
    assert (result.status, result.exit_code, result.stdout) == ("failed", 4, "out\n")
    data = result.to_dict()
    assert set(data) >= {"status", "exit_code", "stdout", "stderr", "seconds", "sandbox", "stopped"}
    assert "stdout_tail" not in data


def test_cpu_limit_is_a_timeout():
    result = make(BwrapSandbox).run(["python", "-c", "while True: pass"], limits=Limits(wall_seconds=5, cpu_seconds=1))
    assert (result.status, result.stopped) == ("timeout", "cpu_time")


def test_file_size_limit():
    limits = Limits(wall_seconds=3, file_size_bytes=1 << 20)
    result = make(BwrapSandbox).run(["python", "-c", "open('big', 'wb').write(b'x' * (4 << 20))"], limits=limits)
    assert result.status == "failed" and "File too large" in result.stderr


def test_missing_program_is_an_error():
    result = make(BwrapSandbox).run(["/nonexistent/program"], limits=FAST)
    assert result.status == "error" and result.stopped == "setup"


def test_environment_is_clean(monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "s3cret")
    result = make(BwrapSandbox).run(["python", "-c", "import os; print(sorted(os.environ))"], limits=FAST)
    assert result.status == "ok" and "SECRET_TOKEN" not in result.stdout


def test_select_sandbox_prefers_bwrap_and_refuses_unsafe():
    if probe("bwrap")[0]:
        assert isinstance(select_sandbox(), BwrapSandbox)
    with pytest.raises(SandboxUnavailable):
        select_sandbox(prefer="none")
    assert isinstance(select_sandbox(allow_unsafe=True, prefer="none"), UnsafeSandbox)
    with pytest.raises(ValueError):
        select_sandbox(prefer="docker")


def test_no_sandbox_anywhere_is_refused(monkeypatch):
    import verifiers.sandbox.select as sel
    monkeypatch.setattr(sel, "_probed", {"bwrap": (False, "no bwrap"), "unshare": (False, "no unshare")})
    with pytest.raises(SandboxUnavailable, match="unsafe-no-sandbox"):
        select_sandbox()
    assert select_sandbox(allow_unsafe=True).name == "none"


def test_without_bwrap_unshare_is_not_a_silent_fallback(monkeypatch):
    """unshare isolates the network but not the filesystem: where bwrap is missing the run is
    refused with how to install it, even though unshare works; only --unsafe-no-sandbox takes it."""
    import verifiers.sandbox.select as sel
    from verifiers.sandbox.bwrap import refused_sandbox_reason

    monkeypatch.setattr(sel, "_probed", {"bwrap": (False, refused_sandbox_reason()), "unshare": (True, "unshare ok")})
    with pytest.raises(SandboxUnavailable, match=r"apt-get install -y bubblewrap.*--unsafe-no-sandbox"):
        select_sandbox()
    with pytest.raises(SandboxUnavailable, match="does not isolate the filesystem"):
        select_sandbox(prefer="unshare")
    assert select_sandbox(allow_unsafe=True).name == "unshare"
    assert select_sandbox(allow_unsafe=True, prefer="unshare").name == "unshare"


def test_the_interpreter_is_this_one():
    result = make(BwrapSandbox).run(["python", "-c", "import sys; print(sys.prefix, sys.flags.isolated)"], limits=FAST)
    assert result.stdout.split() == [sys.prefix, "1"]


def test_execution_result_is_plain_data():
    result = ExecutionResult("ok", 0, "a", "", 0.1, "none")
    assert result.to_dict()["stdout_truncated"] is False
    assert os.fspath("x") == "x"


def test_closed_pipes_still_hit_the_wall_time():
    prog = "import os\nos.close(1)\nos.close(2)\nwhile True: pass"
    result = make(BwrapSandbox).run(["python", "-c", prog], limits=Limits(wall_seconds=1.5, cpu_seconds=30))
    assert (result.status, result.stopped) == ("timeout", "wall_time")


def test_files_may_not_land_inside_a_read_only_mount(tmp_path):
    with pytest.raises(ValueError, match="read-only mount"):
        UnsafeSandbox().run(["python", "-c", "pass"], files={"repo/x.py": "x"}, ro_mounts={"repo": str(tmp_path)}, limits=FAST)


def test_a_virtualenv_under_tmp_still_runs(tmp_path, monkeypatch):
    """A checkout in /tmp (as CI clones may be) puts the venv under the sandbox's fresh /tmp: it is bound back."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    monkeypatch.setattr(sys, "executable", str(venv / "bin" / "python"))
    monkeypatch.setattr(sys, "prefix", str(venv))
    result = BwrapSandbox().run(["python", "-c", "import sys; print(sys.prefix)"], limits=Limits(wall_seconds=10))
    assert result.status == "ok", result
    assert result.stdout.strip() == str(venv)
