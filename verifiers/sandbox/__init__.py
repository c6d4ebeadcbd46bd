"""Run untrusted code (repository or model code) in isolation: bwrap, else refuse (see ``select.py``).

The calling process never imports or executes that code; see ``harness.py`` for what runs inside.
"""

from verifiers.sandbox.base import ExecutionResult, Limits, Sandbox, SandboxUnavailable
from verifiers.sandbox.bwrap import BwrapSandbox
from verifiers.sandbox.select import select_sandbox
from verifiers.sandbox.unsafe import UnsafeSandbox
from verifiers.sandbox.unshare import UnshareSandbox

__all__ = ["BwrapSandbox", "ExecutionResult", "Limits", "Sandbox", "SandboxUnavailable", "UnsafeSandbox", "UnshareSandbox",
           "select_sandbox"]
