"""Bubblewrap with an allow-list root: the program sees the system's libraries, the interpreter and
the files it was given, and nothing else of the host.

The root inside is a fresh tmpfs holding only:

* the system folders a dynamically linked interpreter and the programs tests call need
  (``/usr/bin``, ``/usr/lib*``, ``/usr/libexec``, ``/usr/share/zoneinfo``, and ``/bin``, ``/lib*``,
  ``/sbin`` as the host has them: links into ``/usr`` or bound), read-only;
* the interpreter's own prefixes (``sys.base_prefix``, the virtualenv, the stdlib and
  site-packages folders, where they lie outside those), read-only;
* a minimal ``/etc``: the dynamic linker's cache and config, ``localtime`` and ``alternatives``
  (links), and a ``passwd``, ``group`` and ``hosts`` written for the sandbox;
* a new ``/proc`` (of the PID namespace), a minimal ``/dev``, a size-limited tmpfs ``/tmp`` holding
  the work dir ``/tmp/sandbox`` (files copied in through memfds; mounts bound read-only), and a
  small ``/dev/shm``.

So no home, checkout, other repository, tool folder or Unix socket of the host is visible.
New network, PID, IPC, UTS and cgroup namespaces; a new session; bwrap dies with its parent;
a seccomp filter (``seccomp.py``) refuses namespace creation, ``ptrace``, ``mount``, ``bpf``,
``keyctl``, ``io_uring`` and the like. As root, bwrap runs privileged without a user namespace
and the program is started through ``setpriv`` as an unprivileged uid picked per worker process
in [100000, 165535) with no capabilities and ``no_new_privs``; as another user, bwrap uses a user
namespace with further ones disabled (``--disable-userns``). Where a cgroup can be made
(``cgroup.py``), memory and processes are limited for the whole tree.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import select
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time

from verifiers.sandbox.base import Launch, Limits, Sandbox, SandboxUnavailable, rlimits_for
from verifiers.sandbox.cgroup import POOL, cgroups_available
from verifiers.sandbox.seccomp import program as seccomp_program

WORK = "/tmp/sandbox"
SYSTEM_DIRS = ("/usr/bin", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libx32", "/usr/libexec", "/usr/share/zoneinfo")
TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_KEPT = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives")
SHM_BYTES = 16 << 20
#: processes a run needs besides the program: the joining shell (exec'd into bwrap) and bwrap's init
WRAPPER_PROCESSES = 3
UID_BASE, UID_SPAN = 100000, 65535
_counter = itertools.count()
_lock = threading.Lock()


def _readable_by_others(path: str) -> bool:
    """Every file o+r and every dir o+rx (a bind keeps host modes; the sandbox uid is "other").

    Cached by path and change time: a repository snapshot is mounted for every test run
    and never changes, so its tree is walked once, not once per execution."""
    try:
        st = os.stat(path)
        return _readable_tree(path, (st.st_mtime_ns, st.st_ctime_ns, st.st_mode))
    except OSError:
        return False


@functools.lru_cache(maxsize=256)
def _readable_tree(path: str, _version: tuple[int, int, int]) -> bool:
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return bool(st.st_mode & stat.S_IROTH)
        if not (st.st_mode & stat.S_IROTH and st.st_mode & stat.S_IXOTH):
            return False
        for root, dirs, names in os.walk(path):
            for d in dirs:
                m = os.lstat(os.path.join(root, d)).st_mode
                if stat.S_ISDIR(m) and not (m & stat.S_IROTH and m & stat.S_IXOTH):
                    return False
            for n in names:
                m = os.lstat(os.path.join(root, n)).st_mode
                if stat.S_ISREG(m) and not m & stat.S_IROTH:
                    return False
    except OSError:
        return False
    return True


def _world_readable_copy(host: str, staging: str, index: int) -> str:
    dest = os.path.join(staging, f"m{index}")
    if os.path.isdir(host):
        shutil.copytree(host, dest, symlinks=True)
    else:
        shutil.copy2(host, dest)
    for root, _dirs, names in os.walk(dest):
        os.chmod(root, 0o755)
        for n in names:
            full = os.path.join(root, n)
            if not os.path.islink(full):
                os.chmod(full, 0o644)
    if os.path.isfile(dest):
        os.chmod(dest, 0o644)
    return dest


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def interpreter_dirs() -> tuple[str, ...]:
    """The folders this interpreter runs from (prefixes, stdlib, site-packages, the executable's
    folder), as seen and resolved, outside the system folders, outermost only."""
    paths = sysconfig.get_paths()
    seen = {sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.dirname(sys.executable),
            *(paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib"))}
    found = {p for raw in seen if raw for p in (os.path.abspath(raw), os.path.realpath(raw)) if os.path.isdir(p)}
    outside = [p for p in found if p != "/" and not any(_inside(p, s) for s in SYSTEM_DIRS)]
    return tuple(sorted(p for p in outside if not any(p != o and _inside(p, o) for o in outside)))


@functools.lru_cache(maxsize=8)
def supports(tool: str, flag: str) -> bool:
    """Whether this bwrap knows ``flag`` (``--disable-userns`` came with 0.8.0; the seccomp filter
    refuses new user namespaces on older ones anyway)."""
    try:
        done = subprocess.run([tool, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return flag in done.stdout + done.stderr


def _child_pid(fd: int, timeout: float) -> int | None:
    """The ``child-pid`` of bwrap's ``--info-fd`` JSON, or None when it closed without one."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"}" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise OSError("bwrap did not report its sandbox in time")
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        data += chunk
    try:
        return int(json.loads(data.decode())["child-pid"])
    except (ValueError, KeyError, TypeError) as exc:
        raise OSError(f"unreadable --info-fd data: {data[:80]!r}") from exc


def refused_sandbox_reason() -> str:
    return "bwrap not found: install bubblewrap (apt-get install -y bubblewrap)"


class BwrapSandbox(Sandbox):
    name = "bwrap"

    def __init__(self, bwrap: str | None = None, use_cgroup: bool | None = None):
        self.bwrap = bwrap or shutil.which("bwrap") or "bwrap"
        self.root = os.geteuid() == 0
        self.setpriv = shutil.which("setpriv") if self.root else None
        self.seccomp = seccomp_program()
        self.use_cgroup = cgroups_available()[0] if use_cgroup is None else use_cgroup

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Runs a real (tiny) program under the full set of options this class uses."""
        tool = shutil.which("bwrap")
        if not tool:
            return False, refused_sandbox_reason()
        if os.geteuid() == 0 and not shutil.which("setpriv"):
            return False, "running as root but setpriv (util-linux) is missing to drop to an unprivileged uid"
        try:
            box = cls(tool)
            done = box.run(["python", "-c", "print('ok')"], limits=Limits(wall_seconds=20, cpu_seconds=20))
        except (OSError, SandboxUnavailable) as exc:
            return False, f"bwrap probe failed: {exc}"
        if done.status != "ok" or done.stdout.strip() != "ok":
            msg = done.stderr.strip().splitlines()
            return False, f"bwrap refused: {msg[-1] if msg else done.status}"
        return True, f"bwrap at {tool} ({box.describe()})"

    def describe(self) -> str:
        parts = ["root: drops to an unprivileged uid" if self.root else "user namespace, nested ones disabled",
                 "seccomp filter" if self.seccomp else "NO seccomp filter (unknown architecture)",
                 "memory and processes limited per run cgroup" if self.use_cgroup
                 else f"memory limited per process only ({cgroups_available()[1]})"]
        return "; ".join(parts)

    def _uid(self) -> int:
        with _lock:
            n = next(_counter) % 8
        return UID_BASE + ((os.getpid() * 8 + n) % UID_SPAN)

    def _launch(self, argv: list[str], files: dict[str, bytes], ro_mounts: dict[str, str], limits: Limits) -> Launch:
        launch = Launch(cmd=[], signal_via_128=True, wrapper_errors=("bwrap", "setpriv", "prlimit", "cgroup"))
        try:
            self._build(launch, argv, files, ro_mounts, limits)
        except BaseException:
            launch.close()
            raise
        return launch

    def _memfd(self, launch: Launch, data: bytes) -> int:
        fd = os.memfd_create("sandbox-file", 0)
        launch.pass_fds = (*launch.pass_fds, fd)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
        return fd

    def _root(self, launch: Launch, uid: int) -> list[str]:
        """The allow-list root: system folders, the interpreter, a minimal /etc."""
        cmd: list[str] = []
        made: set[str] = {"/", "/tmp"}

        def parents(path: str) -> None:
            parent = os.path.dirname(path)
            if parent in made:
                return
            parents(parent)
            made.add(parent)
            cmd.extend(["--perms", "0755", "--dir", parent])

        for top in TOP_LEVEL:
            if os.path.islink(top):
                cmd += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                cmd += ["--ro-bind", top, top]
        for system in SYSTEM_DIRS:
            if os.path.isdir(system) and not os.path.islink(system):
                parents(system)
                cmd += ["--ro-bind", system, system]
        for need in interpreter_dirs():
            parents(need)
            made.add(need)
            cmd += ["--ro-bind", need, need]
        cmd += ["--perms", "0755", "--dir", "/etc"]
        for kept in ETC_KEPT:
            if os.path.islink(kept):
                cmd += ["--symlink", os.readlink(kept), kept]
            elif os.path.exists(kept):
                cmd += ["--ro-bind", kept, kept]
        passwd = (f"root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}:sandbox:{WORK}:/usr/sbin/nologin\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        group = f"root:x:0:\nsandbox:x:{uid}:\nnogroup:x:65534:\n"
        for name, text in (("passwd", passwd), ("group", group), ("hosts", "127.0.0.1 localhost\n::1 localhost\n")):
            cmd += ["--perms", "0644", "--ro-bind-data", str(self._memfd(launch, text.encode())), f"/etc/{name}"]
        return cmd

    def _with_cgroup(self, launch: Launch, cmd: list[str], limits: Limits) -> list[str]:
        """Give the run its own cgroup: bwrap reports its sandbox's first process on ``--info-fd``
        and waits on ``--block-fd``; that process is moved into the cgroup, then released, so the
        program and all it starts are inside before it runs. (Only the sandbox is moved, not
        bwrap's own set-up: mounts made inside a memory cgroup cost ~10 ms more per run.)"""
        try:
            # as root the program's uid is its own, so RLIMIT_NPROC already counts this run alone: a v1
            # pids cgroup would only add a second migration (each costs an RCU grace period, ~5 ms)
            group = POOL.take(limits.memory_bytes + limits.tmpfs_bytes, limits.max_processes + WRAPPER_PROCESSES,
                              pids=not self.root)
        except OSError as exc:
            raise SandboxUnavailable(f"cannot create the run's cgroup: {exc}") from exc
        launch.cleanup.append(lambda: POOL.give_back(group))
        launch.oom_killed = group.oom_killed
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        launch.pass_fds = (*launch.pass_fds, info_w, block_r)
        ours = [info_r, block_w]

        def close_ours() -> None:
            while ours:
                try:
                    os.close(ours.pop())
                except OSError:
                    pass

        launch.cleanup.append(close_ours)

        def started(_pid: int) -> str | None:
            try:
                child = _child_pid(info_r, timeout=30.0)
                if child is None:
                    return None  # bwrap failed before its sandbox existed: its own error says why
                group.join(child)
                os.write(block_w, b"1")
                return None
            except OSError as exc:
                return f"cgroup: cannot move the sandbox into its cgroup: {exc.strerror or exc}"
            finally:
                close_ours()

        launch.started = started
        return [cmd[0], "--info-fd", str(info_w), "--block-fd", str(block_r), *cmd[1:]]

    def _build(self, launch: Launch, argv: list[str], files: dict[str, bytes], ro_mounts: dict[str, str], limits: Limits) -> None:
        if not os.path.exists(self.bwrap) and not shutil.which(self.bwrap):
            raise SandboxUnavailable(refused_sandbox_reason())
        uid = self._uid() if self.root else os.getuid()
        cmd = [self.bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "sandbox",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
        if not self.root:
            cmd += ["--unshare-user", *(["--disable-userns"] if supports(self.bwrap, "--disable-userns") else [])]
        # /tmp first: an interpreter in /tmp (a CI checkout's venv) is bound on top of it
        cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_BYTES), "--perms", "1777", "--tmpfs", "/dev/shm",
                "--size", str(limits.tmpfs_bytes), "--perms", "1777", "--tmpfs", "/tmp", "--perms", "0777", "--dir", WORK]
        cmd += self._root(launch, uid)
        dirs: set[str] = set()

        def ensure_dir(rel_dir: str) -> None:
            if not rel_dir or rel_dir in dirs:
                return
            ensure_dir(os.path.dirname(rel_dir))
            dirs.add(rel_dir)
            if not any(rel_dir == m or rel_dir.startswith(m + "/") for m in ro_mounts):
                cmd.extend(["--perms", "0777", "--dir", f"{WORK}/{rel_dir}"])

        staging: str | None = None
        for index, (rel, host) in enumerate(ro_mounts.items()):
            ensure_dir(os.path.dirname(rel))
            if self.root and not _readable_by_others(host):
                if staging is None:
                    staging = tempfile.mkdtemp(prefix="sandbox-ro-")
                    launch.cleanup.append(lambda s=staging: shutil.rmtree(s, ignore_errors=True))
                host = _world_readable_copy(host, staging, index)
            cmd += ["--ro-bind", host, f"{WORK}/{rel}"]
        for rel, data in files.items():
            ensure_dir(os.path.dirname(rel))
            cmd += ["--perms", "0666", "--file", str(self._memfd(launch, data)), f"{WORK}/{rel}"]
        cmd += ["--chdir", WORK, "--setenv", "HOME", WORK]
        if self.seccomp:
            cmd += ["--seccomp", str(self._memfd(launch, self.seccomp))]
        if self.root:
            cmd += ["--cap-add", "CAP_SETUID,CAP_SETGID", self.setpriv or "setpriv", "--reuid", str(uid), "--regid", str(uid),
                    "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]
        cmd += argv
        if self.use_cgroup:
            cmd = self._with_cgroup(launch, cmd, limits)
        launch.cmd = cmd
        launch.rlimits = rlimits_for(limits)

