"""``TagSFTRows``: the last transform before any pipeline writes SFT rows.

Every step gets a factor (human factors kept), and ``messages`` become the user problem and the
tagged hidden CoT followed by the answer. Each row's rendering is parsed back before it goes on,
so a written row always round-trips to its ``steps``. Statistics go to the stage's counters:
``factor:KIND:FACTOR`` (steps per factor and source kind), ``tier:TIER`` (who chose each factor)
and ``llm_fallbacks`` (LLM answers that named no factor); the manifest and the card sum them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import apache_beam as beam

from generators.backends.base import GenerationParams
from generators.backends.model_handler import LLMModelHandler, SharedBackend
from generators.tagging import DEFAULT_PARAMS, StepTagger, make_tagger, tagged
from pipelines.config import RunConfig
from pipelines.io.stage import DEAD, Filtered, Rejected, Stage
from schemas.factors import FactorVocabulary, load_factors
from schemas.records import SFTRow
from schemas.tags import TagError, parse_think, render_think

FACTOR_STAT, TIER_STAT, FALLBACK_STAT = "factor", "tier", "llm_fallbacks"


def tag_params(config: RunConfig) -> GenerationParams:
    """Greedy and short: a factor name is a few tokens."""
    return replace(DEFAULT_PARAMS, max_new_tokens=min(config.max_new_tokens, DEFAULT_PARAMS.max_new_tokens), seed=config.seed)


def tagged_messages(problem: str, content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": problem}, {"role": "assistant", "content": content}]


class TagRowsFn(Stage):
    """SFTRow → the same with every step tagged and ``messages`` rendered (checked to parse back)."""

    failure = "tag_error"

    def __init__(self, vocabulary: FactorVocabulary, tier: str, handle: SharedBackend | None, params: GenerationParams,
                 stage: str):
        super().__init__(stage)
        self.vocabulary = vocabulary
        self.tier = tier
        self.handle = handle
        self.params = params

    def setup(self) -> None:
        self.tagger: StepTagger | None = None

    def _tagger(self) -> StepTagger:
        if self.tagger is None:  # the model loads on first use: never for rules, nor an all-resumed run
            backend = self.handle.get() if self.handle is not None else None
            self.tagger = make_tagger(self.tier, self.vocabulary, backend, self.params)
        return self.tagger

    def ref(self, row: SFTRow) -> str:
        return row.source.path or row.source.uri or row.id

    def run(self, row: SFTRow) -> Any:
        if not row.steps:
            return Filtered("no_steps")
        unknown = sorted({s.factor for s in row.steps if s.factor is not None and s.factor not in self.vocabulary})
        if unknown:
            return Rejected("unknown_factor", f"step factors {unknown} are not in the vocabulary "
                                              f"({', '.join(self.vocabulary.names)})", row.id)
        decisions = self._tagger().tag(row.steps, row.problem)
        steps = tagged(row.steps, decisions)
        try:
            content = render_think(steps, row.answer)
            if parse_think(content, self.vocabulary) != (steps, row.answer):
                raise TagError("roundtrip", "the rendering does not parse back to the steps")
        except Exception as exc:  # a TagError, or a row whose texts are not strings
            return Rejected("render_error", str(exc) if isinstance(exc, TagError) else f"{type(exc).__name__}: {exc}", row.id)
        for decision in decisions:
            self.stat(f"{FACTOR_STAT}:{row.source_kind}:{decision.factor}")
            self.stat(f"{TIER_STAT}:{decision.tier}")
        fallbacks = sum(d.tier == "llm_fallback" for d in decisions)
        if fallbacks:
            self.stat(FALLBACK_STAT, fallbacks)
        return replace(row, steps=steps, messages=tagged_messages(row.problem, content))


class TagSFTRows(beam.PTransform):
    """SFTRows → ``{"rows": SFTRows with every step tagged and messages rendered, "dead": DeadLetters}``.

    The vocabulary (``config.factors``) is loaded here, at pipeline construction, so a bad
    ``--factors`` file fails the command before anything runs. Pass the pipeline's own
    ``handle`` where it already holds one for the same backend, so a worker keeps one model copy.
    """

    def __init__(self, config: RunConfig, stage: str = "tag_steps", handle: SharedBackend | None = None):
        super().__init__()
        self.vocabulary = load_factors(config.factors)
        if config.tagger == "rules":
            handle = None
        elif handle is None:
            handle = SharedBackend(LLMModelHandler(config.backend_config()))
        self.fn = TagRowsFn(self.vocabulary, config.tagger, handle, tag_params(config), stage)

    def expand(self, rows: beam.PCollection) -> dict[str, beam.PCollection]:
        out = rows | beam.ParDo(self.fn).with_outputs(DEAD, main="rows")
        return {"rows": out.rows, DEAD: out[DEAD]}
