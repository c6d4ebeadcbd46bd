"""What the two local reward models share: a folder loaded offline, torch threads, batched forward passes.

A model subclass says how a request becomes token ids and the positions its step scores are read at
(``Encoded``), and how the logits at those positions become scores. This module tokenizes, checks the
context, batches requests (sorted by length, right-padded: positions count from the left and a causal
model's earlier tokens never see the padding, so a request scores the same in any batch up to float
rounding), runs the model under ``torch.inference_mode`` on the CPU in float32 (as the local policy
backend does) and hands back the logits of the wanted positions only.

Torch threads are process-wide: a local policy beside the reward model has already set them (its
``--threads``, else ``worker_threads()``), so they are only set here where ``worker_threads()`` has
something to go on (``$REVERSE_O1_THREADS``, ``$REVERSE_O1_WORKER_PROCESSES``).
"""

from __future__ import annotations

import abc
import functools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.backends import tokens
from generators.backends.base import PromptTooLong
from generators.backends.console import show_progress
from generators.backends.transformers_backend import worker_threads
from generators.reward.base import RewardError, RewardModel, ScoreRequest, StepScores, checked

MAX_BATCH_ROWS = 16  # requests per forward pass
MAX_BATCH_TOKENS = 16384  # padded tokens per forward pass (rows x the longest row)
TOKENIZED_CACHE = 8192  # texts whose token ids are kept (a search scores the same problem and steps again and again)


@dataclass(frozen=True)
class Encoded:
    """A request as the model reads it: ``ids``, and per step the index in ``ids`` its score is read at."""

    ids: tuple[int, ...]
    positions: tuple[int, ...]


def set_threads(torch: Any) -> None:
    """Torch threads from ``worker_threads()`` where the environment sizes them; else as a local policy left them."""
    if os.environ.get("REVERSE_O1_THREADS", "").isdigit() or os.environ.get("REVERSE_O1_WORKER_PROCESSES", "").isdigit():
        torch.set_num_threads(worker_threads())


class LocalReward(RewardModel):
    """A Transformers model in this process; subclasses load it (``_load``) and say how to read it."""

    def __init__(self, name: str, path: Path | str):
        import torch

        super().__init__(name)
        self._torch = torch
        set_threads(torch)
        self.path = str(path)
        if not os.path.isdir(self.path):
            raise RewardError(f"{name}: {self.path} is not a folder")
        from transformers import AutoTokenizer

        if not show_progress():
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # its "Loading weights" bar would fill logs and CI output
        try:  # local folders only: nothing downloads weights at run time
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            self.model = self._load(self.path)
        except (OSError, ValueError) as exc:
            raise RewardError(f"{name}: cannot load {self.path}: {' '.join(str(exc).split())[:300]}") from exc
        self.model.eval()
        self.context = tokens.context_length(self.model.config, self.tokenizer)
        # the engine's driver thread checks requests while a lane scores others: one tokenizer call and one
        # forward pass at a time (a fast tokenizer shared between threads can fail with "Already borrowed")
        self.tokenizer_lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._token_ids = functools.lru_cache(maxsize=TOKENIZED_CACHE)(self._tokenize)

    @abc.abstractmethod
    def _load(self, path: str) -> Any:
        """The model of ``path`` (float32, local files only)."""

    @abc.abstractmethod
    def encode(self, request: ScoreRequest) -> Encoded:
        """The token ids of ``request`` and the position of each step's score."""

    @abc.abstractmethod
    def _logits(self, input_ids: Any, attention_mask: Any, keep: Any) -> Any:
        """The logits at the ``True`` positions of ``keep`` (batch x length), flattened row by row: (positions, C)."""

    @abc.abstractmethod
    def _scores(self, logits: Any) -> list[float]:
        """P(step correct) of each row of ``logits`` (positions, C)."""

    def _tokenize(self, text: str) -> tuple[int, ...]:
        with self.tokenizer_lock:
            return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # --- the contract ---------------------------------------------------------------------------

    def check(self, request: ScoreRequest) -> None:
        """``PromptTooLong`` for a request longer than the model's positions (it is never truncated: the last
        steps' scores, the ones the search asks for, would be cut off)."""
        if request.steps:
            self._fits(len(self.encode(request).ids))

    def _fits(self, size: int) -> None:
        if self.context is not None and size > self.context:
            raise PromptTooLong(f"{self.name}: {size} tokens, over the model's context of {self.context}", size, self.context)

    def score(self, requests: Sequence[ScoreRequest]) -> list[StepScores]:
        encoded = [self.encode(r) if r.steps else Encoded((), ()) for r in requests]
        for item in encoded:
            self._fits(len(item.ids))
        values: list[list[float]] = [[] for _ in requests]
        for batch in batches([len(e.ids) for e in encoded]):
            for index, scores in zip(batch, self._run([encoded[i] for i in batch]), strict=True):
                values[index] = scores
        return checked(values, requests, self.name)

    def _run(self, items: Sequence[Encoded]) -> list[list[float]]:
        """One forward pass over ``items`` (right-padded); the scores of each, in order."""
        torch = self._torch
        width = max(len(e.ids) for e in items)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids = torch.full((len(items), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        keep = torch.zeros((len(items), width), dtype=torch.bool)
        for row, item in enumerate(items):
            input_ids[row, : len(item.ids)] = torch.tensor(item.ids, dtype=torch.long)
            attention_mask[row, : len(item.ids)] = 1
            keep[row, list(item.positions)] = True
        with self._model_lock, torch.inference_mode():
            flat = self._scores(self._logits(input_ids, attention_mask, keep).float())
        out, at = [], 0
        for item in items:  # ``keep`` is read row by row, positions ascending: each item's steps in order
            out.append(flat[at : at + len(item.positions)])
            at += len(item.positions)
        return out

    def close(self) -> None:
        self.model = None
        self._token_ids.cache_clear()


def batches(lengths: Sequence[int]) -> list[list[int]]:
    """Indexes of the non-empty items (length > 0) in forward passes: sorted by length so that a pass pads
    little, at most ``MAX_BATCH_ROWS`` rows and ``MAX_BATCH_TOKENS`` padded tokens each (one row always fits)."""
    order = sorted((i for i, n in enumerate(lengths) if n > 0), key=lambda i: lengths[i])
    out: list[list[int]] = []
    for i in order:
        if out and len(out[-1]) < MAX_BATCH_ROWS and (len(out[-1]) + 1) * lengths[i] <= MAX_BATCH_TOKENS:
            out[-1].append(i)
        else:
            out.append([i])
    return out
