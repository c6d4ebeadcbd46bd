"""A causal LM as a process reward model, Math-Shepherd style: it answers ``+`` or ``-`` after each step.

The text is exactly what ``export openrlhf`` (and ``export math-shepherd``) writes for a PRM row:
``"PROBLEM Step 1: TEXT ки\\nStep 2: TEXT ки"`` (``shepherd_text``: an ``ки`` inside the problem or a step
gets a word joiner, a step's line breaks become spaces), tokenized without special tokens, as OpenRLHF's
``ProcessRewardDataset`` does. At each placeholder the model's next-token logits of the reward tokens
``+`` and ``-`` give the step's score, p(+) / (p(+) + p(-)) = softmax([logit +, logit -])[0]: OpenRLHF's
``PRMLoss`` (``openrlhf/models/loss.py``, with ``--reward_tokens + -``; ``train_prm`` as it stood up to
0.9.5, the last release with it) reads the logits at the placeholder token's own position and trains the
two reward tokens' logits there. OpenRLHF needs the placeholder to be one token; where it is several (the
embedded SmolLM2 makes two of ``ки``, ``reverse-o1 tokenizer --extra-token ки`` makes it one), the
prediction is read at the position of its last token (the token holding its last character).
The reward tokens are ``+`` and ``-`` tokenized alone, each one token (OpenRLHF's ``convert_token_to_id``).

``generative:embedded`` is the built-in SmolLM2-135M-Instruct (untrained for this: its scores are a
plumbing check, not a judgement); ``generative:DIR`` a causal LM folder, e.g. one ``train_prm`` wrote.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from generators.backends.smollm import converted_model_dir
from generators.reward.base import RewardError, ScoreRequest
from generators.reward.local import Encoded, LocalReward
from generators.reward.spec import EMBEDDED, RewardSpec
from schemas.math_shepherd import TAG, shepherd_input

PLACEHOLDER = TAG  # Math-Shepherd's step tag, written " ки" after each step (schemas.math_shepherd)
REWARD_TOKENS = ("+", "-")  # correct, wrong
shepherd_text = shepherd_input  # the text ``export openrlhf`` writes


class GenerativePRM(LocalReward):
    kind = "generative"

    def __init__(self, spec: RewardSpec):
        if spec.location == EMBEDDED:
            try:
                path: Any = converted_model_dir()
            except FileNotFoundError as exc:
                raise RewardError(f"{spec.name}: {exc}") from exc
        else:
            path = spec.location
        super().__init__(spec.name, path)
        self.reward_ids = [self._single_token(t) for t in REWARD_TOKENS]

    def _single_token(self, text: str) -> int:
        ids = self._token_ids(text)
        if len(ids) != 1:
            raise RewardError(f"{self.name}: the reward token {text!r} is {len(ids)} tokens of this tokenizer, not one")
        return ids[0]

    def _load(self, path: str) -> Any:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(path, dtype=self._torch.float32, local_files_only=True)

    def encode(self, request: ScoreRequest) -> Encoded:
        text = shepherd_text(request.problem, [s.text for s in request.steps])
        with self.tokenizer_lock:
            encoding = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ends = [m.end() for m in re.finditer(re.escape(PLACEHOLDER), text)]
        if len(ends) != len(request.steps):  # shepherd_text makes every other "ки" safe: a broken invariant
            raise RewardError(f"{self.name}: {len(ends)} placeholders in the text of {len(request.steps)} steps")
        starts = [start for start, _ in encoding["offset_mapping"]]
        # the last token starting before the placeholder's end holds its last character
        positions = tuple(bisect.bisect_left(starts, end) - 1 for end in ends)
        return Encoded(tuple(encoding["input_ids"]), positions)

    def _logits(self, input_ids: Any, attention_mask: Any, keep: Any) -> Any:
        # only the placeholders' positions go through the vocabulary projection (a boolean logits_to_keep)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep).logits
        return out.reshape(-1, out.shape[-1])[:, self.reward_ids]

    def _scores(self, logits: Any) -> list[float]:
        return self._torch.softmax(logits, dim=-1)[:, 0].tolist()
