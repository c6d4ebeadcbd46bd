"""``TagSFTRows``: the last transform before any pipeline writes SFT rows.

Every step gets a factor (human factors kept), and ``messages`` become the user problem and the
tagged hidden CoT followed by the answer. Each row's rendering is parsed back before it goes on,
so a written row always round-trips to its ``steps``. Statistics go to the stage's counters:
``factor:KIND:FACTOR`` (steps per factor and source kind), ``tier:TIER`` (who chose each factor)
and ``llm_fallbacks`` (LLM answers that named no factor); the manifest and the card sum them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import apache_beam as beam

from generators.backends.base import GenerationParams
from generators.backends.model_handler import LLMModelHandler, SharedBackend
from generators.tagging import DEFAULT_PARAMS, StepTagger, make_tagger, tagged
from pipelines.config import RunConfig
from pipelines.io.counters import StageCounters
from pipelines.io.dead_letter import DeadLetter
from pipelines.io.read import DEAD
from schemas.factors import FactorVocabulary, load_factors
from schemas.records import SFTRow
from schemas.tags import TagError, parse_think, render_think

FACTOR_STAT, TIER_STAT, FALLBACK_STAT = "factor", "tier", "llm_fallbacks"


def tag_params(config: RunConfig) -> GenerationParams:
    """Greedy and short: a factor name is a few tokens."""
    return replace(DEFAULT_PARAMS, max_new_tokens=min(config.max_new_tokens, DEFAULT_PARAMS.max_new_tokens), seed=config.seed)


def tagged_messages(problem: str, content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": problem}, {"role": "assistant", "content": content}]


class TagRowsFn(beam.DoFn):
    def __init__(self, vocabulary: FactorVocabulary, tier: str, handle: SharedBackend | None, params: GenerationParams,
                 stage: str):
        self.vocabulary = vocabulary
        self.tier = tier
        self.handle = handle
        self.params = params
        self.stage = stage
        self.counters = StageCounters(stage)

    def setup(self) -> None:
        self.tagger: StepTagger | None = None

    def _tagger(self) -> StepTagger:
        if self.tagger is None:  # the model loads on first use: never for rules, nor an all-resumed run
            backend = self.handle.get() if self.handle is not None else None
            self.tagger = make_tagger(self.tier, self.vocabulary, backend, self.params)
        return self.tagger

    def _dead(self, row: SFTRow, reason: str, error: str) -> Any:
        self.counters.dead_lettered()
        ref = row.source.path or row.source.uri or row.id
        return beam.pvalue.TaggedOutput(DEAD, DeadLetter.of(self.stage, reason, ref, error, row.id))

    def process(self, row: SFTRow) -> Iterator[Any]:
        self.counters.read()
        if not row.steps:
            self.counters.filtered("no_steps")
            return
        unknown = sorted({s.factor for s in row.steps if s.factor is not None and s.factor not in self.vocabulary})
        if unknown:
            yield self._dead(row, "unknown_factor", f"step factors {unknown} are not in the vocabulary "
                                                    f"({', '.join(self.vocabulary.names)})")
            return
        try:
            decisions = self._tagger().tag(row.steps, row.problem)
        except Exception as exc:  # one bad row must not stop the run
            self.counters.dead_lettered()
            ref = row.source.path or row.source.uri or row.id
            yield beam.pvalue.TaggedOutput(DEAD, DeadLetter.of_failure(self.stage, exc, ref, row.id, "tag_error"))
            return
        steps = tagged(row.steps, decisions)
        try:
            content = render_think(steps, row.answer)
            if parse_think(content, self.vocabulary) != (steps, row.answer):
                raise TagError("roundtrip", "the rendering does not parse back to the steps")
        except Exception as exc:  # a TagError, or a row whose texts are not strings
            yield self._dead(row, "render_error", str(exc) if isinstance(exc, TagError) else f"{type(exc).__name__}: {exc}")
            return
        self.counters.written()
        for decision in decisions:
            self.counters.extra(f"{FACTOR_STAT}:{row.source_kind}:{decision.factor}")
            self.counters.extra(f"{TIER_STAT}:{decision.tier}")
        fallbacks = sum(d.tier == "llm_fallback" for d in decisions)
        if fallbacks:
            self.counters.extra(FALLBACK_STAT, fallbacks)
        yield replace(row, steps=steps, messages=tagged_messages(row.problem, content)).to_dict()


class TagSFTRows(beam.PTransform):
    """SFTRows → ``{"rows": row dicts with every step tagged and messages rendered, "dead": DeadLetters}``.

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
