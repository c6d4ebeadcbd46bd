"""The hindsight filter: reverse-generated reasoning must read as if the code did not exist yet.

A model shown the code tends to narrate it ("the given code first checks...") or paste it. Both
make useless training data (the CoT then leaks the answer instead of reaching it), so outputs
that refer to the code as given, or copy a long span of it, are rejected with a reason.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

#: phrases that only make sense looking back at existing code. "code" and "implementation" alone
#: are ordinary words (a status code, "the implementation will use a dict"): they count only with a
#: hindsight qualifier or as the subject of narration ("the code first checks ...").
_NARRATES = (r"(?:first|then|now|also|simply|uses|used|checks|checked|returns|returned|does|did|iterates|loops|calls|"
             r"works|starts|defines|handles|implements)")
_HINDSIGHT = re.compile(
    r"\b(?:given|provided|original|existing|above|shown|following)\s+(?:code|snippet|implementation|solution)\b"
    r"|\b(?:code|snippet|implementation|function)\s+(?:above|below|provided|shown)\b"
    r"|\b(?:provided|original)\s+function\b"
    r"|\b(?:the|this)\s+(?:code|snippet|implementation)\s+" + _NARRATES + r"\b"
    r"|\blook(?:ing|ed)?\s+at\s+(?:the|this)\s+(?:code|snippet|implementation)\b"
    r"|\bas\s+(?:shown|written|implemented)\s+(?:above|below|in\s+the\s+code)\b"
    r"|\b(?:is|was|has\s+been)\s+already\s+implemented\b|\b(?:this|it)\s+(?:is|was)\s+implemented\b",
    re.IGNORECASE,
)
MIN_COPIED_TOKENS = 12  # this many code tokens in a row, verbatim, is pasting, not planning
MIN_COPIED_LINE = 40  # a code line this long appearing whole in the reasoning


def _tokens(text: str) -> list[str]:
    """Python tokens of ``text`` (names, operators, literals); a regex fallback for non-Python text."""
    try:
        return [t.string for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT,
                                  tokenize.ENDMARKER) and t.string.strip()]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return re.findall(r"\w+|[^\w\s]", text)


def longest_copied_run(reasoning: str, code: str) -> int:
    """The longest run of consecutive code tokens that appears, in order, in the reasoning's tokens."""
    a, b = _tokens(code), re.findall(r"\w+|[^\w\s]", reasoning)
    if not a or not b:
        return 0
    best, prev = 0, [0] * (len(b) + 1)
    for x in a:  # longest common substring over tokens, O(len(a)·len(b)); both are small
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def code_without_docstring(code: str) -> str:
    """``code`` without what the task itself shows: the docstring and the ``def`` header (decorators,
    signature). Parsed, never run; ``code`` when it does not parse. A plan may restate the task
    (a typed signature is many tokens) without copying the body."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return code
    lines = code.splitlines()
    drop: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            header = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first.lineno > node.lineno:  # a body on its own lines: drop the header lines
                drop.update(range(header - 1, first.lineno - 1))
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                drop.update(range(first.lineno - 1, (first.end_lineno or first.lineno)))
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


def hindsight_reason(reasoning: str, code: str) -> str | None:
    """Why ``reasoning`` is not usable as forward reasoning toward ``code``, or None when it is.

    Reasons: ``empty``, ``refers_to_code`` (talks about the code as given), ``copies_code`` (a
    long verbatim span or a whole long line of the code; its docstring is not counted).
    """
    text = reasoning.strip()
    if not text:
        return "empty"
    if _HINDSIGHT.search(text):
        return "refers_to_code"
    body = code_without_docstring(code)
    if any(len(line.strip()) >= MIN_COPIED_LINE and line.strip() in text for line in body.splitlines()):
        return "copies_code"
    if longest_copied_run(text, body) >= MIN_COPIED_TOKENS:
        return "copies_code"
    return None
