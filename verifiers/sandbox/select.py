"""Pick the sandbox: bwrap, or a refusal; weaker isolation only when asked for by ``--unsafe-no-sandbox``."""

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
    log.debug(message)  # printed once below; a warning too would say it twice on a console
    print(f"reverse-o1: {message}", file=sys.stderr, flush=True)


def select_sandbox(allow_unsafe: bool = False, prefer: str | None = None) -> Sandbox:
    """bwrap; where it is missing, :class:`SandboxUnavailable` (one line saying how to install it)
    unless ``allow_unsafe`` (``--unsafe-no-sandbox``), which takes unshare (no network, no filesystem
    isolation), else no isolation at all, saying so once.

    ``prefer`` names one backend ("bwrap", "unshare", "none"); it is used when available, and
    an unavailable preference raises rather than silently giving weaker isolation. The two that do
    not hide the filesystem need ``allow_unsafe`` even when named.
    """
    if prefer is not None:
        if prefer not in BACKENDS:
            raise ValueError(f"unknown sandbox {prefer!r}; choose from {', '.join(BACKENDS)}")
        if prefer != "bwrap" and not allow_unsafe:
            raise SandboxUnavailable(f"the {prefer!r} sandbox does not isolate the filesystem: hostile code could read and"
                                     " write the host; pass --unsafe-no-sandbox to allow it")
        ok, why = probe(prefer)
        if not ok:
            raise SandboxUnavailable(f"sandbox {prefer!r} is unavailable: {why}")
        if prefer != "bwrap":
            _say_once(prefer, f"running code in the {prefer!r} sandbox as asked (--unsafe-no-sandbox): the filesystem is"
                              " NOT isolated")
        return BACKENDS[prefer]()
    ok_b, why_b = probe("bwrap")
    if ok_b:
        return BwrapSandbox()
    if not allow_unsafe:
        raise SandboxUnavailable(f"no safe sandbox: {why_b}; or pass --unsafe-no-sandbox to run code without filesystem"
                                 " isolation (only code you trust)")
    ok_u, why_u = probe("unshare")
    if ok_u:
        as_root = " As root the code may write wherever root can." if os.geteuid() == 0 else ""
        _say_once("unshare", f"{why_b}; running code under unshare as asked (--unsafe-no-sandbox): no network and limits,"
                             f" but the filesystem is NOT isolated.{as_root}")
        return UnshareSandbox()
    _say_once("none", f"no sandbox ({why_b}; {why_u}); running code UNSANDBOXED as asked (--unsafe-no-sandbox)")
    return UnsafeSandbox()
