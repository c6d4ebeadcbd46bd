"""Reverse code CoT: the reasoning a programmer goes through before writing a given function.

One request (``code_reverse_cot``, the one yield of ``ReverseCoTWriter.program``) asks for
``samples`` candidates, the prompt showing the function's module context
(``generators.code.context``); the first complete one that passes the hindsight filter is kept
and cut into steps (its numbered items, else ``segment``). Rejections are counted by reason so a
run says how often the model narrated or pasted the code. A sample cut at the token cap
(``generators.code.truncation``) is counted ``truncated_cot`` unless what it says is rejected
(an echo, hindsight, a copy; too little text may be the cut's doing): when no complete sample
passes, the request is asked once more with the retry cap where one is set, and a cut sample that
passes the filter is kept (marked ``truncated``) only under ``keep``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from generators.backends.base import Completion, GenerationParams, GenRequest, LLMBackend
from generators.code.context import NO_CONTEXT, FunctionContext
from generators.code.hindsight import hindsight_reason
from generators.code.truncation import TRUNCATED, TruncationPolicy, is_cut
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
#: rejections for too little text, which a cut at the cap may be the cause of (the others are about what the text says)
SHORTFALL = frozenset({"empty", "no_steps", "restates_signature", "no_reasoning"})


@dataclass(frozen=True)
class CodeCoTSettings:
    samples: int = 2
    temperature: float = 0.7
    max_new_tokens: int = 256
    seed: int = 0


@dataclass
class ReverseCoT:
    """The kept reasoning as steps (empty when every sample was rejected) and what it cost;
    ``truncated``: the kept sample was cut at the cap (kept under ``keep``); ``retried``: the request
    was asked again with the retry cap."""

    steps: list[str]
    text: str
    rejected: Counter[str] = field(default_factory=Counter)
    generated_tokens: int = 0
    truncated: bool = False
    retried: bool = False


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

    def __init__(self, backend: LLMBackend, settings: CodeCoTSettings | None = None,
                 truncation: TruncationPolicy | None = None):
        self.backend = backend
        self.settings = settings or CodeCoTSettings()
        self.truncation = truncation or TruncationPolicy()
        self.prompt = template(self.template_name)

    def ask(self, fn: CodeFunction, params: GenerationParams, context: FunctionContext = NO_CONTEXT,
            **fields: str) -> Program[list[Completion]]:
        """One yield of one request about ``fn`` (with its module ``context``); its completions."""
        messages = self.prompt.messages(signature=fn.signature.strip(), docstring=fn.docstring.strip() or "(none)",
                                        context=context.render(), **fields)
        return (yield [GenRequest.chat(messages, params, key=fn.symbol)])[0]


class ReverseCoTWriter(FunctionPromptWriter):
    """Writes the hidden reasoning for one function in one backend request."""

    template_name = TEMPLATE

    def write(self, fn: CodeFunction, context: FunctionContext = NO_CONTEXT) -> ReverseCoT:
        """The reasoning behind ``fn``, asked of this writer's backend (``program``, run alone)."""
        return drive(self.program(fn, context), self.backend)

    def program(self, fn: CodeFunction, context: FunctionContext = NO_CONTEXT) -> Program[ReverseCoT]:
        s = self.settings
        params = GenerationParams(n=s.samples, temperature=s.temperature, max_new_tokens=s.max_new_tokens,
                                  seed=request_seed(s.seed, fn, "reverse_cot"))
        code = fn.code.rstrip()
        result = ReverseCoT(steps=[], text="")
        cut = self._choose((yield from self.ask(fn, params, context, code=code)), fn, result)
        retry = self.truncation.retry(params) if cut is not None and not result.steps else None
        if retry is not None:
            result.retried = True
            cut = self._choose((yield from self.ask(fn, retry, context, code=code)), fn, result) or cut
        if not result.steps and cut and self.truncation.keep:
            (result.steps, result.text), result.truncated = cut[0], True
        return result

    @staticmethod
    def _choose(completions: Sequence[Completion], fn: CodeFunction,
                result: ReverseCoT) -> list[tuple[list[str], str]] | None:
        """Keep the first complete sample that passes the filter in ``result``, counting the rejected
        ones. The cut samples that passed the filter, in order; None when no sample was counted cut."""
        result.generated_tokens += sum(c.tokens for c in completions)
        cut: list[tuple[list[str], str]] | None = None
        for completion in completions:
            reason = hindsight_reason(completion.text, fn.code)
            steps = split_steps(completion.text) if reason is None else []
            if reason is None and not steps:
                reason = "no_steps"
            if is_cut(completion) and (reason is None or reason in SHORTFALL):
                cut = cut if cut is not None else []
                if reason is None:
                    cut.append((steps, completion.text.strip()))
                reason = TRUNCATED
            if reason is not None:
                result.rejected[reason] += 1
                continue
            result.steps, result.text = steps, completion.text.strip()
            break
        return cut
