"""Offline generation with vLLM on GPU workers (the optional ``vllm`` extra).

All requests of a ``generate`` call go to ``LLM.chat`` at once, each with its own
SamplingParams (``n`` samples); with prefix caching on, the samples of one request and
requests sharing a prefix reuse one prefill. vllm is imported only when this backend is chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generators.backends.base import BackendError, Completion, GenerationParams, GenRequest, LLMBackend, apply_stop
from generators.backends.registry import BackendConfig
from generators.backends.smollm import EMBEDDED_MODEL, resolve_model

MISSING_EXTRA = "the vllm backend needs the 'vllm' extra: pip install 'reverse-o1[vllm]' (GPU workers)"


class VLLMBackend(LLMBackend):
    name = "vllm"

    def __init__(self, config: BackendConfig):
        try:
            import vllm
        except ImportError as exc:
            raise BackendError(MISSING_EXTRA) from exc
        self.config = config
        self._vllm = vllm
        path = resolve_model(config.model)
        self._model_name = EMBEDDED_MODEL if path != config.model else str(config.model)
        try:
            self.llm = vllm.LLM(model=str(path), enable_prefix_caching=True)
        except Exception as exc:  # vllm raises many kinds (OSError, ValueError, RuntimeError)
            raise BackendError(f"vllm cannot load model {str(path)!r}: {' '.join(str(exc).split())[:200]}") from exc

    @property
    def model_name(self) -> str:
        return self._model_name

    def _sampling_params(self, params: GenerationParams) -> Any:
        return self._vllm.SamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            stop=list(params.stop) or None,
            seed=params.seed,
            logprobs=0 if params.logprobs else None,  # 0: only the sampled token's log-prob
        )

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        if not requests:
            return []
        conversations = [r.message_dicts() for r in requests]
        sampling = [self._sampling_params(r.params) for r in requests]
        try:
            outputs = self.llm.chat(conversations, sampling, use_tqdm=False)
        except Exception as exc:
            raise BackendError(f"vllm generation failed: {' '.join(str(exc).split())[:200]}") from exc
        return [self._completions(out, r.params) for out, r in zip(outputs, requests, strict=True)]

    @staticmethod
    def _completions(output: Any, params: GenerationParams) -> list[Completion]:
        results = []
        for sample in output.outputs:
            text, stopped = apply_stop(sample.text, params.stop)
            finish = "stop" if stopped else (sample.finish_reason or "stop")
            logprob = _logprob(sample) if params.logprobs else None
            results.append(Completion(text=text, tokens=len(sample.token_ids), finish_reason=finish, logprob=logprob))
        return results


def _logprob(sample: Any) -> float | None:
    """The sample's cumulative log-prob, else the sum of its per-token ones."""
    if sample.cumulative_logprob is not None:
        return float(sample.cumulative_logprob)
    if not sample.logprobs:
        return None
    return float(sum(step[token].logprob for step, token in zip(sample.logprobs, sample.token_ids, strict=False)))
