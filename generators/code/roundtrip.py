"""The round trip (PlanSearch's back-translation): code written from the task and the plan alone.

The model never sees the original code here; it sees the same module context as the reverse CoT
(``generators.code.context``: the imports, helpers and constants the function uses). Its reply
is parsed (``ast``, never executed) for a function of the right name; that function's source is
what the sandbox substitutes into a copy of the module and tests. Running it is the verifier's
job, not this module's. Of a reply cut at the token cap only a function in a code block it closed
counts (a cut function may parse and still be incomplete); without one the reply is asked once
more with the retry cap where one is set, and its reason is ``truncated`` if still cut.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from generators.backends.base import GenerationParams
from generators.code.context import NO_CONTEXT, FunctionContext
from generators.code.reverse_cot import FunctionPromptWriter, request_seed
from generators.code.truncation import is_cut
from generators.engine.program import Program, drive
from schemas.code import CodeFunction, source_lines

TEMPLATE = "code_from_plan"
_BLOCK = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class RoundTripCode:
    """The function the model wrote (None when its reply held none) and why not; ``retried``: asked
    again with the retry cap after a reply cut at the first."""

    code: str | None
    reason: str | None
    generated_tokens: int = 0
    retried: bool = False


def _candidates(reply: str, cut: bool = False) -> list[str]:
    """The reply's fenced blocks, then the reply itself; of a cut reply, only the blocks it closed."""
    matches = [m for m in _BLOCK.finditer(reply) if m.group(1).strip()]
    if cut:
        return [m.group(1) for m in matches if m.group(0).endswith("```")]
    blocks = [m.group(1) for m in matches]
    return blocks + [reply] if blocks else [reply]


def function_from_reply(reply: str, name: str, cut: bool = False) -> tuple[str | None, str | None]:
    """The source of the first ``def name`` in the reply's code blocks (top level, or a method of a
    class there), with its decorators; ``(None, reason)`` when there is none or nothing parses.
    ``cut``: the reply stopped at the token cap, so only closed blocks count (else ``truncated``)."""
    parsed_any = False
    candidates = _candidates(reply, cut)
    if cut and not candidates:
        return None, "truncated"
    for block in candidates:
        source = textwrap.dedent(block).strip("\n")
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError):
            continue
        parsed_any = True
        nodes = [*tree.body, *(n for c in tree.body if isinstance(c, ast.ClassDef) for n in c.body)]
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                lines = source_lines(source, keepends=False)[first - 1: node.end_lineno]
                return textwrap.dedent("\n".join(lines)), None
    if cut:
        return None, "truncated"
    return None, ("no_function" if parsed_any else "syntax_error")


class RoundTripWriter(FunctionPromptWriter):
    """Asks for the function from the task and the plan (``code_from_plan``), one sample, low temperature."""

    template_name = TEMPLATE

    def write(self, fn: CodeFunction, steps: list[str], context: FunctionContext = NO_CONTEXT) -> RoundTripCode:
        """The function written back from ``steps``, asked of this writer's backend (``program``, run alone)."""
        return drive(self.program(fn, steps, context), self.backend)

    def program(self, fn: CodeFunction, steps: list[str], context: FunctionContext = NO_CONTEXT) -> Program[RoundTripCode]:
        s = self.settings
        plan = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1))
        budget = max(s.max_new_tokens, min(1024, 2 * len(fn.code) // 3))  # room for the whole function
        params = GenerationParams(n=1, temperature=min(s.temperature, 0.2), max_new_tokens=budget,
                                  seed=request_seed(s.seed, fn, "roundtrip"))
        completion = (yield from self.ask(fn, params, context, plan=plan))[0]
        code, reason = function_from_reply(completion.text, fn.name, cut=is_cut(completion))
        tokens, retry = completion.tokens, self.truncation.retry(params) if reason == "truncated" else None
        if retry is not None:  # cut before the function was whole: once more with the larger cap
            completion = (yield from self.ask(fn, retry, context, plan=plan))[0]
            code, reason = function_from_reply(completion.text, fn.name, cut=is_cut(completion))
            tokens += completion.tokens
        return RoundTripCode(code, reason, tokens, retried=retry is not None)
