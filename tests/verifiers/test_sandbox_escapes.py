"""Hostile programs against the real sandboxes: each is contained, reported, and this process carries on.

Network tests only ever aim at a listener this test opens on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import tempfile
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


# --- the allow-list root: nothing of the host beyond libraries and the interpreter ---------------

def test_only_the_allow_list_is_visible():
    """Walk the sandbox's whole root: every entry lies in a system folder, the interpreter's
    folders, or what the sandbox makes itself (/proc, /dev, /tmp, a few /etc files)."""
    from verifiers.sandbox.bwrap import ETC_KEPT, SYSTEM_DIRS, TOP_LEVEL, interpreter_dirs

    allowed = (*SYSTEM_DIRS, *TOP_LEVEL, *interpreter_dirs(), *ETC_KEPT, "/tmp", "/etc/passwd", "/etc/group", "/etc/hosts")
    result = run(bwrap(), f"""
        import os
        allowed = {allowed!r}
        def inside(p):
            return any(p == a or p.startswith(a.rstrip("/") + "/") for a in allowed)
        for top in sorted(os.listdir("/")):
            if top in ("proc", "dev"):
                continue
            for root, dirs, files in os.walk("/" + top):
                dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
                for path in [root, *(os.path.join(root, n) for n in files)]:
                    if not inside(path):
                        print(repr(path))
    """, Limits(wall_seconds=60, cpu_seconds=60, memory_bytes=1 << 30, output_bytes=1 << 20))
    assert result.status == "ok" and not result.stdout_truncated, result
    outside = [eval(line) for line in result.stdout.splitlines()]
    # the parents of bound folders are empty directories made for the bind
    parents: set[str] = set()
    for folder in allowed:
        while folder != "/":
            folder = os.path.dirname(folder)
            parents.add(folder)
    assert [p for p in outside if p not in parents] == []


def test_the_checkout_and_this_test_are_invisible():
    here = os.path.abspath(__file__)
    result = run(bwrap(), f"""
        import os
        for path in ({here!r}, {os.path.dirname(here)!r}, {os.getcwd()!r}, "/work", "/opt", "/var", "/run", "/home",
                     "/etc/shadow", "/etc/ssh", os.path.expanduser("~root")):
            print(path, os.path.exists(path) and (os.listdir(path) if os.path.isdir(path) else "FILE"))
    """)
    assert result.status == "ok", result
    from verifiers.sandbox.bwrap import interpreter_dirs

    for line in result.stdout.splitlines():
        path, _, shown = line.partition(" ")
        if shown.startswith("["):  # only the folders leading to the interpreter's own are there
            leads = {d[len(path.rstrip("/")) + 1:].split("/")[0] for d in interpreter_dirs()
                     if d.startswith(path.rstrip("/") + "/")}
            assert set(eval(shown)) <= leads, line
        else:
            assert shown == "False", line


@pytest.mark.parametrize("where", ["opt", "checkout", "tmp_path"])
def test_no_unix_socket_anywhere_on_the_host(where, tmp_path):
    """A socket the test opens in /opt, in the checkout or in a temp dir is out of reach: those
    folders are simply not in the sandbox's root."""
    base = {"opt": "/opt", "checkout": os.path.dirname(os.path.abspath(__file__)), "tmp_path": str(tmp_path)}[where]
    if not os.access(base, os.W_OK):
        pytest.skip(f"cannot create a socket in {base} as this user")
    folder = tempfile.mkdtemp(prefix="ro1-sock-", dir=base)
    path = os.path.join(folder, "s")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(folder, 0o777)
    os.chmod(path, 0o777)
    try:
        assert_unreachable(bwrap(), listener, "AF_UNIX", path)
    finally:
        os.unlink(path)
        os.rmdir(folder)


# --- the seccomp filter: no nested namespaces, no ptrace, mount, bpf, keyctl -----------------------

def test_nested_namespaces_and_dangerous_calls_are_refused():
    result = run(bwrap(), """
        import ctypes, os, subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        def call(name, *args):
            got = getattr(libc, name)(*args)
            return f"{name}={got}/{ctypes.get_errno()}"
        print(call("unshare", 0x10000000))              # CLONE_NEWUSER
        print(call("unshare", 0x20000))                  # CLONE_NEWNS
        print(call("syscall", 56, 0x10000000 | 17, 0, 0, 0, 0))  # raw clone(CLONE_NEWUSER|SIGCHLD)
        print(call("ptrace", 0, 0, 0, 0))                # PTRACE_TRACEME
        print(call("mount", b"none", b"/tmp", b"tmpfs", 0, None))
        print(call("syscall", 321, 0, 0, 0))             # bpf
        print(call("syscall", 250, 0, 0, 0, 0, 0))       # keyctl
        print(call("syscall", 425, 1, 0))                # io_uring_setup
        tool = [t for t in ("/usr/bin/unshare", "/bin/unshare") if os.path.exists(t)]
        if tool:
            done = subprocess.run([tool[0], "--user", "true"], capture_output=True)
            print("unshare-tool", done.returncode)
        pid = os.fork()                                  # plain processes and threads still work
        if pid == 0:
            os._exit(0)
        print("fork", os.waitpid(pid, 0)[1])
    """)
    assert result.status == "ok", result
    lines = dict(line.split("=", 1) if "=" in line else line.split(" ", 1) for line in result.stdout.splitlines())
    if not os.uname().machine == "x86_64":
        pytest.skip("raw syscall numbers here are x86-64's")
    for name in ("unshare", "syscall", "ptrace", "mount"):
        assert lines[name].startswith("-1/1"), result.stdout  # EPERM
    assert lines.get("unshare-tool", "1") != "0"
    assert lines["fork"] == "0"


def test_the_filter_refuses_each_listed_call_by_number():
    """Every refused name has a number, and the BPF program holds a check for each."""
    import struct

    from verifiers.sandbox.seccomp import ARCHES, program

    for machine, arch in ARCHES.items():
        code = program(machine)
        ks = {struct.unpack("=HBBI", code[i:i + 8])[3] for i in range(0, len(code), 8)}
        assert set(arch["deny"].values()) <= ks
        assert len(code) // 8 < 4096  # the kernel's limit


# --- memory across processes: the run's cgroup ----------------------------------------------------

def test_memory_is_limited_across_processes():
    """Four children of 400 MiB each under a 512 MiB limit: RLIMIT_AS alone allows each of them
    (4 x 400 = 1.6 GiB in all); the run's cgroup does not."""
    from verifiers.sandbox.cgroup import cgroups_available

    ok, why = cgroups_available()
    if not ok:
        pytest.skip(f"no cgroup can be made here ({why}): memory is limited per process only")
    result = run(bwrap(), """
        import os, time
        kids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                block = b"x" * (400 << 20)  # written, so resident
                time.sleep(2)
                os._exit(0)
            kids.append(pid)
        codes = [os.waitpid(k, 0)[1] for k in kids]
        print("statuses", codes)
    """, Limits(wall_seconds=20, cpu_seconds=20, memory_bytes=512 << 20, max_processes=32, output_bytes=4096))
    # either the whole run was stopped for memory, or some child was killed (status 9): never all four held
    assert result.status == "memory" and result.stopped == "memory", result


def test_process_limit_covers_the_whole_tree():
    from verifiers.sandbox.cgroup import cgroups_available

    if not cgroups_available()[0]:
        pytest.skip("no cgroup here: the process limit is RLIMIT_NPROC only")
    result = run(bwrap(), """
        import os, time
        made = 0
        try:
            for _ in range(200):
                if os.fork() == 0:
                    time.sleep(3)
                    os._exit(0)
                made += 1
        except OSError as exc:
            print("refused after", made, exc.errno)
    """, Limits(wall_seconds=10, cpu_seconds=10, max_processes=16, output_bytes=4096))
    made = int(result.stdout.split()[2])
    assert made < 16, result
