"""Backend selection by name, with every backend imported only when chosen."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

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
    max_batch_size: int = 16
    max_concurrency: int = 8
    request_timeout: float = 120.0
    max_retries: int = 4
    threads: int | None = None  # torch threads per worker process
    prompt_budget: int | None = None  # --prompt-budget: most prompt tokens per request (None: context - max_new_tokens)
    inflight: int | None = None  # --inflight: elements the worker's engine runs at once (None: sized to the backend)
    max_batch_sequences: int | None = None  # --max-batch-sequences: sequences per backend call (None: the backend's best)
    vllm_args: tuple[tuple[str, Any], ...] = ()  # vllm.EngineArgs (--vllm-arg), as sorted pairs: hashable
    value_model: Any = None  # --value-model: a generators.reward.spec.RewardSpec, served beside the policy (None: none)


def create_backend(config: BackendConfig) -> LLMBackend:
    """Instantiate the backend named in ``config``; a clear error for unknown names."""
    if config.backend not in BACKENDS:
        raise ValueError(f"unknown backend {config.backend!r}; choose one of {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[config.backend].split(":")
    module = importlib.import_module(module_name)
    backend: LLMBackend = getattr(module, class_name)(config)
    if config.prompt_budget is not None:  # every backend, whatever it knows of its context
        backend.prompt_budget_override = config.prompt_budget
    if config.value_model is not None:  # a process reward model on the same engine (generators.reward.routing)
        from generators.reward.routing import WithReward
        from generators.reward.spec import create_reward

        backend = WithReward(backend, create_reward(config.value_model))
    return backend
