"""The fallback where bwrap is missing or refused: ``unshare`` namespaces plus resource limits.

``unshare --user --map-root-user --net --pid --fork --kill-child --mount-proc``: no network (a
fresh network namespace with only a down loopback), a PID namespace (everything the program
leaves behind dies with it), the same rlimits and wall-time kill as bwrap. It does **not** hide
the filesystem: the work dir is a host temp dir (ro_mounts are copied into it, later entries
overlaying earlier ones), and the program can read whatever the calling user can read and
write wherever the calling user can write. ``select_sandbox`` says so when it falls back here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from verifiers.sandbox.base import Launch, Limits, Sandbox, SandboxUnavailable, count_user_processes, rlimits_for

FLAGS = ["--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


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
    nproc = limits.max_processes + (0 if os.geteuid() == 0 else count_user_processes(os.getuid()))
    launch.rlimits = rlimits_for(limits, nproc)
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


class UnshareSandbox(Sandbox):
    name = "unshare"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        tool = shutil.which("unshare")
        if not tool:
            return False, "unshare (util-linux) not found"
        try:
            done = subprocess.run([tool, *FLAGS, "true"], capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"unshare probe failed: {exc}"
        if done.returncode != 0:
            msg = done.stderr.decode("utf-8", "replace").strip().splitlines()
            return False, f"unshare refused: {msg[-1] if msg else done.returncode}"
        return True, f"unshare at {tool} (no network, own PID namespace; the filesystem is NOT hidden)"

    def _launch(self, argv: list[str], files: dict[str, bytes], ro_mounts: dict[str, str], limits: Limits) -> Launch:
        tool = shutil.which("unshare")
        if not tool:
            raise SandboxUnavailable("unshare not found")
        return host_launch([tool, *FLAGS, "--", *argv], "sandbox-unshare-", ("unshare", "prlimit"), files, ro_mounts, limits)
