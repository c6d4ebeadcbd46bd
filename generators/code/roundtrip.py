"""The round trip (PlanSearch's back-translation): code written from the task and the plan alone.

The model never sees the original code here. Its reply is parsed (``ast``, never executed) for a
function of the right name; that function's source is what the sandbox substitutes into a copy
of the module and tests. Running it is the verifier's job, not this module's.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from generators.backends.base import GenerationParams
from generators.code.reverse_cot import FunctionPromptWriter, request_seed
from generators.engine.program import Program, drive
from schemas.code import CodeFunction, source_lines

TEMPLATE = "code_from_plan"
_BLOCK = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class RoundTripCode:
    """The function the model wrote (None when its reply held none) and why not."""

    code: str | None
    reason: str | None
    generated_tokens: int = 0


def _candidates(reply: str) -> list[str]:
    blocks = [b for b in _BLOCK.findall(reply) if b.strip()]
    return blocks + [reply] if blocks else [reply]


def function_from_reply(reply: str, name: str) -> tuple[str | None, str | None]:
    """The source of the first ``def name`` in the reply's code blocks (top level, or a method of a
    class there), with its decorators; ``(None, reason)`` when there is none or nothing parses."""
    parsed_any = False
    for block in _candidates(reply):
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
    return None, ("no_function" if parsed_any else "syntax_error")


class RoundTripWriter(FunctionPromptWriter):
    """Asks for the function from the task and the plan (``code_from_plan``), one sample, low temperature."""

    template_name = TEMPLATE

    def write(self, fn: CodeFunction, steps: list[str]) -> RoundTripCode:
        """The function written back from ``steps``, asked of this writer's backend (``program``, run alone)."""
        return drive(self.program(fn, steps), self.backend)

    def program(self, fn: CodeFunction, steps: list[str]) -> Program[RoundTripCode]:
        s = self.settings
        plan = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1))
        budget = max(s.max_new_tokens, min(1024, 2 * len(fn.code) // 3))  # room for the whole function
        params = GenerationParams(n=1, temperature=min(s.temperature, 0.2), max_new_tokens=budget,
                                  seed=request_seed(s.seed, fn, "roundtrip"))
        completion = (yield from self.ask(fn, params, plan=plan))[0]
        code, reason = function_from_reply(completion.text, fn.name)
        return RoundTripCode(code, reason, completion.tokens)
