"""``TagSFTRows``: the last transform before any pipeline writes SFT rows.

With ``--only-verified`` a row whose answer was not verified is filtered here (``unverified``),
before any tagging work. Every step gets a factor (human factors kept), and ``messages`` become the user problem and the
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
from generators.backends.handle import BackendHandle
from generators.tagging import make_tagger, tagged
from generators.tagging.base import TagDecision
from pipelines.settings import TaggingSettings
from pipelines.stage.kernel import DEAD, Filtered, Rejected
from pipelines.stage.program_stage import ProgramStage
from schemas.factors import FactorVocabulary, load_factors
from schemas.records import SFTRow
from schemas.tags import TagError, parse_think, render_think

FACTOR_STAT, TIER_STAT, FALLBACK_STAT = "factor", "tier", "llm_fallbacks"


def tagged_messages(problem: str, content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": problem}, {"role": "assistant", "content": content}]


class TagRowsFn(ProgramStage):
    """SFTRow → the same with every step tagged and ``messages`` rendered (checked to parse back). The
    rules tier tags at once; the LLM tiers ask the model through a program on the worker's engine."""

    failure = "tag_error"

    def __init__(self, vocabulary: FactorVocabulary, tier: str, handle: BackendHandle | None, params: GenerationParams,
                 stage: str, only_verified: bool = False):
        super().__init__(stage, handle)  # type: ignore[arg-type]  # None for the rules tier: no model at all
        self.only_verified = only_verified
        self.vocabulary = vocabulary
        self.tier = tier
        self.params = params

    def setup(self) -> None:
        super().setup()
        self.rules = make_tagger("rules", self.vocabulary, None, self.params)
        self.llm: Any = None  # the LLM tier's tagger, made on first use (the model loads then)

    def ref(self, row: SFTRow) -> str:
        return row.source.path or row.source.uri or row.id

    def start(self, row: SFTRow) -> Any:
        if self.only_verified and not row.verified:
            return Filtered("unverified")
        if not row.steps:
            return Filtered("no_steps")
        unknown = sorted({s.factor for s in row.steps if s.factor is not None and s.factor not in self.vocabulary})
        if unknown:
            return Rejected("unknown_factor", f"step factors {unknown} are not in the vocabulary "
                                              f"({', '.join(self.vocabulary.names)})", row.id)
        if self.handle is None:  # the rules tier: no model, no program
            return self.finish(row, self.rules.tag(row.steps, row.problem))
        if self.llm is None:
            self.llm = make_tagger(self.tier, self.vocabulary, self.engine().backend, self.params)
        return self.llm.program(row.steps, row.problem)

    def finish(self, row: SFTRow, decisions: list[TagDecision]) -> Any:
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

    The vocabulary (``settings.factors``) is loaded here, at pipeline construction, so a bad
    ``--factors`` file fails the command before anything runs. ``handle`` is the run's backend
    (unused by the rules tier), so a worker keeps one model copy.
    """

    def __init__(self, settings: TaggingSettings, handle: BackendHandle | None, stage: str = "tag_steps"):
        super().__init__()
        self.vocabulary = load_factors(settings.factors)
        self.fn = TagRowsFn(self.vocabulary, settings.tier, None if settings.tier == "rules" else handle, settings.params,
                            stage, settings.only_verified)

    def expand(self, rows: beam.PCollection) -> dict[str, beam.PCollection]:
        out = rows | beam.ParDo(self.fn).with_outputs(DEAD, main="rows")
        return {"rows": out.rows, DEAD: out[DEAD]}
