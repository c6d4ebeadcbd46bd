"""Per-row sampling for Hugging Face ``generate``: each sequence draws from its own seeded generator.

``generate(do_sample=True)`` draws every row of a batch from one global torch generator, so a
row's sample depends on which other rows share its batch. The generation engine merges many
elements' requests into one batch, so that would make a row's text depend on ``--inflight`` and
``--max-batch-sequences``. ``RowSampler`` is a logits processor that samples each row itself,
from ``softmax(logits / temperature)`` after top-p filtering, with a ``torch.Generator`` seeded
from that row's own seed (its request's seed and its sample index), and leaves only the drawn
token possible; ``generate`` then runs greedily (``do_sample=False``) and takes it. A row's draws
thus depend only on its own seed and its own logits, as with vLLM's and OpenAI-compatible
servers' per-request seeds. What can still move a row is its logits themselves: a padded batch
computes them with slightly different floating-point rounding than a lone row (left padding
changes the shapes of the matrix products), so a draw that falls within that rounding of a
boundary between two tokens can differ; the docs say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessor


def row_seed(seed: int, index: int) -> int:
    """The seed of sample ``index`` of a request whose seed is ``seed``."""
    return (int(seed) * 1_000_003 + index) % (2**63 - 1)


class RowSampler(LogitsProcessor):
    """Samples one token per row with that row's own generator (module docstring)."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float = 1.0):
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> Any:
        logits = scores.float() / max(self.temperature, 1e-6)
        if self.top_p < 1.0:
            ordered, index = torch.sort(logits, descending=True, dim=-1)
            cumulative = torch.softmax(ordered, dim=-1).cumsum(dim=-1)
            drop = cumulative - torch.softmax(ordered, dim=-1) >= self.top_p  # keep the smallest set reaching top_p
            logits = logits.scatter(-1, index, ordered.masked_fill(drop, float("-inf")))
        probs = torch.softmax(logits, dim=-1).cpu()
        chosen = torch.full_like(scores, float("-inf"))
        for row, generator in enumerate(self.generators):
            token = torch.multinomial(probs[row], 1, generator=generator)
            chosen[row, token] = 0.0
        return chosen
