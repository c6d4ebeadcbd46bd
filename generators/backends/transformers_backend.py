"""Local generation with Hugging Face Transformers (the embedded default, CPU-friendly).

Requests with the same sampling settings go to ``generate`` together (left-padded), each with
``num_return_sequences=n``, up to ``max_batch_size`` rows: a prompt is encoded once and all
its samples decode in the batch. The torch seed comes from the seeds of the requests in the
batch, so a caller that sends the same requests together gets the same results.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence

from generators.backends.base import BackendError, Completion, GenRequest, LLMBackend, apply_stop
from generators.backends.console import show_progress
from generators.backends.registry import BackendConfig
from generators.backends.smollm import EMBEDDED_MODEL, resolve_model


def hash_seeds(seeds: Sequence[int]) -> int:
    """One torch seed for a batch, from its requests' seeds (order matters)."""
    value = 0
    for seed in seeds:
        value = (value * 1_000_003 + int(seed)) % (2**31 - 1)
    return value


def worker_threads() -> int:
    """Torch threads for one worker process when the launcher could not size them (a cluster
    runner: the launcher's cores say nothing of the workers'). Decided here, on the worker:
    ``$REVERSE_O1_THREADS``, else the worker's cores split among its SDK processes
    (``$REVERSE_O1_WORKER_PROCESSES``; Dataflow and Flink run one per core by default)."""

    cores = os.cpu_count() or 1
    if os.environ.get("REVERSE_O1_THREADS", "").isdigit():
        return max(1, int(os.environ["REVERSE_O1_THREADS"]))
    processes = os.environ.get("REVERSE_O1_WORKER_PROCESSES", "")
    return max(1, cores // int(processes)) if processes.isdigit() and int(processes) > 0 else 1


class TransformersBackend(LLMBackend):
    name = "transformers"

    def __init__(self, config: BackendConfig):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        self._torch = torch
        if not show_progress():
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # its "Loading weights" bar would fill logs and CI output
        torch.set_num_threads(config.threads or worker_threads())
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
        self.tokenizer.padding_side = "left"  # decoder-only batches pad on the left
        self._lock = threading.Lock()  # one generate at a time per model copy

    @property
    def model_name(self) -> str:
        return self._model_name

    def _encode(self, requests: Sequence[GenRequest]):
        return self.tokenizer.apply_chat_template(
            [r.message_dicts() for r in requests], add_generation_prompt=True, return_tensors="pt", return_dict=True,
            padding=True,
        )

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        results: dict[int, list[Completion]] = {}
        for group in self._batches(requests):
            for index, completions in zip(group, self._generate_batch([requests[i] for i in group]), strict=True):
                results[index] = completions
        return [results[i] for i in range(len(requests))]

    def _batches(self, requests: Sequence[GenRequest]) -> list[list[int]]:
        """Indexes of requests that can share a ``generate`` call: same settings, bounded rows."""
        groups: dict[tuple, list[list[int]]] = {}
        order: list[list[int]] = []
        for i, request in enumerate(requests):
            p = request.params
            key = (p.n, p.temperature, p.max_new_tokens, p.stop, p.top_p, p.logprobs)
            batches = groups.setdefault(key, [])
            if not batches or (len(batches[-1]) + 1) * p.n > max(self.config.max_batch_size, p.n):
                batches.append([])
                order.append(batches[-1])
            batches[-1].append(i)
        return order

    def _generate_batch(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        torch, params = self._torch, requests[0].params
        inputs = self._encode(requests)
        prompt_len = inputs["input_ids"].shape[1]
        sample = params.temperature > 0
        per_prompt = params.n if sample else 1  # greedy: one decode serves all n
        seed = params.seed if len(requests) == 1 else hash_seeds([r.params.seed for r in requests])
        kwargs = dict(
            max_new_tokens=params.max_new_tokens,
            num_return_sequences=per_prompt,
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
            torch.manual_seed(seed)
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
        grouped = [results[i * per_prompt:(i + 1) * per_prompt] for i in range(len(requests))]
        return [g if sample else g * params.n for g in grouped]

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
