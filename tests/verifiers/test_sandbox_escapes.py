"""Hostile programs against the real sandboxes: each is contained, reported, and this process carries on.

Network tests only ever aim at a listener this test opens on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import textwrap
import time

import pytest

from verifiers.sandbox import BwrapSandbox, Limits, UnshareSandbox
from verifiers.sandbox.select import probe

LIMITS = Limits(wall_seconds=3, cpu_seconds=3, memory_bytes=512 << 20, max_processes=32, output_bytes=4096)


def bwrap():
    ok, why = probe("bwrap")
    if not ok:
        pytest.skip(f"bwrap unavailable here: {why}")
    return BwrapSandbox()


def unshare():
    ok, why = probe("unshare")
    if not ok:
        pytest.skip(f"unshare unavailable here: {why}")
    return UnshareSandbox()


BOXES = [pytest.param(bwrap, id="bwrap"), pytest.param(unshare, id="unshare")]


def run(box, program: str, limits: Limits = LIMITS):
    return box.run(["python", "-c", textwrap.dedent(program)], limits=limits)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def uid_processes(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid and alive(int(entry)):
                    found.append(int(entry))
            except OSError:
                pass
    return found


def assert_unreachable(box, listener: socket.socket, family: str, address: object) -> None:
    """A program in ``box`` tries to connect to ``listener`` (on this host): it must fail, and the
    listener must have accepted nothing."""
    listener.listen(5)
    listener.setblocking(False)
    try:
        result = run(box, f"""
            import socket
            s = socket.socket(socket.{family})
            s.settimeout(1)
            try:
                s.connect({address!r})
                s.sendall(b"hello")
                print("CONNECTED")
            except OSError as exc:
                print("blocked", exc)
        """)
        assert result.status == "ok", result
        assert "CONNECTED" not in result.stdout and "blocked" in result.stdout
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


@pytest.mark.parametrize("factory", BOXES)
def test_no_network_even_to_localhost(factory):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    assert_unreachable(factory(), listener, "AF_INET", ("127.0.0.1", listener.getsockname()[1]))


def test_cannot_write_outside_the_work_dir(tmp_path):
    """bwrap only: the unshare fallback does not hide the filesystem (documented, and said at run time)."""
    box = BwrapSandbox()
    target = tmp_path / "escaped.txt"
    tmp_path.chmod(0o777)  # even a world-writable dir outside the work dir stays untouched
    result = run(box, f"""
        try:
            open({str(target)!r}, "w").write("escaped")
            print("WROTE")
        except OSError as exc:
            print("denied", exc)
    """)
    assert result.status == "ok" and "denied" in result.stdout
    assert not target.exists()


def test_cannot_read_home_or_shadow():
    box = bwrap()
    home = os.path.expanduser("~")
    result = run(box, f"""
        import os
        print("home:", sorted(os.listdir({home!r})))
        try:
            print("SHADOW", repr(open("/etc/shadow").read()[:40]))
        except OSError as exc:
            print("shadow denied", exc)
    """)
    assert result.status == "ok", result
    assert "SHADOW 'root" not in result.stdout and "$" not in result.stdout.split("SHADOW")[-1]
    listed = result.stdout.split("home:", 1)[1].splitlines()[0]
    real = set(os.listdir(home)) - {".pyenv"}  # only the interpreter is bound back
    assert not any(repr(name) in listed for name in real)


def test_fork_bomb_is_stopped_and_leaves_nothing():
    box = bwrap()
    result = run(box, """
        import os, sys
        print(os.getuid(), flush=True)
        n = 0
        while True:
            try:
                os.fork()
                n += 1
            except OSError:
                pass
    """)
    assert result.status in ("timeout", "killed"), result
    uid = int(result.stdout.split()[0])
    if os.geteuid() == 0:
        assert uid != 0
        time.sleep(0.2)
        assert uid_processes(uid) == []


def test_memory_bomb():
    result = run(bwrap(), "x = []\nwhile True: x.append(bytearray(64 << 20))")
    assert result.status == "memory" and result.stopped == "memory"


@pytest.mark.parametrize("factory", BOXES)
def test_endless_loop_times_out(factory):
    start = time.monotonic()
    result = run(factory(), "while True: pass", Limits(wall_seconds=1.5, cpu_seconds=30))
    assert (result.status, result.stopped) == ("timeout", "wall_time")
    assert time.monotonic() - start < 10


def test_huge_stdout_is_truncated_and_killed():
    result = run(bwrap(), "import sys\nwhile True: sys.stdout.write('x' * 65536)")
    assert result.status == "killed" and result.stopped == "output_limit"
    assert result.stdout_truncated and len(result.stdout) == LIMITS.output_bytes


def test_large_but_bounded_stdout_is_only_truncated():
    result = run(bwrap(), "print('y' * 20000)")
    assert result.status == "ok" and result.stdout_truncated and len(result.stdout) == LIMITS.output_bytes


@pytest.mark.parametrize("how", ["os.kill(os.getppid(), signal.SIGKILL)", "os.kill(-1, signal.SIGKILL)"])
def test_killing_its_parent_or_everyone(how):
    result = run(bwrap(), f"import os, signal\n{how}\nprint('still here')")
    assert result.status in ("ok", "killed", "failed"), result
    assert os.getpid() > 0  # we are still alive to check


@pytest.mark.parametrize("factory", BOXES)
def test_background_processes_do_not_survive(factory):
    box = factory()
    token = f"sleeper-{os.getpid()}-{time.monotonic_ns()}"
    result = box.run(["python", "-c", textwrap.dedent(f"""
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                for fd in (0, 1, 2):
                    os.close(fd)
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)  # {token}"])
            os._exit(0)
        time.sleep(0.5)
        with open("pidfile", "w") as handle:  # the pid as this namespace sees it
            pids = [p for p in os.listdir("/proc") if p.isdigit() and {token!r} in open(f"/proc/{{p}}/cmdline").read()]
            handle.write(str(pids))
        print("uid", os.getuid(), open("pidfile").read())
    """)], limits=LIMITS)
    assert result.status == "ok", result
    assert result.stdout.count("'") >= 2, result.stdout  # the sleeper was running inside
    time.sleep(0.2)
    survivors = [p for p in os.listdir("/proc") if p.isdigit() and token in _cmd(p) and alive(int(p))]
    assert survivors == []
    uid = int(result.stdout.split()[1])
    if box.name == "bwrap" and os.geteuid() == 0:
        assert uid_processes(uid) == []


def _cmd(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


@pytest.mark.parametrize("where", ["/var/tmp", "/run"])
def test_no_unix_sockets_of_the_host(where):
    """A Unix socket ignores the network namespace and read-only binds: its directories are hidden."""
    if not os.access(where, os.W_OK):
        pytest.skip(f"cannot create a socket in {where} as this user")
    path = os.path.join(where, f"reverse-o1-test-{os.getpid()}.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o777)
    try:
        assert_unreachable(BwrapSandbox(), listener, "AF_UNIX", path)
    finally:
        os.unlink(path)
