"""Offline generation with vLLM on GPU workers (the optional ``vllm`` extra).

All requests of a ``generate`` call go to ``LLM.chat`` at once, each with its own
SamplingParams (``n`` samples, its own seed); the worker's engine merges many elements' requests
into calls of up to 1024 sequences. Engine arguments (``--vllm-arg``, ``generators.backends.vllm_args``)
go to ``vllm.LLM`` as given, prefix caching on unless they say otherwise; with prefix caching on, the samples of one request and
requests sharing a prefix reuse one prefill. vllm is imported only when this backend is chosen.

The prompt budget is the engine's ``max_model_len`` minus a request's ``max_new_tokens``, counted
with vLLM's own tokenizer and the model's chat template, checked before ``LLM.chat`` (which would
fail the whole batch on one over-long prompt); a refusal of vLLM's own for length is
``PromptTooLong`` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generators.backends import tokens
from generators.backends.base import (
    BackendError,
    Completion,
    GenerationParams,
    GenRequest,
    LLMBackend,
    PromptTooLong,
    apply_stop,
    context_exceeded,
)
from generators.backends.registry import BackendConfig
from generators.backends.smollm import EMBEDDED_MODEL, resolve_model
from generators.backends.vllm_args import validate

MISSING_EXTRA = "the vllm backend needs the 'vllm' extra: pip install 'reverse-o1[vllm]' (GPU workers)"


class VLLMBackend(LLMBackend):
    name = "vllm"
    # the engine: one call of up to 1024 sequences (vLLM batches and schedules them itself), 256 elements at once
    engine_lanes, engine_batch_sequences, engine_inflight = 1, 1024, 256

    def __init__(self, config: BackendConfig):
        try:
            import vllm
        except ImportError as exc:
            raise BackendError(MISSING_EXTRA) from exc
        self.config = config
        self._vllm = vllm
        path = resolve_model(config.model)
        self._model_name = EMBEDDED_MODEL if path != config.model else str(config.model)
        engine = {"enable_prefix_caching": True, **validate(dict(config.vllm_args))}  # --vllm-arg, checked here too
        try:
            self.llm = vllm.LLM(model=str(path), **engine)
        except Exception as exc:  # vllm raises many kinds (OSError, ValueError, RuntimeError)
            raise BackendError(f"vllm cannot load model {str(path)!r}: {' '.join(str(exc).split())[:200]}") from exc
        self.tokenizer = self.llm.get_tokenizer()
        self._context = _max_model_len(self.llm)
        self.max_token_chars = tokens.longest_token_chars(self.tokenizer)
        self.prompt_budget_override = config.prompt_budget

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def context_length(self) -> int | None:
        return self._context

    def prompt_tokens(self, request: GenRequest) -> int:
        try:
            return tokens.chat_prompt_tokens(self.tokenizer, request.message_dicts())
        except Exception:  # a tokenizer without an HF chat template (vLLM's Mistral one): the texts alone
            return sum(len(self.tokenizer.encode(content)) for _, content in request.messages)

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

    def _generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        if not requests:
            return []
        conversations = [r.message_dicts() for r in requests]
        sampling = [self._sampling_params(r.params) for r in requests]
        try:
            outputs = self.llm.chat(conversations, sampling, use_tqdm=False)
        except Exception as exc:
            message = " ".join(str(exc).split())[:200]
            if context_exceeded(message):  # its own count disagreed with ours: still the prompt's length
                raise PromptTooLong(f"vllm: {message}") from exc
            raise BackendError(f"vllm generation failed: {message}") from exc
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


def _max_model_len(llm: Any) -> int | None:
    """The engine's context (``max_model_len``, which ``--vllm-arg max_model_len=N`` may have cut)."""
    for owner in (getattr(llm, "llm_engine", None), llm):
        value = getattr(getattr(owner, "model_config", None), "max_model_len", None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _logprob(sample: Any) -> float | None:
    """The sample's cumulative log-prob, else the sum of its per-token ones."""
    if sample.cumulative_logprob is not None:
        return float(sample.cumulative_logprob)
    if not sample.logprobs:
        return None
    return float(sum(step[token].logprob for step, token in zip(sample.logprobs, sample.token_ids, strict=False)))
