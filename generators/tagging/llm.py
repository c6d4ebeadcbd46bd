"""The LLM tier: a constrained prompt (``tag_factor``) that must answer with one factor name.

The prompt lists the factors with their descriptions, shows each factor's first example from
the vocabulary as a worked turn (the step, then the bare name) and asks about the step. An
answer that names no factor (or several) is invalid: the rule tagger's factor stands and the
decision says ``llm_fallback``, so pipelines can count fallbacks. With ``only_unsure`` (the
``both`` tier) only the steps the rule tagger is unsure of go to the model. All requests of one
CoT are one yield of its program (``generators.engine``), greedy (temperature 0) so tags are
reproducible.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from generators.backends.base import GenerationParams, GenRequest, LLMBackend
from generators.engine.program import Program, drive
from generators.prompts import template
from generators.tagging.base import StepTagger, TagDecision
from generators.tagging.rules import RuleTagger
from schemas.factors import FactorVocabulary
from schemas.records import Step

TEMPLATE = "tag_factor"
PROMPT_CHARS = 600  # problem and step are cut to this in the prompt: a 5 MB step costs no more
DEFAULT_PARAMS = GenerationParams(n=1, temperature=0.0, max_new_tokens=12, stop=("\n",))
_PREFIX = re.compile(r"^\s*(?:(?:the\s+)?(?:answer|label|factor)(?:\s+is)?\s*[:=\-]?\s*)+", re.IGNORECASE)


def parse_answer(text: str, names: Sequence[str]) -> str | None:
    """The factor an answer names: its first word, or the only factor named on its first line."""
    lines = text.strip().splitlines()
    if not lines:
        return None
    line = _PREFIX.sub("", lines[0])
    lower = {n.lower(): n for n in names}
    word = re.match(r"[\W_]*([A-Za-z][A-Za-z0-9]*)", line)
    if word and word.group(1).lower() in lower:
        return lower[word.group(1).lower()]
    named = {n for n in names if re.search(rf"(?<![A-Za-z]){re.escape(n)}(?![A-Za-z])", line, re.IGNORECASE)}
    return named.pop() if len(named) == 1 else None


def _clip(text: str, limit: int = PROMPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " ..."


class LLMTagger(StepTagger):
    def __init__(self, backend: LLMBackend, vocabulary: FactorVocabulary, params: GenerationParams = DEFAULT_PARAMS,
                 only_unsure: bool = False):
        self.backend = backend
        self.vocabulary = vocabulary
        self.params = params
        self.only_unsure = only_unsure
        self.name = "both" if only_unsure else "llm"
        self.rules = RuleTagger(vocabulary)
        self.prompt = template(TEMPLATE)
        menu = "\n".join(f"- {f.name}: {f.description}" for f in vocabulary.factors)
        self.shots: list[dict[str, str]] = [{"role": "system", "content": self.prompt.system.format(factors=menu)}]
        for factor in vocabulary.factors:
            if factor.examples:
                self.shots.append(self.prompt.messages("user", step=_clip(factor.examples[0]))[-1])
                self.shots.append({"role": "assistant", "content": factor.name})

    @property
    def prompt_version(self) -> str:
        return self.prompt.id

    def request(self, steps: Sequence[Step], index: int, problem: str = "") -> GenRequest:
        """The few-shot chat for one step (the step alone: its kind shows in its own words)."""
        ask = self.prompt.messages("user", step=_clip(steps[index].text))[-1]
        return GenRequest.chat([*self.shots, ask], self.params, key=index)

    def tag(self, steps: Sequence[Step], problem: str = "") -> list[TagDecision]:
        return drive(self.program(steps, problem), self.backend)

    def program(self, steps: Sequence[Step], problem: str = "") -> Program[list[TagDecision]]:
        """The decisions as a program: one yield of the requests of every step the model is asked about."""
        decisions = self.rules.tag(steps, problem)
        todo = [i for i, d in enumerate(decisions) if d.tier != "human" and (d.unsure or not self.only_unsure)]
        if not todo:
            return decisions
        outputs = yield [self.request(steps, i, problem) for i in todo]
        for i, completions in zip(todo, outputs, strict=True):
            factor = parse_answer(completions[0].text, self.vocabulary.names) if completions else None
            rule = decisions[i]
            decisions[i] = (TagDecision(factor, "llm") if factor is not None
                            else TagDecision(rule.factor, "llm_fallback", rule.confidence, rule.unsure))
        return decisions
