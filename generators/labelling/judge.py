"""An LLM judge of each step (``label --method judge``; the judge half of ``label --method consensus``).

For a solution of M steps the judge is asked M questions, all in one yield: the problem, the steps
before step k and step k itself, "is it correct?" (the versioned prompt ``judge_step``: one word,
correct or incorrect), greedy and short. It is never shown the gold answer (as ProcessBench's
critics are not): its verdict is an opinion on the reasoning, not a measurement of where it leads.

Hard labels follow the first step the judge calls incorrect, as the binary search's do: true before
it, false at it, null after it (a step after an error is judged on a wrong premise; nothing measured
it, and ProcessBench scores the first wrong step alone). A reply that says neither word is null too
(``unparsed`` counts them).

Soft verdicts, P(correct), come from the log-prob the backend gives of the reply
(``Completion.logprob``: the sum over its tokens), where the reply is the verdict word alone, so
that the log-prob is that of the answer token(s) (and, on some servers, of the end of the reply, near
0): P(reply) = exp(logprob), and P(correct) is
P(reply) for "correct" and 1 - P(reply) for "incorrect" (the rest of the mass read as the other
verdict). Null where the backend gives no log-prob, where the reply says more than the word, and
after the first error.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from generators.backends.base import Completion, GenerationParams, GenRequest
from generators.engine.program import Program
from generators.prompts import template
from schemas.ids import sampling_seed
from schemas.records import Trajectory

TEMPLATE = "judge_step"
_VERDICT = re.compile(r"\b(not\s+correct|incorrect|wrong|correct|right)\b", re.IGNORECASE)
_BARE = re.compile(r"[\W_]*(correct|incorrect)[\W_]*", re.IGNORECASE)
_REPLY_CHARS = 200  # a verdict is looked for at the start of a reply only


@dataclass(frozen=True)
class JudgeSettings:
    """How the judge is asked (all of it enters the row id); its decoding is greedy."""

    max_new_tokens: int = 16
    seed: int = 0
    template: str = TEMPLATE


@dataclass
class JudgeVerdicts:
    """Per step: ``hard`` (true before the first step judged wrong, false there, None after it and where the
    reply said neither), ``soft`` (P(correct), see the module docstring); the first wrong step (None: none)."""

    hard: list[bool | None]
    soft: list[float | None]
    first_error: int | None
    replies: list[str]
    unparsed: int = 0
    generated_tokens: int = 0
    backend_calls: int = 0


def parse_verdict(reply: str) -> bool | None:
    """True for "correct", False for "incorrect" (or "not correct", "wrong"), the first said; None for neither."""
    match = _VERDICT.search(reply[:_REPLY_CHARS])
    if match is None:
        return None
    return match.group(1).lower() in ("correct", "right")


def soft_verdict(completion: Completion, verdict: bool | None) -> float | None:
    """P(correct) from the reply's log-prob, where the reply is the verdict word alone (else None)."""
    if verdict is None or completion.logprob is None or not _BARE.fullmatch(completion.text.strip()):
        return None
    p = min(1.0, math.exp(completion.logprob))
    return p if verdict else 1.0 - p


def judge_request(trajectory: Trajectory, k: int, settings: JudgeSettings) -> GenRequest:
    """The question of step ``k``: the problem, steps[0..k-1] numbered, and step k."""
    prompt = template(settings.template)
    step = trajectory.steps[k].text
    if k == 0:
        messages = prompt.messages("user_first", problem=trajectory.problem, step=step)
    else:
        prefix = "\n".join(f"Step {i + 1}: {s.text}" for i, s in enumerate(trajectory.steps[:k]))
        messages = prompt.messages(problem=trajectory.problem, prefix=prefix, step=step)
    params = GenerationParams(n=1, temperature=0.0, max_new_tokens=settings.max_new_tokens,
                              seed=sampling_seed(settings.seed, trajectory.id, "judge", k), logprobs=True)
    return GenRequest.chat(messages, params, key=k)


def judge_program(trajectory: Trajectory, settings: JudgeSettings) -> Program[JudgeVerdicts]:
    """One yield: a question per step; the verdicts, cut after the first step judged wrong."""
    m = len(trajectory.steps)
    if m == 0:
        raise ValueError("a solution without steps has nothing to judge")
    results = yield [judge_request(trajectory, k, settings) for k in range(m)]
    replies = [completions[0] for completions in results]
    verdicts = [parse_verdict(c.text) for c in replies]
    softs = [soft_verdict(c, v) for c, v in zip(replies, verdicts, strict=True)]
    first = next((i for i, v in enumerate(verdicts) if v is False), None)
    last = m if first is None else first + 1
    return JudgeVerdicts(
        hard=verdicts[:last] + [None] * (m - last),
        soft=softs[:last] + [None] * (m - last),
        first_error=first,
        replies=[c.text for c in replies],
        unparsed=sum(v is None for v in verdicts),
        generated_tokens=sum(c.tokens for c in replies),
        backend_calls=1,
    )
