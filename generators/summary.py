"""Summaries of a hidden CoT for the user (the design's summary model): one request, checks per sample.

From an SFT row's problem and its hidden CoT (the steps rendered with their thought-factor tags, as
the row's assistant turn holds them up to ``<Think_End>``), the model writes a short summary for the
user (prompt ``summarize``). A summary is kept only when it passes three checks, in this order (a
failed sample's reason is the first it fails):

1. ``answer_mismatch``: it states the row's final answer (extracted as everywhere, then math-verify
   against the row's ``answer``); a summary that states no answer at all fails this check too;
2. ``leaks_cot``: it holds no tag-like string (``<Think_Start>``, ``<ACT_X-Start>``, escaped or cut
   short, or a bare ``ACT_X-End``), and copies at most ``max_copied`` of the CoT's words: the share
   of the CoT's words (``common.text_normal.words``: normalised, GSM8K's ``<<...>>`` dropped) that lie
   in a word ``COPY_NGRAM``-gram the summary holds too (a CoT of fewer words: the whole CoT as the one
   gram). A summary may repeat a short phrase or a number of the CoT, not its sentences;
3. ``too_long``: it has fewer characters than ``max_ratio`` times the CoT's plain text (the steps'
   texts joined by newlines, without tags).

``samples`` summaries are drawn in one request (``n``); the first that passes is kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from common.text_normal import words
from generators.backends.base import GenerationParams, GenRequest
from generators.engine.program import Program
from generators.labelling.base import AnswerChecker
from generators.prompts import template
from schemas.ids import sampling_seed
from schemas.records import SFTRow, Step
from schemas.tags import find_tag_like, render_think

TEMPLATE = "summarize"
COPY_NGRAM = 6  # words of a copied span that counts against --max-copied
ANSWER_MISMATCH, LEAKS_COT, TOO_LONG = "answer_mismatch", "leaks_cot", "too_long"
REASONS = (ANSWER_MISMATCH, LEAKS_COT, TOO_LONG)
# a tag cut short or without its brackets still shows the hidden CoT's format: ``<Think_End``, ``<ACT_Compute``,
# ``ACT_Compute-Start``, ``Think_Start`` (case aside)
_LOOSE_TAG = re.compile(r"<\\*/?\s*(?:Think_(?:Start|End)|ACT_\w)|\bACT_\w+-(?:Start|End)\b|\bThink_(?:Start|End)\b",
                        re.IGNORECASE)


@dataclass(frozen=True)
class SummarySettings:
    """How summaries are drawn and checked (all of it enters the row id)."""

    samples: int = 1
    temperature: float = 0.7
    max_new_tokens: int = 192
    seed: int = 0
    max_copied: float = 0.5  # share of the CoT's words a summary may copy (in word COPY_NGRAM-grams)
    max_ratio: float = 0.8  # a summary must be shorter than this share of the CoT's characters
    copy_ngram: int = COPY_NGRAM
    template: str = TEMPLATE


@dataclass(frozen=True)
class SummaryCheck:
    """The checks of one summary: what it states, how much it copies, its length against the CoT's."""

    answer: str | None  # the final answer it states (None: none)
    answer_ok: bool
    tagged: bool  # holds a tag-like string
    copied: float  # share of the CoT's words it copies
    ratio: float  # its characters / the CoT's plain text's
    reasons: tuple[str, ...]  # the checks it fails, in check order

    @property
    def reason(self) -> str | None:
        """Why it is not kept (the first check it fails), None when it passes."""
        return self.reasons[0] if self.reasons else None


@dataclass(frozen=True)
class Summaries:
    """The samples of one row and their checks, in sampling order."""

    texts: list[str]
    checks: list[SummaryCheck]
    truncated: list[bool]  # cut at the token cap (finish_reason "length")
    tokens: list[int]
    prompt: list[dict[str, str]]  # the messages the model was given

    @property
    def kept(self) -> int | None:
        """The index of the first sample that passes, None when none does."""
        return next((i for i, c in enumerate(self.checks) if c.reason is None), None)

    @property
    def reason(self) -> str | None:
        """Why the row gets no summary: its first sample's reason (None when one is kept or none was drawn)."""
        if self.kept is not None or not self.checks:
            return None
        return self.checks[0].reason


def render_cot(steps: Sequence[Step]) -> str:
    """The hidden CoT as the SFT rows' assistant turn renders it, ``<Think_Start>`` to ``<Think_End>``
    (without the answer after it); ``TagError`` for a step without a factor."""
    return render_think(steps, "").removesuffix("\n")


def cot_text(steps: Sequence[Step]) -> str:
    """The CoT's plain text, the lengths and copies are measured on: the steps' texts, one a line."""
    return "\n".join(s.text for s in steps)


def has_tag(text: str) -> bool:
    """Whether ``text`` holds a thought-factor or think tag, whole, escaped or cut short."""
    return find_tag_like(text) is not None or _LOOSE_TAG.search(text) is not None


def copied_share(summary: str, cot: str, n: int = COPY_NGRAM) -> float:
    """The share of ``cot``'s words that lie in a word ``n``-gram ``summary`` holds too (both normalised by
    ``common.text_normal.words``); a CoT of fewer than ``n`` words counts as copied only when the summary
    holds it whole. 0.0 for a CoT without words."""
    cot_words = words(cot)
    if not cot_words:
        return 0.0
    size = min(n, len(cot_words))
    said = words(summary)
    grams = {tuple(said[i:i + size]) for i in range(len(said) - size + 1)}
    covered = [False] * len(cot_words)
    for i in range(len(cot_words) - size + 1):
        if tuple(cot_words[i:i + size]) in grams:
            covered[i:i + size] = [True] * size
    return sum(covered) / len(cot_words)


def check_summary(summary: str, answer: str, cot: str, checker: AnswerChecker, settings: SummarySettings) -> SummaryCheck:
    """The three checks of ``summary`` against the row's ``answer`` and the CoT's plain text ``cot``."""
    stated = checker.extract_answer(summary)
    answer_ok = stated is not None and bool(checker.verify(answer, stated).correct)
    tagged = has_tag(summary)
    copied = copied_share(summary, cot, settings.copy_ngram)
    ratio = len(summary) / len(cot) if cot else float("inf")
    reasons = tuple(reason for reason, failed in ((ANSWER_MISMATCH, not answer_ok),
                                                  (LEAKS_COT, tagged or copied > settings.max_copied),
                                                  (TOO_LONG, ratio >= settings.max_ratio)) if failed)
    return SummaryCheck(stated, answer_ok, tagged, copied, ratio, reasons)


def summary_messages(problem: str, cot: str, name: str = TEMPLATE) -> list[dict[str, str]]:
    """The chat prompt of a summary: the problem and the tagged CoT, as the user's turn."""
    return template(name).messages(problem=problem, cot=cot)


def summary_request(row: SFTRow, cot: str, settings: SummarySettings) -> GenRequest:
    params = GenerationParams(n=settings.samples, temperature=settings.temperature, max_new_tokens=settings.max_new_tokens,
                              seed=sampling_seed(settings.seed, "summarize", row.id))
    return GenRequest.chat(summary_messages(row.problem, cot, settings.template), params, key=row.id)


def summary_program(row: SFTRow, checker: AnswerChecker, settings: SummarySettings) -> Program[Summaries]:
    """One yield: ``settings.samples`` summaries of ``row``'s hidden CoT, each checked."""
    request = summary_request(row, render_cot(row.steps), settings)
    [completions] = yield [request]
    plain = cot_text(row.steps)
    texts = [c.text.strip() for c in completions]
    checks = [check_summary(text, row.answer, plain, checker, settings) for text in texts]
    return Summaries(texts, checks, [c.finish_reason == "length" for c in completions], [c.tokens for c in completions],
                     request.message_dicts())
