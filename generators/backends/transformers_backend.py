"""Local generation with Hugging Face Transformers (the embedded default, CPU-friendly).

One request = one ``generate`` call with ``num_return_sequences=n``: the prompt is encoded
once and its samples decode as a batch. The torch seed is set per request from its own seed,
so results do not depend on how Beam batched the requests.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from generators.backends.base import BackendError, Completion, GenRequest, LLMBackend, apply_stop
from generators.backends.registry import BackendConfig
from generators.backends.smollm import EMBEDDED_MODEL, resolve_model


class TransformersBackend(LLMBackend):
    name = "transformers"

    def __init__(self, config: BackendConfig):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        self._torch = torch
        if config.threads:
            torch.set_num_threads(config.threads)
        path = resolve_model(config.model)
        self._model_name = EMBEDDED_MODEL if path != config.model else str(config.model)
        try:
            # local folders or the local Hub cache only: nothing downloads weights at run time
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32, local_files_only=True)
        except OSError as exc:
            raise BackendError(f"cannot load model {config.model!r}: {exc}") from exc
        self.model.eval()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._lock = threading.Lock()  # one generate at a time per model copy

    @property
    def model_name(self) -> str:
        return self._model_name

    def _encode(self, request: GenRequest):
        return self.tokenizer.apply_chat_template(
            request.message_dicts(), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        return [self._generate_one(r) for r in requests]

    def _generate_one(self, request: GenRequest) -> list[Completion]:
        torch, params = self._torch, request.params
        inputs = self._encode(request)
        prompt_len = inputs["input_ids"].shape[1]
        sample = params.temperature > 0
        kwargs = dict(
            max_new_tokens=params.max_new_tokens,
            num_return_sequences=params.n if sample else 1,  # greedy: one decode serves all n
            do_sample=sample,
            pad_token_id=self.tokenizer.pad_token_id,
            output_logits=params.logprobs,
            return_dict_in_generate=True,
        )
        if sample:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        if params.stop:
            kwargs["stop_strings"] = list(params.stop)
            kwargs["tokenizer"] = self.tokenizer
        with self._lock, torch.inference_mode():
            torch.manual_seed(params.seed)
            out = self.model.generate(**inputs, **kwargs)
        sequences = out.sequences[:, prompt_len:]
        logprobs = self._sequence_logprobs(out, sequences)
        results = []
        eos = self.tokenizer.eos_token_id
        for row, ids in enumerate(sequences.tolist()):
            ended = eos in ids
            ids = ids[: ids.index(eos)] if ended else ids
            text, stopped = apply_stop(self.tokenizer.decode(ids, skip_special_tokens=True), params.stop)
            finish = "stop" if (ended or stopped) else "length"
            results.append(Completion(text=text, tokens=len(ids), finish_reason=finish, logprob=logprobs[row]))
        return results if sample else results * params.n

    def _sequence_logprobs(self, out, sequences) -> list[float | None]:
        """Sum of the model's own log-probs of the chosen tokens (raw logits, before sampling
        warpers, as OpenAI-compatible servers report them); None when not asked for."""
        torch = self._torch
        if not getattr(out, "logits", None):
            return [None] * sequences.shape[0]
        total = torch.zeros(sequences.shape[0])
        pad = self.tokenizer.pad_token_id
        for step, scores in enumerate(out.logits):
            if step >= sequences.shape[1]:
                break
            token = sequences[:, step]
            logp = torch.log_softmax(scores.float(), dim=-1).gather(1, token[:, None]).squeeze(1)
            mask = token != pad
            total += torch.where(mask & torch.isfinite(logp), logp, torch.zeros_like(logp))
        return [float(v) if math.isfinite(float(v)) else None for v in total]
