"""Beam's ``ModelHandler`` for our LLM backends: load once per worker process.

``RunInference`` uses it directly; DoFns that need a backend for a whole record (labellers,
MCTS) hold it through ``SharedBackend``, which uses the same per-process ``shared.Shared``
cache that RunInference uses, so one model copy serves every element and thread of a process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from apache_beam.utils import shared

from generators.backends.base import GenRequest, LLMBackend
from generators.backends.registry import BackendConfig, create_backend


class LLMModelHandler(ModelHandler[GenRequest, PredictionResult, LLMBackend]):
    def __init__(self, config: BackendConfig):
        super().__init__()
        self.config = config

    def load_model(self) -> LLMBackend:
        return create_backend(self.config)

    def run_inference(
        self, batch: Sequence[GenRequest], model: LLMBackend, inference_args: dict[str, Any] | None = None
    ) -> Iterable[PredictionResult]:
        outputs = model.generate(list(batch))
        return [PredictionResult(example=r, inference=o, model_id=model.model_name) for r, o in zip(batch, outputs, strict=True)]

    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"max_batch_size": self.config.max_batch_size}

    def share_model_across_processes(self) -> bool:
        return False

    def get_metrics_namespace(self) -> str:
        return "reverse_o1_inference"


class SharedBackend:
    """A picklable handle; ``get()`` returns this process's one backend for the config."""

    def __init__(self, handler: LLMModelHandler):
        self.handler = handler
        self._shared = shared.Shared()
        self._backend: LLMBackend | None = None

    def get(self) -> LLMBackend:
        if self._backend is None:
            tag = repr(self.handler.config)
            self._backend = self._shared.acquire(self.handler.load_model, tag=tag)
        return self._backend

    def __getstate__(self) -> dict[str, Any]:
        return {"handler": self.handler, "_shared": self._shared, "_backend": None}
