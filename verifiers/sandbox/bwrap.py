"""Bubblewrap: a read-only view of the root, a fresh size-limited tmpfs work dir, no network.

Inside the sandbox ``/`` is bound read-only; ``/tmp`` is a new tmpfs of ``tmpfs_bytes`` holding
the work dir ``/tmp/sandbox`` (files are copied into it through memfds with ``--file``); every
home (``/root``, ``/home``, ``$HOME``, the user's passwd home) and every usual home of Unix
sockets (``/run``, ``/var``, ``/mnt``, ``/media``, ``/srv``: a socket ignores the network namespace
and a read-only bind) is hidden behind an empty tmpfs,
and only the interpreter's prefixes are bound back when they live there or in ``/tmp``; ``/etc/shadow`` and
``/etc/gshadow`` are masked; new network, PID, IPC, UTS (and cgroup) namespaces; a new session
(no TIOCSTI on the caller's terminal); bwrap dies with its parent.

As root, bwrap runs privileged without a user namespace and the program is started through
``setpriv`` as an unprivileged uid picked per worker process in [100000, 165535), with no
capabilities and ``no_new_privs``: so RLIMIT_NPROC is enforced (never for root) and counted for
this sandbox alone, and ordinary file permissions apply. As another user, bwrap uses an
unprivileged user namespace (``--unshare-user``) and RLIMIT_NPROC is what the user already runs
plus ``max_processes``. With the PID namespace, everything the program started (background,
double-forked, setsid) dies when it exits or when the group is killed at a limit.
"""

from __future__ import annotations

import functools
import itertools
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import threading

from verifiers.sandbox.base import Launch, Limits, Sandbox, SandboxUnavailable, rlimits_for

WORK = "/tmp/sandbox"
#: where Unix sockets usually live (/var/run is a link to /run on current systems)
SOCKET_DIRS = ("/run", "/var", "/mnt", "/media", "/srv")
UID_BASE, UID_SPAN = 100000, 65535
_counter = itertools.count()
_lock = threading.Lock()


def _home_dirs() -> list[str]:
    homes = {"/root", "/home"}
    if os.environ.get("HOME"):
        homes.add(os.environ["HOME"])
    try:
        homes.add(pwd.getpwuid(os.geteuid()).pw_dir)
    except KeyError:
        pass
    found = sorted(os.path.realpath(h) for h in homes if h and os.path.isdir(h))
    found = [h for h in found if h != "/"]
    # an inner home is already hidden by its outer one
    return [h for h in found if not any(h != o and h.startswith(o.rstrip("/") + "/") for o in found)]


def _under(path: str, dirs: list[str]) -> str | None:
    for d in dirs:
        if path == d or path.startswith(d.rstrip("/") + "/"):
            return d
    return None


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


class BwrapSandbox(Sandbox):
    name = "bwrap"

    def __init__(self, bwrap: str | None = None):
        self.bwrap = bwrap or shutil.which("bwrap") or "bwrap"
        self.root = os.geteuid() == 0
        self.setpriv = shutil.which("setpriv") if self.root else None

    @classmethod
    def available(cls) -> tuple[bool, str]:
        tool = shutil.which("bwrap")
        if not tool:
            return False, "bwrap not found (Debian package bubblewrap)"
        root = os.geteuid() == 0
        if root and not shutil.which("setpriv"):
            return False, "running as root but setpriv (util-linux) is missing to drop to an unprivileged uid"
        probe = [tool, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--proc", "/proc", "--dev", "/dev"]
        if not root:
            probe.append("--unshare-user")
        try:
            done = subprocess.run([*probe, "true"], capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"bwrap probe failed: {exc}"
        if done.returncode != 0:
            msg = done.stderr.decode("utf-8", "replace").strip().splitlines()
            return False, f"bwrap refused: {msg[-1] if msg else done.returncode}"
        return True, f"bwrap at {tool}" + (" (root: drops to an unprivileged uid)" if root else " (user namespace)")

    def _uid(self) -> int:
        with _lock:
            n = next(_counter) % 8
        return UID_BASE + ((os.getpid() * 8 + n) % UID_SPAN)

    def _launch(self, argv: list[str], files: dict[str, bytes], ro_mounts: dict[str, str], limits: Limits) -> Launch:
        launch = Launch(cmd=[], signal_via_128=True, wrapper_errors=("bwrap", "setpriv", "prlimit"))
        try:
            self._build(launch, argv, files, ro_mounts, limits)
        except BaseException:
            launch.close()
            raise
        return launch

    def _build(self, launch: Launch, argv: list[str], files: dict[str, bytes], ro_mounts: dict[str, str], limits: Limits) -> None:
        if not os.path.exists(self.bwrap) and not shutil.which(self.bwrap):
            raise SandboxUnavailable("bwrap not found")
        cmd = [self.bwrap, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev"]
        if not self.root:
            cmd.append("--unshare-user")
        homes = _home_dirs()
        for home in homes:
            cmd += ["--tmpfs", home]
        # Unix sockets ignore --unshare-net and a read-only bind (D-Bus, docker, databases, agents):
        # hide the places they live behind empty tmpfs; Python needs none of them
        for socket_dir in SOCKET_DIRS:
            if os.path.isdir(socket_dir) and not os.path.islink(socket_dir) and socket_dir not in homes:
                cmd += ["--tmpfs", socket_dir]
        cmd += ["--size", str(limits.tmpfs_bytes), "--perms", "1777", "--tmpfs", "/tmp", "--perms", "0777", "--dir", WORK]
        # a virtualenv in /tmp (a CI checkout there) or under /var or /run is hidden too: bound back below
        hidden = [*homes, *(d for d in SOCKET_DIRS if os.path.isdir(d) and not os.path.islink(d)), "/tmp"]
        # bring back what the interpreter needs, with traversable parents (bwrap makes them 0700)
        made: set[str] = set()
        exe = os.path.realpath(sys.executable)
        needs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), os.path.abspath(sys.prefix),
                 os.path.dirname(exe)}
        for need in sorted(needs):
            home = _under(need, hidden)
            if home is None or need == home or not os.path.exists(need):
                continue
            rel = os.path.relpath(os.path.dirname(need), home)
            parent = home
            for part in ([] if rel == "." else rel.split("/")):
                parent = os.path.join(parent, part)
                if parent not in made:
                    made.add(parent)
                    cmd += ["--perms", "0755", "--dir", parent]
            cmd += ["--ro-bind", need, need]
        for secret in ("/etc/shadow", "/etc/gshadow", "/etc/sudoers"):
            if os.path.exists(secret):
                cmd += ["--ro-bind", "/dev/null", secret]
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
        fds: list[int] = []
        for rel, data in files.items():
            ensure_dir(os.path.dirname(rel))
            fd = os.memfd_create("sandbox-file", 0)
            fds.append(fd)
            launch.pass_fds = tuple(fds)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.lseek(fd, 0, os.SEEK_SET)
            cmd += ["--perms", "0666", "--file", str(fd), f"{WORK}/{rel}"]
        cmd += ["--chdir", WORK]
        if self.root:
            uid = self._uid()
            cmd += ["--cap-add", "CAP_SETUID,CAP_SETGID", self.setpriv or "setpriv", "--reuid", str(uid), "--regid", str(uid),
                    "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]
        launch.cmd = cmd + argv
        launch.rlimits = rlimits_for(limits)
