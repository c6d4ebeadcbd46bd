"""Reverse code CoT: the reasoning a programmer goes through before writing a given function.

One request (``code_reverse_cot``, the one yield of ``ReverseCoTWriter.program``) asks for
``samples`` candidates; the first that passes the
hindsight filter is kept and cut into steps (its numbered items, else ``segment``). Rejections
are counted by reason so a run says how often the model narrated or pasted the code.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from generators.backends.base import Completion, GenerationParams, GenRequest, LLMBackend
from generators.code.hindsight import hindsight_reason
from generators.engine.program import Program, drive
from generators.prompts import template
from generators.tagging.segment import segment
from schemas.code import CodeFunction
from schemas.ids import sampling_seed

TEMPLATE = "code_reverse_cot"
_ITEM = re.compile(r"^\s*(?:step\s*)?(\d{1,2})[.):]\s+", re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"```.*?(?:```|$)", re.DOTALL)
#: a closing lead-in to code the model was told not to write ("Here's how you can implement it:")
_LEAD_IN = re.compile(r"\s*(?:here(?:'s| is)|below is|the following is)\b[^.:!?]*:\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class CodeCoTSettings:
    samples: int = 2
    temperature: float = 0.7
    max_new_tokens: int = 256
    seed: int = 0


@dataclass
class ReverseCoT:
    """The kept reasoning as steps (empty when every sample was rejected) and what it cost."""

    steps: list[str]
    text: str
    rejected: Counter[str] = field(default_factory=Counter)
    generated_tokens: int = 0


def split_steps(text: str) -> list[str]:
    """Numbered items (``1.``, ``2)``, ``Step 3:``) as steps; otherwise paragraphs and sentences."""
    text = _FENCE.sub("", text).strip()
    starts = list(_ITEM.finditer(text))
    if len(starts) >= 2:
        pieces = [text[m.end(): nxt.start() if nxt else len(text)] for m, nxt in zip(starts, [*starts[1:], None], strict=True)]
        preamble = text[: starts[0].start()].strip()
        steps = ([preamble] if preamble else []) + [" ".join(p.split()) for p in pieces]
    else:
        steps = segment(text)
    steps = [_LEAD_IN.sub("", s).strip() for s in steps]
    return [s for s in steps if s]


def request_seed(base: int, fn: CodeFunction, purpose: str) -> int:
    return sampling_seed(base, fn.repo.uri, fn.repo.commit, fn.path, fn.symbol, purpose)


class FunctionPromptWriter:
    """A writer of one prompt template about one function: the task (signature, docstring) is filled
    in for every template; subclasses add their own fields and sampling."""

    template_name = ""

    def __init__(self, backend: LLMBackend, settings: CodeCoTSettings | None = None):
        self.backend = backend
        self.settings = settings or CodeCoTSettings()
        self.prompt = template(self.template_name)

    def ask(self, fn: CodeFunction, params: GenerationParams, **fields: str) -> Program[list[Completion]]:
        """One yield of one request about ``fn``; its completions."""
        messages = self.prompt.messages(signature=fn.signature.strip(), docstring=fn.docstring.strip() or "(none)", **fields)
        return (yield [GenRequest.chat(messages, params, key=fn.symbol)])[0]


class ReverseCoTWriter(FunctionPromptWriter):
    """Writes the hidden reasoning for one function in one backend request."""

    template_name = TEMPLATE

    def write(self, fn: CodeFunction) -> ReverseCoT:
        """The reasoning behind ``fn``, asked of this writer's backend (``program``, run alone)."""
        return drive(self.program(fn), self.backend)

    def program(self, fn: CodeFunction) -> Program[ReverseCoT]:
        s = self.settings
        params = GenerationParams(n=s.samples, temperature=s.temperature, max_new_tokens=s.max_new_tokens,
                                  seed=request_seed(s.seed, fn, "reverse_cot"))
        completions = yield from self.ask(fn, params, code=fn.code.rstrip())
        result = ReverseCoT(steps=[], text="", generated_tokens=sum(c.tokens for c in completions))
        for completion in completions:
            reason = hindsight_reason(completion.text, fn.code)
            steps = split_steps(completion.text) if reason is None else []
            if reason is None and not steps:
                reason = "no_steps"
            if reason is not None:
                result.rejected[reason] += 1
                continue
            result.steps, result.text = steps, completion.text.strip()
            break
        return result
