"""The Math-Shepherd text of a problem and its steps: ``PROBLEM Step 1: TEXT ки\\nStep 2: TEXT ки``.

What ``export math-shepherd`` and ``export openrlhf`` write and what a generative PRM reads
(``generators.reward.generative``): one definition, so the scorer sees the text the model was trained on.
An ``ки`` inside a text gets a word joiner (never read as a tag); line breaks inside a step become spaces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

TAG = "ки"
SAFE_TAG = "к\u2060и"
_LINE_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029\x85\x0b\x0c]+\s*")


def safe(text: str) -> str:
    return text.replace(TAG, SAFE_TAG)


def step_lines(steps: Sequence[str]) -> list[str]:
    """``Step i: TEXT``, one line per step."""
    return [f"Step {i}: {_LINE_BREAKS.sub(' ', safe(text)).strip()}".rstrip() for i, text in enumerate(steps, 1)]


def shepherd_input(problem: str, steps: Sequence[str]) -> str:
    """The text with the tag after each step (Math-Shepherd's ``input``)."""
    return f"{safe(problem).strip()} " + "\n".join(f"{line} {TAG}" for line in step_lines(steps))


def shepherd_label(problem: str, steps: Sequence[str], labels: Sequence[bool]) -> str:
    """The text with ``+``/``-`` after each step (Math-Shepherd's ``label``)."""
    lines = step_lines(steps)
    return f"{safe(problem).strip()} " + "\n".join(f"{line} {'+' if ok else '-'}" for line, ok in zip(lines, labels, strict=True))
