"""The fallback where bwrap is missing or refused: ``unshare`` namespaces plus resource limits.

``unshare --user --map-root-user --net --pid --fork --kill-child --mount-proc``: no network (a
fresh network namespace with only a down loopback), a PID namespace (everything the program
leaves behind dies with it), the same rlimits and wall-time kill as bwrap. It does **not** hide
the filesystem: the work dir is a host temp dir (ro_mounts are copied into it, later entries
overlaying earlier ones), and the program can read whatever the calling user can read and
write wherever the calling user can write. ``select_sandbox`` says so when it falls back here.
"""

from __future__ import annotations

import shutil
import subprocess

from verifiers.sandbox.base import Launch, Limits, Sandbox, SandboxUnavailable, host_launch

FLAGS = ["--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


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
