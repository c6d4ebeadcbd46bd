"""The vLLM backend is an optional GPU extra: without it, choosing it fails with a clear hint."""

from __future__ import annotations

import importlib.util

import pytest

from generators.backends import BackendConfig, BackendError, create_backend


def test_missing_vllm_names_the_extra():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here; this checks the message shown without it")
    with pytest.raises(BackendError, match=r"reverse-o1\[vllm\]"):
        create_backend(BackendConfig(backend="vllm"))
