"""The four steps of the sandbox run loop on their own (``verifiers.sandbox.base``): spawn, pump, reap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from verifiers.sandbox.base import (
    HARD_OUTPUT_FACTOR,
    TAIL_BYTES,
    Launch,
    _Output,
    _pump,
    _reap_run,
    _spawn,
    _SpawnFailed,
)


def start(code: str) -> subprocess.Popen[bytes]:
    """A Python child in its own process group, with pipes, as ``_spawn`` would start it."""
    return subprocess.Popen([sys.executable, "-I", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def test_output_keeps_the_head_of_each_stream_and_the_tail_of_stdout() -> None:
    out = _Output(keep=4)
    out.take("stdout", b"abc")
    out.take("stderr", b"123456")
    out.take("stdout", b"defg" + b"x" * TAIL_BYTES)
    assert out.kept == {"stdout": bytearray(b"abcd"), "stderr": bytearray(b"1234")}
    assert out.seen == {"stdout": 7 + TAIL_BYTES, "stderr": 6}
    assert out.tail == b"x" * TAIL_BYTES


def test_pump_stops_at_the_output_cap_and_reap_kills_the_group() -> None:
    proc = start("import sys\nwhile True: sys.stdout.write('y' * 1000)")
    deadline = time.monotonic() + 20
    out = _pump(proc, None, 1024, deadline)
    assert out.stopped == "output_limit" and out.reaped is None  # it was still writing
    assert HARD_OUTPUT_FACTOR * 1024 < out.seen["stdout"] and len(out.kept["stdout"]) == 1024
    status, usage, stopped = _reap_run(proc, out.reaped, out.stopped, deadline)
    assert stopped == "output_limit" and usage is not None
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL and proc.returncode == status
    assert proc.stdout.closed and proc.stderr.closed and proc.stdin.closed


def test_pump_stops_at_the_deadline_and_feeds_stdin() -> None:
    proc = start("import sys, time\nsys.stdout.write(sys.stdin.read()); sys.stdout.flush(); time.sleep(30)")
    began = time.monotonic()
    out = _pump(proc, b"hello", 4096, began + 1.0)
    assert out.stopped == "wall_time" and bytes(out.kept["stdout"]) == b"hello"
    assert time.monotonic() - began < 2.0
    status, _, stopped = _reap_run(proc, out.reaped, out.stopped, began + 1.0)
    assert stopped == "wall_time" and os.WTERMSIG(status) == signal.SIGKILL


def test_reap_of_a_process_that_already_exited() -> None:
    proc = start("import sys; sys.exit(7)")
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
    status, usage, stopped = _reap_run(proc, None, None, time.monotonic() + 5)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7 and usage is not None and stopped is None
    assert proc.returncode == status and proc.stdout.closed
    # reaped already (by the pump): its status is used as it is, nothing waits again
    assert _reap_run(proc, (status, usage), None, time.monotonic()) == (status, usage, None)


def test_spawn_refused_by_started_kills_and_reaps_the_run() -> None:
    seen: list[int] = []

    def refuse(pid: int) -> str:
        seen.append(pid)
        return "cgroup setup failed: nope"

    launch = Launch(cmd=[sys.executable, "-I", "-c", "import time; time.sleep(30)"], started=refuse)
    began = time.monotonic()
    with pytest.raises(_SpawnFailed, match="^cgroup setup failed: nope$"):
        _spawn(launch)
    assert time.monotonic() - began < 10 and len(seen) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(seen[0], os.WNOHANG)  # waited for already


def test_spawn_that_cannot_start() -> None:
    with pytest.raises(_SpawnFailed, match="^cannot start sandbox: "):
        _spawn(Launch(cmd=[sys.executable, "-c", "pass"], cwd="/nonexistent/work-dir"))
