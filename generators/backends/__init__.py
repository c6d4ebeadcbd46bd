"""LLM backends behind one small interface; one backend per module, each imported lazily."""

from generators.backends.base import BackendError, Completion, GenerationParams, GenRequest, LLMBackend
from generators.backends.registry import BACKENDS, BackendConfig, create_backend

__all__ = [
    "BACKENDS",
    "BackendConfig",
    "BackendError",
    "Completion",
    "GenRequest",
    "GenerationParams",
    "LLMBackend",
    "create_backend",
]
