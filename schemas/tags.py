"""The tag format of a hidden CoT (SPEC "Thought factors"): render steps to text and parse it back.

Rendering::

    <Think_Start>
    <ACT_Name-Start> TEXT <ACT_Name-End>
    ...
    <Think_End>
    ANSWER

One space separates each tag from its text, so a step's text comes back exactly, leading and
trailing whitespace included. A tag-like string inside a step or the answer (``<Think_End>``,
``<ACT_X-Start>``, ...) is escaped by adding one backslash after its ``<`` (``<\\Think_End>``);
strings already of the form ``<\\...Think_End>`` get one more, so unescaping is exact. With
``on_tag="reject"`` such text is refused instead, with its position.
"""

from __future__ import annotations

import re
from collections.abc import Container, Sequence
from typing import Literal

from schemas.records import Step

THINK_START = "<Think_Start>"
THINK_END = "<Think_End>"
_BODY = r"Think_Start|Think_End|ACT_[^<>\s]*-(?:Start|End)"
_TAG_LIKE = re.compile(r"<(\\*)(" + _BODY + r")>")
_ESCAPED = re.compile(r"<\\(\\*)(" + _BODY + r")>")
_TOKEN = re.compile(r"<(Think_Start|Think_End|ACT_([^<>\s]*)-(Start|End))>")
_FACTOR_NAME = re.compile(r"[^\W\d]\w*\Z")


class TagError(ValueError):
    """A rendering or parse that failed; ``reason`` is a short code, ``position`` a char offset."""

    def __init__(self, reason: str, detail: str, position: int | None = None, text: str | None = None,
                 step: int | None = None):
        self.reason = reason
        self.detail = detail
        self.position = position
        self.step = step
        self.line: int | None = None
        self.column: int | None = None
        where = []
        if step is not None:
            where.append(f"step {step}")
        if position is not None and text is not None:
            self.line = text.count("\n", 0, position) + 1
            self.column = position - (text.rfind("\n", 0, position) + 1) + 1
            where.append(f"line {self.line}, column {self.column}")
        elif position is not None:
            where.append(f"offset {position}")
        super().__init__(f"{reason}" + (f" at {', '.join(where)}" if where else "") + f": {detail}")


def escape(text: str) -> str:
    """Make every tag-like string inert (one more backslash after its ``<``); exact inverse: ``unescape``."""
    return _TAG_LIKE.sub(lambda m: "<\\" + m.group(1) + m.group(2) + ">", text)


def unescape(text: str) -> str:
    return _ESCAPED.sub(lambda m: "<" + m.group(1) + m.group(2) + ">", text)


def find_tag_like(text: str) -> int | None:
    """Offset of the first tag-like string (escaped or not) in ``text``, or None."""
    match = _TAG_LIKE.search(text)
    return match.start() if match else None


def looks_tagged(text: str) -> bool:
    """Whether ``text`` is meant as a rendering (starts with ``<Think_Start>``)."""
    return text.lstrip().startswith(THINK_START)


def render_step(step: Step, index: int = 0, on_tag: Literal["escape", "reject"] = "escape") -> str:
    factor = step.factor
    if factor is None:
        raise TagError("untagged_step", "the step has no factor", step=index)
    if not isinstance(factor, str) or not _FACTOR_NAME.match(factor):
        raise TagError("bad_factor", f"{factor!r} is not a factor name", step=index)
    text = step.text
    if on_tag == "reject":
        at = find_tag_like(text)
        if at is not None:
            raise TagError("tag_in_text", f"the step text holds the tag-like string {_TAG_LIKE.search(text).group(0)!r}",
                           at, text, step=index)
    return f"<ACT_{factor}-Start> {escape(text)} <ACT_{factor}-End>"


def render_think(steps: Sequence[Step], answer: str, on_tag: Literal["escape", "reject"] = "escape") -> str:
    """Steps with factors and the answer → the tagged text; ``TagError`` for an untagged step."""
    if on_tag == "reject":
        at = find_tag_like(answer)
        if at is not None:
            raise TagError("tag_in_text", "the answer holds a tag-like string", at, answer)
    body = "".join(render_step(step, i, on_tag) + "\n" for i, step in enumerate(steps))
    return f"{THINK_START}\n{body}{THINK_END}\n{escape(answer)}"


def _gap_ok(gap: str, strict: bool) -> bool:
    return gap == "\n" if strict else not gap.strip()


def parse_think(text: str, vocabulary: Container[str] | None = None, strict: bool = True) -> tuple[list[Step], str]:
    """The tagged text → (steps, answer), the exact inverse of ``render_think``.

    ``vocabulary`` (names, or a ``FactorVocabulary``) rejects unknown factors. ``strict=False``
    accepts any whitespace between tags and strips step texts and the answer (model output).
    Errors are ``TagError``s with a reason (``missing_think_start``, ``text_outside_step``,
    ``unknown_factor``, ``nested_tag``, ``mismatched_tag``, ``unbalanced``, ``missing_think_end``,
    ``tag_after_think_end``) and the line and column where it was found.
    """
    tokens = list(_TOKEN.finditer(text))
    if not tokens or tokens[0].group(1) != "Think_Start":
        at = tokens[0].start() if tokens else 0
        raise TagError("missing_think_start", f"the text must open with {THINK_START}", at, text)
    first = tokens[0]
    if (text[: first.start()] if strict else text[: first.start()].strip()):
        raise TagError("text_outside_step", f"text before {THINK_START}", 0, text)
    steps: list[Step] = []
    open_tag: re.Match[str] | None = None
    last_end = first.end()
    for token in tokens[1:]:
        body, name, edge = token.group(1), token.group(2), token.group(3)
        if open_tag is None and edge == "End":
            raise TagError("unbalanced", f"{token.group(0)} closes no open step", token.start(), text)
        if open_tag is None and not _gap_ok(text[last_end: token.start()], strict):
            raise TagError("text_outside_step", "text between steps that no tag encloses", last_end, text)
        if body == "Think_Start":
            raise TagError("nested_tag", f"a second {THINK_START}", token.start(), text)
        if body == "Think_End":
            if open_tag is not None:
                raise TagError("unbalanced", f"{open_tag.group(0)} is never closed", open_tag.start(), text)
            return steps, _answer(text, token.end(), strict, tokens[-1] is not token)
        if vocabulary is not None and name not in vocabulary:
            raise TagError("unknown_factor", f"{name!r} is not in the vocabulary", token.start(), text)
        if vocabulary is None and not _FACTOR_NAME.match(name):
            raise TagError("unknown_factor", f"{name!r} is not a factor name", token.start(), text)
        if edge == "Start":
            if open_tag is not None:
                raise TagError("nested_tag", f"{token.group(0)} inside {open_tag.group(0)}", token.start(), text)
            open_tag = token
        else:
            if open_tag.group(2) != name:
                raise TagError("mismatched_tag", f"{token.group(0)} closes {open_tag.group(0)}", token.start(), text)
            steps.append(Step(_step_text(text, open_tag.end(), token.start(), strict), name))
            open_tag = None
        last_end = token.end()
    if open_tag is not None:
        raise TagError("unbalanced", f"{open_tag.group(0)} is never closed", open_tag.start(), text)
    raise TagError("missing_think_end", f"no {THINK_END} after the steps", len(text), text)


def _step_text(text: str, start: int, end: int, strict: bool) -> str:
    inner = text[start:end]
    if not strict:
        return unescape(inner.strip())
    if len(inner) < 2 or inner[0] != " " or inner[-1] != " ":
        raise TagError("text_outside_step", "a step's text must sit between single spaces after and before its tags",
                       start, text)
    return unescape(inner[1:-1])


def _answer(text: str, start: int, strict: bool, more_tags: bool) -> str:
    if more_tags:
        at = _TOKEN.search(text, start)
        raise TagError("tag_after_think_end", f"{at.group(0)} after {THINK_END}", at.start(), text)
    rest = text[start:]
    if strict:
        return unescape(rest[1:] if rest.startswith("\n") else rest)
    return unescape(rest.strip())
