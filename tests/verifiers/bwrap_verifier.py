"""A ``CodeVerifier`` on the real bwrap sandbox for tests, or a skip saying why bwrap cannot run here."""

from __future__ import annotations

import pytest

from verifiers.code import CodeVerifier
from verifiers.sandbox import BwrapSandbox, Limits
from verifiers.sandbox.select import probe


def bwrap_verifier(limits: Limits) -> CodeVerifier:
    ok, why = probe("bwrap")
    if not ok:
        pytest.skip(f"bwrap unavailable here: {why}")
    return CodeVerifier(BwrapSandbox(), limits)
