"""A memory and process limit on a sandbox's whole process tree, through a cgroup made per run.

RLIMIT_AS bounds each process, so a program that forks N children may use N times the memory
limit. Where this process may create child cgroups (cgroup v2 with the memory and pids
controllers delegated, or v1's memory and pids hierarchies, as root in most containers), every run
gets its own cgroup (reused from a pool: making one costs more than a short run) with
``memory`` = the limit (no swap on top) and ``pids`` = the process limit, and the sandbox is
moved into it before the program starts (see ``BwrapSandbox``). Where none can be made,
:func:`cgroups_available` says why and the sandbox falls back to per-process limits, saying so.
"""

from __future__ import annotations

import atexit
import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass, field

_counter = itertools.count()
_lock = threading.Lock()
_probe: tuple[bool, str] | None = None


@dataclass(frozen=True)
class Hierarchy:
    version: int  # 1 or 2
    #: v2: one folder; v1: the memory folder and the pids folder (this process's own cgroups)
    memory: str
    pids: str | None


def _mounts() -> list[tuple[str, str, str, str]]:
    """(root within the hierarchy, mount point, fs type, super options) from mountinfo."""
    out = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                left, _, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if len(fields) >= 5 and len(tail) >= 3:
                    out.append((fields[3], fields[4].replace("\\040", " "), tail[0], tail[2]))
    except OSError:
        pass
    return out


def _own() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's cgroup path."""
    own: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as handle:
            for line in handle:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3:
                    for controller in parts[1].split(",") if parts[1] else [""]:
                        own[controller] = parts[2]
    except OSError:
        pass
    return own


def _folder(mount_root: str, mount_point: str, path: str) -> str | None:
    root = mount_root.rstrip("/")
    if root and path != root and not path.startswith(root + "/"):
        return None
    rel = path[len(root):].lstrip("/")
    folder = os.path.join(mount_point, rel) if rel else mount_point
    return folder if os.path.isdir(folder) else None


def find_hierarchy() -> Hierarchy | None:
    """This process's own cgroup folders with memory and pids controllers, where they are visible."""
    own = _own()
    mounts = _mounts()
    if "memory" in own:  # v1
        memory = pids = None
        for root, point, kind, options in mounts:
            opts = options.split(",")
            if kind == "cgroup" and "memory" in opts and memory is None:
                memory = _folder(root, point, own["memory"])
            if kind == "cgroup" and "pids" in opts and "pids" in own and pids is None:
                pids = _folder(root, point, own["pids"])
        if memory:
            return Hierarchy(1, memory, pids)
    if "" in own:
        for root, point, kind, _ in mounts:
            if kind == "cgroup2":
                folder = _folder(root, point, own[""])
                if folder:
                    try:
                        with open(os.path.join(folder, "cgroup.controllers"), encoding="utf-8") as handle:
                            if "memory" in handle.read().split():
                                return Hierarchy(2, folder, folder)
                    except OSError:
                        continue
    return None


def _write(path: str, value: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(value)


def _read_int(path: str, key: str | None = None) -> int | None:
    """The number in a cgroup file (or on its ``key`` line); None when the file or key is not there."""
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read()
    except OSError:
        return None
    if key is None:
        return int(text.strip()) if text.strip().isdigit() else None
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


@dataclass
class RunCgroup:
    """One run's cgroup folders; :meth:`join_prefix` moves the program in, :meth:`remove` undoes it."""

    hierarchy: Hierarchy
    folders: list[str] = field(default_factory=list)
    limits: tuple[int, int, bool] = (0, 0, True)
    #: the kernel's count of memory kills in this cgroup when the current run started (cgroups are reused)
    baseline: int = 0

    @property
    def procs_files(self) -> list[str]:
        return [os.path.join(f, "cgroup.procs") for f in self.folders]

    def join(self, pid: int) -> None:
        """Move process ``pid`` (and so what it starts later) into every folder of this cgroup."""
        for procs in self.procs_files:
            _write(procs, str(pid))

    def _kills(self) -> int:
        memory = self.folders[0]
        if self.hierarchy.version == 2:
            return _read_int(os.path.join(memory, "memory.events"), "oom_kill") or 0
        kills = _read_int(os.path.join(memory, "memory.oom_control"), "oom_kill")
        if kills is not None:
            return kills
        return _read_int(os.path.join(memory, "memory.failcnt")) or 0  # kernels before 4.13: times the limit was hit

    def start(self) -> None:
        """Mark the start of a run (kills counted from here)."""
        self.baseline = self._kills()

    def oom_killed(self) -> bool:
        """True when the kernel killed a process of this run for memory."""
        return self._kills() > self.baseline

    def empty(self) -> bool:
        try:
            with open(self.procs_files[0], encoding="ascii") as handle:
                return not handle.read().strip()
        except OSError:
            return False

    def remove(self) -> None:
        """rmdir every folder, killing what is left in it first (never raises)."""
        for folder in reversed(self.folders):
            deadline = time.monotonic() + 2.0
            while os.path.isdir(folder):
                try:
                    os.rmdir(folder)
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    _kill_members(folder)
                    time.sleep(0.01)


def _kill_members(folder: str) -> None:
    try:
        with open(os.path.join(folder, "cgroup.procs"), encoding="ascii") as handle:
            pids = [int(p) for p in handle.read().split() if p.isdigit()]
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def make_run_cgroup(memory_bytes: int, max_processes: int, hierarchy: Hierarchy | None = None,
                    pids: bool = True) -> RunCgroup:
    """A fresh cgroup (v2: one folder; v1: one under memory and, with ``pids``, one under pids) with
    the limits set. Raises OSError where it cannot be made."""
    hierarchy = hierarchy or find_hierarchy()
    if hierarchy is None:
        raise OSError("no cgroup hierarchy with a memory controller is visible")
    with _lock:
        name = f"reverse-o1-sandbox-{os.getpid()}-{next(_counter)}"
    run = RunCgroup(hierarchy, limits=(memory_bytes, max_processes, pids))
    try:
        memory = os.path.join(hierarchy.memory, name)
        os.mkdir(memory)
        run.folders.append(memory)
        if hierarchy.version == 2:
            if not os.path.exists(os.path.join(memory, "memory.max")):
                raise OSError(f"the memory controller is not delegated to {hierarchy.memory}")
            _write(os.path.join(memory, "memory.max"), str(memory_bytes))
            if os.path.exists(os.path.join(memory, "memory.swap.max")):
                _write(os.path.join(memory, "memory.swap.max"), "0")
            if os.path.exists(os.path.join(memory, "pids.max")):
                _write(os.path.join(memory, "pids.max"), str(max_processes))
        else:
            _write(os.path.join(memory, "memory.limit_in_bytes"), str(memory_bytes))
            swap = os.path.join(memory, "memory.memsw.limit_in_bytes")
            if os.path.exists(swap):
                _write(swap, str(memory_bytes))
            if hierarchy.pids and pids:
                folder = os.path.join(hierarchy.pids, name)
                os.mkdir(folder)
                run.folders.append(folder)
                _write(os.path.join(folder, "pids.max"), str(max_processes))
    except OSError:
        run.remove()
        raise
    run.start()
    return run


class CgroupPool:
    """Run cgroups kept for reuse: making and removing a memory cgroup costs more than a short
    sandbox run itself, so each is emptied (its processes are gone when the run ends), checked,
    and handed to the next run with the same limits. What is left at exit is removed."""

    def __init__(self) -> None:
        self._free: dict[tuple[int, int, bool], list[RunCgroup]] = {}
        self._lock = threading.Lock()
        atexit.register(self.close)

    def take(self, memory_bytes: int, max_processes: int, pids: bool = True) -> RunCgroup:
        with self._lock:
            free = self._free.get((memory_bytes, max_processes, pids))
            run = free.pop() if free else None
        if run is None:
            return make_run_cgroup(memory_bytes, max_processes, pids=pids)
        run.start()
        return run

    def give_back(self, run: RunCgroup) -> None:
        """Keep ``run`` for the next one if nothing of this run is left in it, else remove it."""
        deadline = time.monotonic() + 0.5
        while not run.empty():
            if time.monotonic() > deadline:
                run.remove()
                return
            _kill_members(run.folders[0])
            time.sleep(0.005)
        with self._lock:
            self._free.setdefault(run.limits, []).append(run)

    def close(self) -> None:
        with self._lock:
            runs = [r for free in self._free.values() for r in free]
            self._free.clear()
        for run in runs:
            run.remove()


POOL = CgroupPool()


def _remove_stale(hierarchy: Hierarchy) -> None:
    """Empty run cgroups of processes that died without removing them (kill -9): rmdir them."""
    for parent in {hierarchy.memory, hierarchy.pids} - {None}:
        try:
            names = os.listdir(parent)  # type: ignore[arg-type]
        except OSError:
            continue
        for name in names:
            parts = name.split("-")
            if name.startswith("reverse-o1-sandbox-") and len(parts) == 5 and parts[3].isdigit():
                if not os.path.exists(f"/proc/{parts[3]}"):
                    try:
                        os.rmdir(os.path.join(parent, name))  # type: ignore[arg-type]
                    except OSError:
                        pass


def cgroups_available() -> tuple[bool, str]:
    """Whether a run cgroup can be made here (probed once per process), and a line saying so."""
    global _probe
    with _lock:
        if _probe is not None:
            return _probe
    hierarchy = find_hierarchy()
    if hierarchy is None:
        result = (False, "no cgroup with a memory controller is visible")
    else:
        _remove_stale(hierarchy)
        try:
            make_run_cgroup(64 << 20, 8, hierarchy).remove()
            result = (True, f"cgroup v{hierarchy.version} under {hierarchy.memory}")
        except OSError as exc:
            result = (False, f"cannot create a cgroup under {hierarchy.memory}: {exc.strerror or exc}")
    with _lock:
        _probe = result
    return result
