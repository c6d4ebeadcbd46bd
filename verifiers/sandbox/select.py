"""Pick the strongest isolation this machine allows, probing once per process."""

from __future__ import annotations

import logging
import os
import sys
import threading

from verifiers.sandbox.base import Sandbox, SandboxUnavailable
from verifiers.sandbox.bwrap import BwrapSandbox
from verifiers.sandbox.unsafe import UnsafeSandbox
from verifiers.sandbox.unshare import UnshareSandbox

log = logging.getLogger(__name__)
BACKENDS: dict[str, type[Sandbox]] = {"bwrap": BwrapSandbox, "unshare": UnshareSandbox, "none": UnsafeSandbox}
_probed: dict[str, tuple[bool, str]] = {}
_warned: set[str] = set()
_lock = threading.Lock()


def probe(name: str) -> tuple[bool, str]:
    """``available()`` of one backend, cached for the life of the process."""
    with _lock:
        if name not in _probed:
            _probed[name] = BACKENDS[name].available()
        return _probed[name]


def _say_once(key: str, message: str) -> None:
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message)
    print(f"reverse-o1: {message}", file=sys.stderr, flush=True)


def select_sandbox(allow_unsafe: bool = False, prefer: str | None = None) -> Sandbox:
    """bwrap, else unshare (said once), else :class:`SandboxUnavailable` unless ``allow_unsafe``.

    ``prefer`` names one backend ("bwrap", "unshare", "none"); it is used when available, and
    an unavailable preference raises rather than silently giving weaker isolation.
    """
    if prefer is not None:
        if prefer not in BACKENDS:
            raise ValueError(f"unknown sandbox {prefer!r}; choose from {', '.join(BACKENDS)}")
        if prefer == "none" and not allow_unsafe:
            raise SandboxUnavailable("the 'none' sandbox runs code unisolated; pass --unsafe-no-sandbox to allow it")
        ok, why = probe(prefer)
        if not ok:
            raise SandboxUnavailable(f"sandbox {prefer!r} is unavailable: {why}")
        return BACKENDS[prefer]()
    ok_b, why_b = probe("bwrap")
    if ok_b:
        return BwrapSandbox()
    ok_u, why_u = probe("unshare")
    if ok_u:
        as_root = (" As root this is weak: the code runs as the namespace's root, may write wherever root can,"
                   " and the process limit does not apply; install bubblewrap.") if os.geteuid() == 0 else ""
        _say_once("unshare", f"bwrap unavailable ({why_b}); falling back to unshare: no network and limits, "
                             f"but the filesystem is not hidden.{as_root}")
        return UnshareSandbox()
    if allow_unsafe:
        _say_once("none", f"no sandbox ({why_b}; {why_u}); running code UNSANDBOXED as asked (--unsafe-no-sandbox)")
        return UnsafeSandbox()
    raise SandboxUnavailable(f"no sandbox available: {why_b}; {why_u}; pass --unsafe-no-sandbox to run code unisolated")
