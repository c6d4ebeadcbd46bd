"""Backend selection by name, with every backend imported only when chosen."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from generators.backends.base import LLMBackend

BACKENDS = {
    "transformers": "generators.backends.transformers_backend:TransformersBackend",
    "openai": "generators.backends.openai_backend:OpenAIBackend",
    "vllm": "generators.backends.vllm_backend:VLLMBackend",
    "scripted": "generators.backends.scripted_backend:ScriptedBackend",  # tests only: a scripted policy
}


@dataclass(frozen=True)
class BackendConfig:
    """What a worker needs to build a backend; picklable, hashable (one model per process). It holds
    no secret: the OpenAI-compatible backend reads ``OPENAI_API_KEY`` where it runs."""

    backend: str = "transformers"
    model: str | None = None  # None: the embedded SmolLM2-135M-Instruct
    base_url: str | None = None
    max_batch_size: int = 8
    max_concurrency: int = 8
    request_timeout: float = 120.0
    max_retries: int = 4
    threads: int | None = None  # torch threads per worker process


def create_backend(config: BackendConfig) -> LLMBackend:
    """Instantiate the backend named in ``config``; a clear error for unknown names."""
    if config.backend not in BACKENDS:
        raise ValueError(f"unknown backend {config.backend!r}; choose one of {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[config.backend].split(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)(config)
