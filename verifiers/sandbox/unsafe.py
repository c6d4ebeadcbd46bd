"""No isolation at all (``--unsafe-no-sandbox``): a plain subprocess in a host temp dir, with the
same rlimits, the wall-time kill of its process group, and the output caps. The program can read,
write and connect wherever the calling user can; anything it detaches with ``setsid`` outlives it.
Only for trusted code on a throwaway machine.
"""

from __future__ import annotations

from verifiers.sandbox.base import Launch, Limits, Sandbox, host_launch


class UnsafeSandbox(Sandbox):
    name = "none"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return True, "no isolation (plain subprocess with rlimits)"

    def _launch(self, argv: list[str], files: dict[str, bytes], ro_mounts: dict[str, str], limits: Limits) -> Launch:
        return host_launch(list(argv), "sandbox-none-", ("prlimit",), files, ro_mounts, limits)
