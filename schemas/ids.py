"""Deterministic row ids: a hash of where a row came from and what it holds."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _fallback(value: Any) -> Any:
    """What a value JSON can't hold stands for: sets in a fixed order, anything else as str."""
    if isinstance(value, (set, frozenset)):
        # a set's iteration order changes with PYTHONHASHSEED, so from process to process
        return sorted(value, key=canonical_json)
    return str(value)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal values hash equally (in any process)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_fallback)


def sampling_seed(*parts: Any) -> int:
    """A per-request sampling seed in [0, 2**31) derived from ``parts`` (the run's ``--seed`` and
    what identifies the request), so the same input and seed sample the same completions."""
    return int(content_id(*parts, length=8), 16) % (2**31)


def content_id(*parts: Any, length: int = 32) -> str:
    """Hex digest of the canonical JSON of ``parts`` (source, content, settings).

    Any string hashes, lone surrogates included (``surrogatepass`` leaves every valid string's
    bytes, hence its id, unchanged).
    """
    if not 1 <= length <= 64:
        raise ValueError(f"length must be between 1 and 64 hex digits, got {length}")
    digest = hashlib.sha256(canonical_json(list(parts)).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:length]
