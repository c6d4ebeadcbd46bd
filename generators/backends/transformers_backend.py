"""Local generation with Hugging Face Transformers (the embedded default, CPU-friendly).

Requests with the same sampling settings go to ``generate`` together (left-padded, sorted by
prompt length so that padding stays small), up to ``max_batch_size`` rows: a prompt is encoded
once and its ``n`` samples decode as rows of the batch. Each sampled row draws from its own
generator, seeded from its request's seed and its index (``row_sampling``), so a request's
completions do not depend on the other requests of its batch (the worker's engine merges many
elements' requests; only floating-point rounding of padded batches can move a draw).

The prompt budget is the model's context (``max_position_embeddings``: 8192 for SmolLM2) minus a
request's ``max_new_tokens``, counted with the model's own tokenizer and chat template; a prompt
over it never reaches ``generate`` (see ``generators.backends.base``). Without it an 800 KB
docstring became a 286k-token prompt whose prefill (quadratic in its length, far past the
positions the model was trained on) ran for hours.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence

from generators.backends import tokens
from generators.backends.base import BackendError, Completion, GenRequest, LLMBackend, apply_stop
from generators.backends.console import show_progress
from generators.backends.registry import BackendConfig
from generators.backends.smollm import EMBEDDED_MODEL, resolve_model


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
        # the engine: one call at a time of up to max_batch_size rows (the CPU's best batch), 4 batches' worth in flight
        self.engine_lanes, self.engine_batch_sequences = 1, config.max_batch_size
        self.engine_inflight = 4 * config.max_batch_size
        self._context = tokens.context_length(self.model.config, self.tokenizer)
        self.max_token_chars = tokens.longest_token_chars(self.tokenizer)
        self.prompt_budget_override = config.prompt_budget

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def context_length(self) -> int | None:
        return self._context

    def prompt_tokens(self, request: GenRequest) -> int:
        return tokens.chat_prompt_tokens(self.tokenizer, request.message_dicts())

    def _encode(self, requests: Sequence[GenRequest]):
        return self.tokenizer.apply_chat_template(
            [r.message_dicts() for r in requests], add_generation_prompt=True, return_tensors="pt", return_dict=True,
            padding=True,
        )

    def _generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        results: dict[int, list[Completion]] = {}
        for group in self._batches(requests):
            for index, completions in zip(group, self._generate_batch([requests[i] for i in group]), strict=True):
                results[index] = completions
        return [results[i] for i in range(len(requests))]

    def _batches(self, requests: Sequence[GenRequest]) -> list[list[int]]:
        """Indexes of requests that can share a ``generate`` call: same settings, at most
        ``max_batch_size`` rows, and within the same settings sorted by prompt length (characters,
        a proxy for tokens), so that a batch's rows pad little."""
        groups: dict[tuple, list[int]] = {}
        for i, request in enumerate(requests):
            p = request.params
            groups.setdefault((p.n, p.temperature, p.max_new_tokens, p.stop, p.top_p, p.logprobs), []).append(i)
        order: list[list[int]] = []
        for (n, *_rest), members in groups.items():
            members.sort(key=lambda i: sum(len(content) for _, content in requests[i].messages))
            per_call = max(1, max(self.config.max_batch_size, n) // n)
            order += [members[at:at + per_call] for at in range(0, len(members), per_call)]
        return order

    def _generate_batch(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        torch, params = self._torch, requests[0].params
        inputs = self._encode(requests)
        prompt_len = inputs["input_ids"].shape[1]
        sample = params.temperature > 0
        per_prompt = params.n if sample else 1  # greedy: one decode serves all n
        kwargs: dict = dict(
            max_new_tokens=params.max_new_tokens,
            do_sample=False,  # sampled rows draw in RowSampler, each from its own seed
            temperature=None, top_p=None, top_k=None,
            pad_token_id=self.tokenizer.pad_token_id,
            output_logits=params.logprobs,
            return_dict_in_generate=True,
        )
        if sample:  # n rows per prompt, one encoding repeated (HF repeats it for num_return_sequences too)
            from transformers import LogitsProcessorList

            from generators.backends.row_sampling import RowSampler, row_seed

            inputs = {k: v.repeat_interleave(per_prompt, dim=0) for k, v in inputs.items()}
            seeds = [row_seed(r.params.seed, j) for r in requests for j in range(per_prompt)]
            kwargs["logits_processor"] = LogitsProcessorList([RowSampler(seeds, params.temperature, params.top_p)])
        if params.stop:
            kwargs["stop_strings"] = list(params.stop)
            kwargs["tokenizer"] = self.tokenizer
        with self._lock, torch.inference_mode():
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
