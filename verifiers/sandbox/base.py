"""The shared part of every sandbox: limits, results, path checks and the run loop.

A backend (``bwrap.py``, ``unshare.py``, ``unsafe.py``) only turns ``argv`` plus the files and
mounts into a command line (a :class:`Launch`); :func:`Sandbox.run` starts it in its own session
(process group), feeds stdin, reads stdout and stderr concurrently (keeping the first
``output_bytes`` of each and the last few KiB of stdout, for result lines), enforces the wall
time and the output cap by killing the whole process group, and classifies how it ended.
The run is four steps, each with its guarantees in its docstring: :func:`_spawn`, :func:`_pump`,
:func:`_reap_run` and :meth:`Sandbox._result`.

Resource limits are set on the wrapper with the ``prlimit`` tool where it exists (no
``preexec_fn``, which is unsafe in threaded callers such as Beam workers), else in a
``preexec_fn``; they are inherited by everything inside. RLIMIT_AS bounds each process; the whole
tree is bounded only where the backend gives the run its own cgroup (``cgroup.py``, bwrap where
cgroups can be made), otherwise the worst case is ``max_processes`` times ``memory_bytes``.
"""

from __future__ import annotations

import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

Status = Literal["ok", "failed", "timeout", "memory", "killed", "error"]

#: kill the group once stdout + stderr exceed this many times ``output_bytes``
HARD_OUTPUT_FACTOR = 16
#: bytes of the end of stdout kept aside (a harness's result line comes last)
TAIL_BYTES = 64 << 10
#: exit code a harness uses to say "a MemoryError stopped the tests"
MEMORY_EXIT = 3
#: the environment every sandboxed program sees (no secrets of the caller leak in)
CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30
    max_processes: int = 64
    file_size_bytes: int = 16 << 20
    output_bytes: int = 64 << 10  # kept per stream
    tmpfs_bytes: int = 64 << 20


@dataclass
class ExecutionResult:
    status: Status
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    sandbox: str
    stopped: str | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    #: the last bytes of stdout (decoded) when it was truncated; not part of ``to_dict``
    stdout_tail: str = field(default="", repr=False)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("stdout_tail")
        out["seconds"] = round(self.seconds, 4)
        return out


class SandboxUnavailable(RuntimeError):
    """No isolation is available (or the named one is not); the message is one line."""


@dataclass
class Launch:
    """What a backend hands the run loop: the command, and how to undo what it prepared."""

    cmd: list[str]
    cwd: str | None = None
    pass_fds: tuple[int, ...] = ()
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    #: exit statuses >= 128 mean "killed by signal (status - 128)" (bwrap reports its child so)
    signal_via_128: bool = False
    #: first words of the wrapper's own error messages on stderr (setup failure -> "error")
    wrapper_errors: tuple[str, ...] = ()
    rlimits: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: where the run has its own cgroup: did the kernel kill one of its processes for memory?
    oom_killed: Callable[[], bool] | None = None
    #: called with the wrapper's pid once it started, before the program runs; an error message
    #: (the run is then killed and reported as a setup error) or None
    started: Callable[[int], str | None] | None = None

    def close(self) -> None:
        for fd in self.pass_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        for undo in reversed(self.cleanup):
            try:
                undo()
            except Exception:  # noqa: BLE001 - cleanup must never raise
                pass


def check_relative(path: str) -> str:
    """A POSIX path relative to the work dir; absolute paths and ``..`` are refused."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\x00" in path:
        raise ValueError(f"sandbox paths must be relative: {path!r}")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"sandbox paths may not leave the work dir: {path!r}")
    return "/".join(parts)


def resolve_argv(argv: list[str]) -> list[str]:
    """``python`` means this interpreter, isolated (-I)."""
    if not argv:
        raise ValueError("empty argv")
    if argv[0] == "python":
        return [sys.executable, "-I", *argv[1:]]
    return list(argv)


def rlimits_for(limits: Limits) -> dict[int, tuple[int, int]]:
    """The rlimits of one run. RLIMIT_NPROC counts every process of the real uid: as root the program
    runs as a fresh unprivileged uid (bwrap) or is not limited at all (root is exempt), so
    ``max_processes``; as a user it already runs some, so those plus ``max_processes``."""
    cpu = max(1, int(limits.cpu_seconds))
    nproc = limits.max_processes + (0 if os.geteuid() == 0 else count_user_processes(os.getuid()))
    return {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (limits.memory_bytes, limits.memory_bytes),
        resource.RLIMIT_FSIZE: (limits.file_size_bytes, limits.file_size_bytes),
        resource.RLIMIT_NPROC: (nproc, nproc),
        resource.RLIMIT_CORE: (0, 0),
    }


_PRLIMIT_FLAGS = {resource.RLIMIT_CPU: "--cpu", resource.RLIMIT_AS: "--as", resource.RLIMIT_FSIZE: "--fsize",
                  resource.RLIMIT_NPROC: "--nproc", resource.RLIMIT_CORE: "--core"}


def with_rlimits(cmd: list[str], rlimits: dict[int, tuple[int, int]]) -> tuple[list[str], Callable[[], None] | None]:
    """Prefix ``prlimit`` when it exists, else return a preexec_fn that sets the limits."""
    tool = shutil.which("prlimit")
    if tool:
        flags = [f"{_PRLIMIT_FLAGS[k]}={soft}:{hard}" for k, (soft, hard) in rlimits.items()]
        return [tool, *flags, "--", *cmd], None

    def preexec() -> None:
        for key, value in rlimits.items():
            resource.setrlimit(key, value)

    return cmd, preexec


def count_user_processes(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                count += 1
        except OSError:
            continue
    return count


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"SIG{num}"


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Sandbox(ABC):
    """Runs ``argv`` in a fresh work dir with the given files and read-only mounts, under limits."""

    name: str = "?"

    @classmethod
    def available(cls) -> tuple[bool, str]:  # pragma: no cover - overridden
        return False, "abstract"

    @abstractmethod
    def _launch(self, argv: list[str], files: dict[str, bytes], ro_mounts: dict[str, str], limits: Limits) -> Launch:
        """Prepare the work dir and return the command that runs ``argv`` inside it."""

    def run(self, argv: list[str], files: Mapping[str, str | bytes] | None = None, ro_mounts: Mapping[str, str] | None = None,
            limits: Limits | None = None, stdin: bytes | None = None) -> ExecutionResult:
        limits = limits or Limits()
        clean_files = {check_relative(k): (v.encode() if isinstance(v, str) else bytes(v)) for k, v in (files or {}).items()}
        mounts: dict[str, str] = {}
        for rel, host in (ro_mounts or {}).items():
            if not os.path.exists(host):
                raise FileNotFoundError(f"ro_mount source does not exist: {host}")
            mounts[check_relative(rel)] = os.path.abspath(host)
        for rel in clean_files:
            if any(rel == m or rel.startswith(m + "/") for m in mounts):
                raise ValueError(f"file {rel!r} lies inside a read-only mount; mount a host file there instead")
        start = time.monotonic()
        try:
            launch = self._launch(resolve_argv(argv), clean_files, mounts, limits)
        except (OSError, SandboxUnavailable) as exc:
            return ExecutionResult("error", None, "", f"sandbox setup failed: {exc}", time.monotonic() - start, self.name,
                                   stopped="setup")
        try:
            return self._execute(launch, limits, stdin, start)
        finally:
            launch.close()

    def _execute(self, launch: Launch, limits: Limits, stdin: bytes | None, start: float) -> ExecutionResult:
        """Run a prepared launch to its end: :func:`_spawn`, :func:`_pump`, :func:`_reap_run`, :meth:`_result`.

        The wall time counts from ``start`` (before the backend prepared the launch).
        """
        try:
            proc = _spawn(launch)
        except _SpawnFailed as exc:
            return ExecutionResult("error", None, "", str(exc), time.monotonic() - start, self.name, stopped="setup")
        deadline = start + limits.wall_seconds
        output = _pump(proc, stdin, limits.output_bytes, deadline)
        status_word, usage, stopped = _reap_run(proc, output.reaped, output.stopped, deadline)
        return self._result(launch, limits, output, stopped, status_word, usage, start)

    def _result(self, launch: Launch, limits: Limits, output: _Output, stopped: str | None, status_word: int | None,
                usage: resource.struct_rusage | None, start: float) -> ExecutionResult:
        """The result of a reaped run; builds a value, has no side effect on the process.

        ``stdout``/``stderr`` are the kept bytes (at most ``output_bytes`` each) decoded as UTF-8 with
        bad bytes replaced; ``*_truncated`` says more than that was written to the stream;
        ``stdout_tail`` is the end of stdout only where stdout was truncated, else empty; ``seconds``
        runs from ``start`` to now; the status, exit code and final ``stopped`` come from
        :meth:`_classify` (``stopped`` as the pump and reap left it: wall_time, output_limit or None).
        """
        seconds = time.monotonic() - start
        cpu_used = (usage.ru_utime + usage.ru_stime) if usage is not None else 0.0
        keep = output.keep
        stdout = output.kept["stdout"].decode("utf-8", "replace")
        stderr = output.kept["stderr"].decode("utf-8", "replace")
        result = ExecutionResult("failed", None, stdout, stderr, seconds, self.name, stopped=stopped,
                                 stdout_truncated=output.seen["stdout"] > keep, stderr_truncated=output.seen["stderr"] > keep,
                                 stdout_tail=output.tail.decode("utf-8", "replace") if output.seen["stdout"] > keep else "")
        self._classify(result, launch, status_word, cpu_used, limits)
        return result

    def _classify(self, result: ExecutionResult, launch: Launch, status_word: int | None, cpu_used: float,
                  limits: Limits) -> None:
        signum: int | None = None
        code: int | None = None
        if status_word is not None:
            if os.WIFSIGNALED(status_word):
                signum = os.WTERMSIG(status_word)
            elif os.WIFEXITED(status_word):
                code = os.WEXITSTATUS(status_word)
                if launch.signal_via_128 and code > 128:
                    signum = code - 128
        result.exit_code = -signum if signum is not None else code
        if result.stopped == "wall_time":
            result.status = "timeout"
            return
        if result.stopped == "output_limit":
            result.status = "killed"
            return
        if launch.oom_killed is not None and launch.oom_killed():  # the kernel killed a process of the run
            result.status, result.stopped = "memory", "memory"
            return
        if signum is not None:
            if signum == signal.SIGXCPU or (signum == signal.SIGKILL and cpu_used >= limits.cpu_seconds - 0.05):
                result.status, result.stopped = "timeout", "cpu_time"
            else:
                result.status, result.stopped = "killed", f"signal:{_signal_name(signum)}"
            return
        if code == 0:
            result.status = "ok"
            return
        first = result.stderr.lstrip().split(":", 1)[0]
        if code in (126, 127) or (code == 1 and first in launch.wrapper_errors):
            result.status, result.stopped = "error", "setup"
            return
        if code == MEMORY_EXIT or _memory_error(result.stderr):
            result.status, result.stopped = "memory", "memory"
            return
        if "File too large" in result.stderr[-2000:]:
            result.stopped = "file_size"
        result.status = "failed"


class _SpawnFailed(Exception):
    """The run could not start; the message is the error result's stderr, word for word."""


def _spawn(launch: Launch) -> subprocess.Popen[bytes]:
    """Start the launch's command: the step that creates the process.

    Guarantees: the command runs under ``launch.rlimits`` (prlimit, else a preexec_fn), in a new
    session (its own process group, so that one killpg reaches everything it starts), with
    :data:`CLEAN_ENV` only, stdin/stdout/stderr as pipes, and no fd of ours but ``launch.pass_fds``,
    whose copies here are closed once the child has them (``launch.pass_fds`` is then empty).
    ``launch.started`` (if any) has been called with the pid and accepted it.

    Raises :class:`_SpawnFailed` ("cannot start sandbox: ..." where Popen fails; the message of
    ``launch.started`` where it refuses the run, after killing the whole group, waiting for the
    process and closing its pipes).
    """
    cmd, preexec = with_rlimits(launch.cmd, launch.rlimits)
    try:
        proc = subprocess.Popen(cmd, cwd=launch.cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(CLEAN_ENV), start_new_session=True, pass_fds=launch.pass_fds, preexec_fn=preexec,
                                close_fds=True)
    except OSError as exc:
        raise _SpawnFailed(f"cannot start sandbox: {exc}") from exc
    for fd in launch.pass_fds:  # the child has them now
        try:
            os.close(fd)
        except OSError:
            pass
    launch.pass_fds = ()
    if launch.started is not None:
        problem = launch.started(proc.pid)
        if problem is not None:
            _kill_group(proc.pid)
            proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                pipe.close()  # type: ignore[union-attr]
            raise _SpawnFailed(problem)
    return proc


@dataclass
class _Output:
    """What :func:`_pump` read from a run, and how its reading ended."""

    #: bytes kept per stream (``Limits.output_bytes``)
    keep: int
    kept: dict[str, bytearray] = field(default_factory=lambda: {"stdout": bytearray(), "stderr": bytearray()})
    #: bytes read per stream, kept or not
    seen: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    #: the last :data:`TAIL_BYTES` of stdout
    tail: bytearray = field(default_factory=bytearray)
    #: "wall_time" or "output_limit" where the pump gave up on the run, else None
    stopped: str | None = None
    #: (wait status, rusage) where the pump saw the main process exit and reaped it
    reaped: tuple[int, resource.struct_rusage] | None = None

    def take(self, stream: str, chunk: bytes) -> None:
        """Count ``chunk``; keep it while the stream has fewer than ``keep`` bytes; keep the end of stdout."""
        self.seen[stream] += len(chunk)
        room = self.keep - len(self.kept[stream])
        if room > 0:
            self.kept[stream] += chunk[:room]
        if stream == "stdout":
            self.tail += chunk
            if len(self.tail) > TAIL_BYTES:
                del self.tail[:-TAIL_BYTES]


def _pump(proc: subprocess.Popen[bytes], stdin: bytes | None, keep: int, deadline: float) -> _Output:
    """Feed ``stdin`` and read stdout and stderr concurrently until both are closed: the I/O step.

    Guarantees: memory stays bounded (``keep`` bytes a stream plus the stdout tail). It returns
    with ``stopped="wall_time"`` once ``deadline`` (monotonic) has passed, at the next loop turn
    (each wait is at most 0.5 s, never past the deadline); with ``stopped="output_limit"`` as soon
    as stdout + stderr exceed ``keep * HARD_OUTPUT_FACTOR`` bytes; and 0.5 s after the main process
    exited where something it left still holds the pipes open. It reaps the main process itself
    (wait4, which keeps the rusage that Popen.poll would lose) when it sees it exit. It kills
    nothing and closes only stdin: at once when there is no input, else once all is written or
    the program stopped reading. Ending the run is :func:`_reap_run`'s job.
    """
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    out = _Output(keep)
    hard_cap = keep * HARD_OUTPUT_FACTOR
    exited_at: float | None = None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
        sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
        pending = memoryview(stdin or b"")
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin, selectors.EVENT_WRITE, "stdin")
        else:
            proc.stdin.close()
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                out.stopped = "wall_time"
                break
            if out.reaped is None:  # wait4 ourselves (Popen.poll would reap it and lose the rusage)
                out.reaped = _try_reap(proc.pid)
                if out.reaped is not None:
                    exited_at = now
            if exited_at is not None and now - exited_at > 0.5:
                break  # the main process is gone; something it left holds the pipes open
            timeout = min(deadline - now, 0.1 if exited_at is not None else 0.5)
            for key, _ in sel.select(timeout):
                if key.data == "stdin":
                    pending = _feed(sel, key, pending)
                    continue
                try:
                    chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                except OSError:
                    chunk = b""
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                out.take(key.data, chunk)
            if out.seen["stdout"] + out.seen["stderr"] > hard_cap:
                out.stopped = "output_limit"
                break
    return out


def _feed(sel: selectors.BaseSelector, key: selectors.SelectorKey, pending: memoryview) -> memoryview:
    """Write up to 64 KiB of ``pending`` to the non-blocking stdin pipe and return what is left; once
    nothing is left (all written, or a write error such as EPIPE dropped the rest) unregister and close it."""
    try:
        written = os.write(key.fileobj.fileno(), pending[:65536])  # type: ignore[union-attr]
        pending = pending[written:]
    except BlockingIOError:
        return pending
    except OSError:
        pending = pending[:0]
    if not pending:
        sel.unregister(key.fileobj)
        key.fileobj.close()  # type: ignore[union-attr]
    return pending


def _reap_run(proc: subprocess.Popen[bytes], reaped: tuple[int, resource.struct_rusage] | None, stopped: str | None,
              deadline: float) -> tuple[int | None, resource.struct_rusage | None, str | None]:
    """End the run and collect the main process's exit: the step that kills and waits.

    ``reaped`` and ``stopped`` are as :func:`_pump` left them. Where the pump ended only because the
    pipes closed (nothing stopped the run, the main process not yet reaped), wait for the main
    process until ``deadline``, then give up with ``stopped="wall_time"``. Then, always and in this
    order: SIGKILL the whole process group (whatever the program left behind), close our ends of
    the pipes, and reap the main process if nobody did yet (:func:`_reap`: waits, killing it again
    every 5 s). Sets ``proc.returncode`` so that Popen never waits on the pid, which may be reused.

    Returns (wait status, rusage, stopped); status and rusage are None where the process could not
    be waited for.
    """
    while reaped is None and stopped is None:  # the pipes closed but the program still runs
        reaped = _try_reap(proc.pid)
        if reaped is None:
            if time.monotonic() >= deadline:
                stopped = "wall_time"
                break
            time.sleep(0.005)
    _kill_group(proc.pid)  # whatever is left of the group, always
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        try:
            pipe.close()
        except OSError:
            pass
    status_word, usage = reaped if reaped is not None else _reap(proc.pid)
    proc.returncode = status_word if status_word is not None else -1  # never let Popen wait on a reused pid
    return status_word, usage, stopped


def _memory_error(stderr: str) -> bool:
    end = stderr[-4000:]
    return "MemoryError" in end or "Cannot allocate memory" in end or "std::bad_alloc" in end


def _try_reap(pid: int) -> tuple[int, resource.struct_rusage] | None:
    try:
        got, status, usage = os.wait4(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return (status, usage) if got == pid else None


def _reap(pid: int) -> tuple[int | None, resource.struct_rusage | None]:
    deadline = time.monotonic() + 5.0
    while True:
        try:
            got, status, usage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            return None, None
        if got == pid:
            return status, usage
        if time.monotonic() > deadline:
            _kill_group(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 5.0
        time.sleep(0.002)


def host_launch(cmd: list[str], prefix: str, wrapper_errors: tuple[str, ...], files: dict[str, bytes],
                ro_mounts: dict[str, str], limits: Limits) -> Launch:
    """A launch in a fresh host temp dir holding copies of ``ro_mounts`` and ``files``, with the rlimits
    (the unshare and the no-isolation sandboxes both work this way; only the command differs)."""
    work = tempfile.mkdtemp(prefix=prefix)
    launch = Launch(cmd=cmd, cwd=work, wrapper_errors=wrapper_errors, cleanup=[lambda: shutil.rmtree(work, ignore_errors=True)])
    try:
        populate(work, files, ro_mounts)
    except BaseException:
        launch.close()
        raise
    launch.rlimits = rlimits_for(limits)
    return launch


def populate(work: str, files: dict[str, bytes], ro_mounts: dict[str, str]) -> None:
    """Copy ro_mounts (in order: a later one may overlay a file inside an earlier dir) and files into ``work``."""
    for rel, host in ro_mounts.items():
        dest = os.path.join(work, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.isdir(host):
            shutil.copytree(host, dest, symlinks=True, dirs_exist_ok=True)
        else:
            if os.path.lexists(dest):
                os.unlink(dest)
            shutil.copyfile(host, dest)
    for rel, data in files.items():
        dest = os.path.join(work, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as handle:
            handle.write(data)
