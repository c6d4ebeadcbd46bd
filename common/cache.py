"""reverse-o1's cache folder on the machine the caller runs on."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """reverse-o1's cache (converted weights; repository clones under ``repos/``; logs): $REVERSE_O1_CACHE,
    else $XDG_CACHE_HOME or ~/.cache, then ``reverse-o1``."""
    if os.environ.get("REVERSE_O1_CACHE"):
        return Path(os.environ["REVERSE_O1_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reverse-o1"
