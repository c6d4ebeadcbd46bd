"""How much of a function's body a piece of text copies, whatever its formatting.

One tokenisation for both sides, so a verbatim copy matches token for token: the code through
``tokenize``; the text cut into code-like spans (fenced blocks, inline backticks, lines that parse
as Python), each through ``tokenize`` too, and prose through a lexer that keeps Python's
multi-character operators whole (``!=``, ``^=``, ``<<``), the way ``tokenize`` does. Whitespace,
indentation, comments and list markers carry no tokens; string and number literals are
placeholders; identifiers match under a consistent renaming (``x``→``a`` everywhere in the run),
so reformatted or renamed pastes are caught while builtins, keywords and attributes must match.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
import textwrap
import tokenize
from collections import defaultdict
from dataclasses import dataclass

_SKIP = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT, tokenize.ENDMARKER}
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+: f-strings are several tokens
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)
_FIXED_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins))  # renaming these changes the program
_OPS = "|".join(re.escape(op) for op in sorted(tokenize.EXACT_TOKEN_TYPES, key=len, reverse=True))
_LEX = re.compile(
    r"(?P<str>(?<!\w)[rRbBuUfF]{0,2}(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'"
    r"|\"[^\"\\\n]*(?:\\.[^\"\\\n]*)*\"))"
    r"|(?P<num>(?<![\w.])(?:0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJ]?))"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<comment>\#[^\n]*)"
    r"|(?P<op>" + _OPS + r")"
    r"|(?P<other>[^\s`])"
)
_FENCE = re.compile(r"(`{3,}|~{3,})[^\n]*\n?(.*?)(?:\1|\Z)", re.DOTALL)
_INLINE = re.compile(r"(`+)([^`\n]+?)\1")
_LIST_MARKER = re.compile(r"^\s*(?:(?:step\s*)?\d{1,2}[.):]|[-*+•]|#{1,6})\s+", re.IGNORECASE)
#: a line that only makes sense as the header of a block: parsed after a dummy block it may follow
_CONTINUES = {"elif": "if x: pass\n", "else": "if x: pass\n", "except": "try: pass\n", "finally": "try: pass\n"}


@dataclass(frozen=True)
class Token:
    """One token, normalised: ``shape`` is what must match exactly (``<id>`` for a renamable name,
    ``<str>``/``<num>`` for literals); ``text`` is the name a renaming maps."""

    shape: str
    text: str = ""

    @property
    def renamable(self) -> bool:
        return self.shape == "<id>"


@dataclass(frozen=True)
class Span:
    """A piece of the text: code-like (a fence, inline backticks, a line that parses) or prose."""

    text: str
    code: bool


@dataclass(frozen=True)
class CopyMeasure:
    """What the text copies of the body: its longest run and how many body tokens runs of at least
    ``share_run`` tokens cover."""

    longest: int
    covered: int
    body_tokens: int

    @property
    def share(self) -> float:
        return self.covered / self.body_tokens if self.body_tokens else 0.0


def _normalise(kind: str, text: str, previous: Token | None) -> Token:
    if kind == "str":
        return Token("<str>")
    if kind == "num":
        return Token("<num>")
    if kind == "name":
        fixed = text in _FIXED_NAMES or (previous is not None and previous.shape == ".")  # an attribute: `x.append`
        return Token(text) if fixed else Token("<id>", text)
    return Token(text)


def _append(out: list[Token], kind: str, text: str) -> None:
    out.append(_normalise(kind, text, out[-1] if out else None))


def lex(text: str, code: bool = False) -> list[Token]:
    """Tokens of ``text`` without ``tokenize``'s strictness: an unclosed quote or bracket, an
    apostrophe in prose, stray characters. The same tokens as ``tokenize`` on valid code; comments
    are dropped only in code (in prose ``#`` is text)."""
    out: list[Token] = []
    for m in _LEX.finditer(text):
        kind = m.lastgroup or "other"
        if kind == "comment":
            if code:
                continue
            _append(out, "op", "#")
            out.extend(lex(m.group()[1:], code))
            continue
        _append(out, "op" if kind == "other" else kind, m.group())
    return out


def code_tokens(code: str) -> list[Token]:
    """``tokenize``'s tokens of ``code``, normalised; the lexer when ``code`` does not tokenize."""
    out: list[Token] = []
    depth = 0  # inside an f-string (3.12+): its pieces are one string literal
    try:
        for t in tokenize.generate_tokens(io.StringIO(textwrap.dedent(code)).readline):
            if t.type == _FSTRING_START:
                depth += 1
                if depth == 1:
                    _append(out, "str", t.string)
            elif t.type == _FSTRING_END:
                depth -= 1
            elif depth or t.type in _SKIP or not t.string.strip():
                continue
            elif t.type == tokenize.STRING:
                _append(out, "str", t.string)
            elif t.type == tokenize.NUMBER:
                _append(out, "num", t.string)
            elif t.type == tokenize.NAME:
                _append(out, "name", t.string)
            else:
                _append(out, "op", t.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return lex(code, code=True)
    return out


def is_code_line(line: str) -> bool:
    """A line that parses as Python and holds more than words: an operator, a bracket, a keyword
    (``Done`` or ``Plan`` parse as names, and are prose)."""
    s = line.strip()
    if not s or not any(not t.renamable and t.shape not in ("<str>", "<num>") for t in lex(s, code=True)):
        return False
    first = s.split(maxsplit=1)[0].rstrip(":")
    source = _CONTINUES.get(first, "") + s + (" pass" if s.endswith(":") else "")
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def spans(text: str) -> list[Span]:
    """``text`` as code-like and prose spans, in order; list markers (``1.``, ``-``, ``#``) dropped."""
    out: list[Span] = []
    pos = 0
    for fence in _FENCE.finditer(text):
        out.extend(_line_spans(text[pos: fence.start()]))
        out.append(Span(fence.group(2), code=True))
        pos = fence.end()
    out.extend(_line_spans(text[pos:]))
    return [s for s in out if s.text.strip()]


def _line_spans(text: str) -> list[Span]:
    out: list[Span] = []
    for raw in text.splitlines():
        line = _LIST_MARKER.sub("", raw, count=1)
        if is_code_line(line):
            out.append(Span(line, code=True))
            continue
        pos = 0
        for m in _INLINE.finditer(line):
            out.append(Span(line[pos: m.start()], code=False))
            out.append(Span(m.group(2), code=True))
            pos = m.end()
        out.append(Span(line[pos:], code=False))
    return out


def text_tokens(text: str) -> list[Token]:
    """The tokens of ``text``, span by span: code-like spans as code, prose through the lexer."""
    out: list[Token] = []
    for span in spans(text):
        out.extend(code_tokens(span.text) if span.code else lex(span.text))
    return out


def measure_copy(text: str, body: str, share_run: int) -> CopyMeasure:
    """The longest run of body tokens found, in order and under one consistent renaming of
    identifiers, in the text; and the body tokens covered by such runs of ``share_run`` or more."""
    a, b = code_tokens(body), text_tokens(text)
    sa, sb = [t.shape for t in a], [t.shape for t in b]
    covered = [False] * len(a)
    longest = 0
    where: dict[tuple[str, str], list[int]] = defaultdict(list)  # runs start on a matching pair: one token is chance
    for i in range(len(a) - 1):
        where[sa[i], sa[i + 1]].append(i)
    for j in range(len(b) - 1):
        for i in where.get((sb[j], sb[j + 1]), ()):
            if i and j and sa[i - 1] == sb[j - 1]:
                continue  # not the start of a maximal run: counted from its start
            length = 2
            while i + length < len(a) and j + length < len(b) and sa[i + length] == sb[j + length]:
                length += 1
            longest = max(longest, _renamed_runs(a[i: i + length], b[j: j + length], i, share_run, covered))
    return CopyMeasure(longest, sum(covered), len(a))


def _renamed_runs(a: list[Token], b: list[Token], offset: int, share_run: int, covered: list[bool]) -> int:
    """Within one run of matching shapes, the longest window whose identifiers map one-to-one;
    windows of ``share_run`` or more mark their body tokens covered."""
    forward: dict[str, str] = {}
    backward: dict[str, str] = {}
    uses: dict[str, int] = defaultdict(int)
    start, best, marked = 0, 0, 0  # covered[offset + k] is set for every k < marked
    for t, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.renamable:
            while forward.get(x.text, y.text) != y.text or backward.get(y.text, x.text) != x.text:
                old = a[start]
                if old.renamable:
                    uses[old.text] -= 1
                    if not uses[old.text]:
                        del backward[forward.pop(old.text)]
                start += 1
            forward[x.text], backward[y.text] = y.text, x.text
            uses[x.text] += 1
        length = t - start + 1
        best = max(best, length)
        if length >= share_run:
            for k in range(max(start, marked), t + 1):
                covered[offset + k] = True
            marked = t + 1
    return best
