"""A PRM folder as TRL 1.13's ``PRMTrainer`` saves it: a token classification head with two labels.

The model is read exactly where TRL trains it (``PRMTrainer.tokenize_row``, TRL 1.13.0): the ids are
``[bos]`` (where the tokenizer has one) + the prompt's ids + for each step its ids and the separator's
(``"\\n"``, ``PRMConfig.step_separator``'s default), each piece tokenized on its own without special
tokens; a step's label sits on the last token of its step + separator piece. The prompt is the
problem as is: ``export prm`` writes a PRM row's ``prompt`` from the problem (``PRMRow.prompt``), and a
``ScoreRequest``'s ``problem`` is the same text. A step's score is softmax(logits)[1] there (label 1:
TRL's ``int(True)``, a correct step).

A request longer than the model's context is refused (``PromptTooLong``), never truncated as TRL's
``max_length`` (1024 by default) truncates training rows: truncation would cut off the last steps, whose
scores the search asks for. Requests between TRL's ``max_length`` and the context are scored at
positions the PRM was never trained on.
"""

from __future__ import annotations

from typing import Any

from generators.reward.base import RewardError, ScoreRequest
from generators.reward.local import Encoded, LocalReward
from generators.reward.spec import RewardSpec

STEP_SEPARATOR = "\n"  # TRL's PRMConfig.step_separator default
CORRECT_LABEL = 1  # TRL casts a step's bool label to int: 1 is a correct step


class TokenClassificationPRM(LocalReward):
    kind = "prm"

    def __init__(self, spec: RewardSpec):
        super().__init__(spec.name, spec.location)
        labels = getattr(self.model.config, "num_labels", None)
        if labels != 2:
            raise RewardError(f"{self.name}: the token classification head has {labels} labels; a PRM from TRL's "
                              "PRMTrainer has 2 (AutoModelForTokenClassification.from_pretrained(..., num_labels=2))")
        self.separator = self._token_ids(STEP_SEPARATOR)
        if not self.separator:
            raise RewardError(f"{self.name}: the tokenizer makes no token of the step separator {STEP_SEPARATOR!r}")
        bos = self.tokenizer.bos_token_id
        self.head: tuple[int, ...] = (bos,) if bos is not None else ()

    def _load(self, path: str) -> Any:
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification.from_pretrained(path, dtype=self._torch.float32, local_files_only=True)

    def encode(self, request: ScoreRequest) -> Encoded:
        ids = list(self.head) + list(self._token_ids(request.problem))
        positions = []
        for step in request.steps:
            ids += self._token_ids(step.text) + self.separator
            positions.append(len(ids) - 1)
        return Encoded(tuple(ids), tuple(positions))

    def _logits(self, input_ids: Any, attention_mask: Any, keep: Any) -> Any:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits[keep]

    def _scores(self, logits: Any) -> list[float]:
        return self._torch.softmax(logits, dim=-1)[:, CORRECT_LABEL].tolist()
