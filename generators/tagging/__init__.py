"""Thought-factor tagging: segment free CoT text into steps and tag each with a factor.

Tiers (``--tagger``): ``rules`` (cues, position, arithmetic and code detectors), ``llm`` (every
untagged step asks the model, invalid answers fall back to the rules) and ``both`` (the rules,
with only the steps they are unsure of sent to the model). Factors a step already has (human
annotations on seeds) are kept.
"""

from __future__ import annotations

from generators.backends.base import GenerationParams, LLMBackend
from generators.tagging.base import StepTagger, TagDecision, tagged
from generators.tagging.llm import DEFAULT_PARAMS, LLMTagger, parse_answer
from generators.tagging.rules import RuleTagger
from generators.tagging.segment import SegmentOptions, segment, split_answer
from schemas.factors import FactorVocabulary

TIERS = ("rules", "llm", "both")


def make_tagger(tier: str, vocabulary: FactorVocabulary, backend: LLMBackend | None = None,
                params: GenerationParams = DEFAULT_PARAMS) -> StepTagger:
    """The tagger of a tier; ``llm`` and ``both`` need a backend."""
    if tier == "rules":
        return RuleTagger(vocabulary)
    if tier not in TIERS:
        raise ValueError(f"unknown tagger {tier!r} (choose {', '.join(TIERS)})")
    if backend is None:
        raise ValueError(f"the {tier} tagger needs an LLM backend")
    return LLMTagger(backend, vocabulary, params, only_unsure=tier == "both")


__all__ = [
    "TIERS", "LLMTagger", "RuleTagger", "SegmentOptions", "StepTagger", "TagDecision", "make_tagger", "parse_answer",
    "segment", "split_answer", "tagged",
]
