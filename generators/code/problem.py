"""The user turn and the answer of a code CoT row: the task (signature, docstring and the module
context the prompts showed) and the code."""

from __future__ import annotations

from generators.code.context import NO_CONTEXT, FunctionContext
from schemas.code import CodeFunction


def _docstring_block(docstring: str) -> str:
    body = docstring.replace('"""', '\\"\\"\\"')
    lines = body.splitlines() or [""]
    return '    """' + "\n    ".join(lines).rstrip() + ('\n    """' if len(lines) > 1 else '"""')


def problem_of(fn: CodeFunction, context: FunctionContext = NO_CONTEXT) -> str:
    """The task as a programmer would get it: where the function lives, its signature and docstring,
    and the module context the CoT was written with (so the reasoning uses no name the task hides).

    The body is never shown; a method names its class so the task is unambiguous.
    """
    owner = fn.symbol.rsplit(".", 1)[0] if "." in fn.symbol else None
    where = f"the method `{fn.name}` of class `{owner}`" if owner else f"the function `{fn.name}`"
    task = (f"Implement {where} in the Python module `{fn.module}`.\n\n"
            f"```python\n{fn.signature.strip()}\n{_docstring_block(fn.docstring)}\n```")
    if not context.items:
        return task
    return f"{task}\n\nIts module already has (imports, and the helpers and constants it uses):\n\n{context.render()}"


def answer_of(code: str) -> str:
    """The assistant's final answer after the hidden CoT: the code in a fenced block."""
    return f"```python\n{code.rstrip()}\n```"
