"""vLLM engine arguments: ``--vllm-arg KEY=VALUE`` (repeatable) and a ``vllm:`` mapping in ``--config``.

Any of ``vllm.EngineArgs``' fields (``tensor_parallel_size``, ``gpu_memory_utilization``,
``max_model_len``, ``dtype``, ``quantization``, ``max_num_seqs``, ...) goes to ``vllm.LLM`` as it is.
A value is read as YAML (``2`` an int, ``0.9`` a float, ``true`` a bool, ``null`` None, anything
else a string); a key may use ``-`` for ``_``. Where vllm is installed, every key is checked against
``EngineArgs`` and an unknown one is refused by name (with the nearest known names); where it is
not (a launcher without GPUs), the keys pass through and the worker's vllm checks them.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: set by the backend itself: a --vllm-arg may not replace them
RESERVED = frozenset({"model"})


class VLLMArgError(ValueError):
    """A ``--vllm-arg`` that cannot be used; the message is one line naming it."""


def parse_vllm_args(items: Iterable[str]) -> dict[str, Any]:
    """``["tensor_parallel_size=2", "dtype=bfloat16"]`` → ``{"tensor_parallel_size": 2, "dtype": "bfloat16"}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise VLLMArgError(f"--vllm-arg {item!r}: use KEY=VALUE (e.g. tensor_parallel_size=2)")
        out[_key(key)] = _value(raw)
    return out


def normalise(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A ``vllm:`` mapping of a config file with its keys checked and ``-`` read as ``_``."""
    if not isinstance(mapping, Mapping):
        raise VLLMArgError(f"vllm: must be a mapping of engine arguments, not {type(mapping).__name__}")
    return {_key(str(k)): v for k, v in mapping.items()}


def engine_arg_names() -> frozenset[str] | None:
    """``vllm.EngineArgs``' field names, or None where vllm is not installed."""
    try:
        from vllm import EngineArgs
    except ImportError:
        return None
    return frozenset(f.name for f in dataclasses.fields(EngineArgs))


def validate(args: Mapping[str, Any], known: frozenset[str] | None = None) -> dict[str, Any]:
    """``args`` checked against ``known`` (default: vllm's own ``EngineArgs``, when installed)."""
    known = engine_arg_names() if known is None else known
    for key in args:
        if key in RESERVED:
            raise VLLMArgError(f"--vllm-arg {key}: set with --model, not as an engine argument")
        if known is not None and key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise VLLMArgError(f"--vllm-arg {key}: not an argument of vllm.EngineArgs{hint}")
    return dict(args)


def _key(key: str) -> str:
    key = key.strip().replace("-", "_")
    if not _KEY.fullmatch(key):
        raise VLLMArgError(f"--vllm-arg {key!r}: not an engine argument name")
    return key


def _value(raw: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw
