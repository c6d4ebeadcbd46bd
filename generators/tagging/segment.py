"""Free CoT text → steps: by paragraphs, lines, numbered items and discourse markers.

Works on model output, GSM8K solutions (``<<...>>`` calculator marks dropped, ``#### N`` is the
answer, not a step) and Lean proofs whose informal solution sits in a ``/- ... -/`` comment
(the prose is segmented, the tactic block after it is one step). Formulas (``$...$``,
``$$...$$``, ``\\[...\\]``, ``\\begin{..}...\\end{..}``) and code (fenced blocks, runs of code-like
lines) are never cut. All patterns are linear-time, so a 5 MB text segments in seconds.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

MARKERS: tuple[str, ...] = (
    "Wait", "But wait", "Hmm", "Hold on", "Oops", "Actually", "On second thought", "I made a mistake",
    "Alternatively", "Maybe", "Perhaps", "Let's try", "Let me try", "What if",
    "Let's check", "Let me check", "Let us check", "Let's verify", "Let me verify", "Let's double-check",
    "Let me double-check", "To check", "Check:", "Indeed", "No,", "No.", "That doesn't work",
    "Therefore", "Thus", "Hence", "So the answer", "So the final", "The answer is", "In conclusion",
)

_PROTECTED = re.compile(
    r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)"  # fenced code (an unclosed fence runs to the end)
    r"|\$\$.*?\$\$|\\\[.*?\\\]|\\begin\{([^{}\n]{1,40})\}.*?\\end\{\1\}"  # display math
    r"|\$[^$\n]{1,400}\$|\\\(.{0,400}?\\\)|`[^`\n]{1,400}`",  # inline math and code
    re.DOTALL,
)
_ITEM = re.compile(r"(?:\d{1,3}[.)]\s|\(\d{1,3}\)\s|[-*•]\s|Step\s+\d{1,3}\s*[:.)]|#{1,6}\s)", re.IGNORECASE)
_CODE_LINE = re.compile(
    r"(?:\s{4,}\S|(?:def|class|for|while|if|elif|else|try|except|finally|with|return|import|from|print|assert|"
    r"have|show|calc|intro|intros|apply|exact|rw|simp|norm_num|linarith|nlinarith|ring|omega|field_simp|use|"
    r"cases|rcases|induction|refine|constructor|obtain|·)\b[^.]*$)"
)
_OPEN_ENDS = ("=", "+", "*", "/", "×", "÷", ",", "(", "[", "{", "\\", "&", "≤", "≥", "<", ">", "≡")
_CONT_STARTS = ("=", "+", "*", "/", "&", ")", "]", "}", "\\", "≤", "≥", "≡", "×", "÷")
_CALCULATOR = re.compile(r"<<[-+*/().=\d\s,%^]*>>")
_FINAL = re.compile(r"(?:^|\n)[ \t]*####[ \t]*([^\n]*?)\s*\Z")
_LEAN_COMMENT = re.compile(r"/-+(.*?)(?:-/|\Z)", re.DOTALL)
_LEAN_START = re.compile(r"(?:\A|\n)[ \t]*/-")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]$]))[ \t]+(?=[A-Z$\\(\[])")
_ABBREVIATIONS = ("e.g.", "i.e.", "Mr.", "Mrs.", "Ms.", "Dr.", "etc.", "vs.", "Fig.", "cf.", "No.", "St.")


@dataclass(frozen=True)
class SegmentOptions:
    """``markers`` start a new step at a sentence start; paragraphs over ``max_chars`` are cut at sentences."""

    markers: tuple[str, ...] = MARKERS
    max_chars: int = 500


def normalize(text: str) -> str:
    """One newline convention, and GSM8K calculator marks removed."""
    return _CALCULATOR.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def split_answer(text: str) -> tuple[str, str | None]:
    """A GSM8K-style ``#### N`` last line → (the text before it, N); otherwise (text, None)."""
    match = _FINAL.search(text)
    if not match or not match.group(1).strip():
        return text, None
    return text[: match.start()], match.group(1).strip()


def segment(text: str, options: SegmentOptions = SegmentOptions()) -> list[str]:
    """The steps of a CoT, in order, stripped, none empty."""
    text = normalize(text)
    steps: list[str] = []
    for kind, chunk in _lean_parts(text):
        if kind == "code":
            steps.append(_dedent(chunk))
        else:
            steps.extend(_segment_prose(chunk, options))
    return [s for s in steps if s]


def _lean_parts(text: str) -> list[tuple[str, str]]:
    """A Lean proof with ``/- ... -/`` comments → prose (the comments) and code (the tactics)."""
    if not _LEAN_START.search(text):
        return [("prose", text)]
    parts: list[tuple[str, str]] = []
    last = 0
    for match in _LEAN_COMMENT.finditer(text):
        if text[last: match.start()].strip():
            parts.append(("code", text[last: match.start()]))
        parts.append(("prose", match.group(1).lstrip("-!")))
        last = match.end()
    if text[last:].strip():
        parts.append(("code", text[last:]))
    return parts


def _dedent(chunk: str) -> str:
    lines = [line.rstrip() for line in chunk.strip("\n").split("\n")]
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] for line in lines).strip()


class _Spans:
    """Protected spans (formulas, code); ``inside(i)`` is true where no cut may fall."""

    def __init__(self, text: str):
        self.starts: list[int] = []
        self.ends: list[int] = []
        for match in _PROTECTED.finditer(text):
            self.starts.append(match.start())
            self.ends.append(match.end())

    def inside(self, position: int) -> bool:
        i = bisect.bisect_right(self.starts, position) - 1
        return i >= 0 and self.starts[i] < position < self.ends[i]


def _segment_prose(text: str, options: SegmentOptions) -> list[str]:
    spans = _Spans(text)
    cuts = _line_cuts(text, spans)
    bounds = [0, *cuts, len(text)]
    steps: list[str] = []
    marker_re = _marker_regex(options.markers)
    for start, end in zip(bounds, bounds[1:], strict=False):
        inner = [start]
        if marker_re is not None:
            inner += [m.end() for m in marker_re.finditer(text, start, end) if not spans.inside(m.end())]
        inner.append(end)
        for a, b in zip(inner, inner[1:], strict=False):
            steps.extend(_cut_long(text, a, b, spans, options.max_chars))
    return [s for s in steps if s]


def _line_cuts(text: str, spans: _Spans) -> list[int]:
    """Where a line break starts a new step: blank lines, items, and lines that don't continue the last."""
    cuts: list[int] = []
    segment_empty = True  # no text yet in the step being built
    line_start = 0
    for newline in re.finditer(r"\n", text):
        next_start = newline.end()
        if spans.inside(newline.start()):
            continue
        a_raw = text[line_start: newline.start()].rstrip()
        b_end = text.find("\n", next_start)
        b_raw = text[next_start: b_end if b_end >= 0 else len(text)].rstrip()
        a, b = a_raw.strip(), b_raw.strip()
        is_header = segment_empty and a.endswith(":") and len(a) <= 60
        line_start = next_start
        if a and b and (is_header or _continues(a_raw, b_raw)):
            segment_empty = False
            continue
        if a or not b:
            cuts.append(next_start)
            segment_empty = True
    return cuts


def _continues(a_raw: str, b_raw: str) -> bool:
    """Whether line ``b`` carries on line ``a`` (a formula, wrapped prose, code); both non-blank, right-stripped."""
    if _CODE_LINE.match(a_raw) and _CODE_LINE.match(b_raw):
        return True
    a, b = a_raw.strip(), b_raw.strip()
    if a.endswith(_OPEN_ENDS) or b.startswith(_CONT_STARTS):
        return True
    if _ITEM.match(b):
        return False
    return b[0].islower() and a[-1] not in ".!?:;" and len(a) >= 40


def _marker_regex(markers: tuple[str, ...]) -> re.Pattern[str] | None:
    if not markers:
        return None
    alternatives = "|".join(re.escape(m) + (r"\b" if m[-1].isalnum() else "") for m in sorted(markers, key=len, reverse=True))
    # a sentence end, a closing quote or bracket after one, or the end of a display formula
    return re.compile(r"(?:(?<=[.!?}$])|(?<=[.!?][\"')\]$]))[ \t]+(?=(?:" + alternatives + "))")


def _cut_long(text: str, start: int, end: int, spans: _Spans, max_chars: int) -> list[str]:
    """A paragraph longer than ``max_chars`` is cut at sentence ends into pieces of at most that size."""
    piece = text[start:end].strip()
    if len(piece) <= max_chars:
        return [piece]
    pieces: list[str] = []
    begin = start
    last_ok = None
    for match in _SENTENCE_END.finditer(text, start, end):
        at = match.start()
        if spans.inside(at) or text[max(start, at - 6): at].endswith(_ABBREVIATIONS) or _initial(text, at):
            continue
        if at - begin > max_chars and last_ok is not None:
            pieces.append(text[begin:last_ok].strip())
            begin = last_ok
        last_ok = at
    if last_ok is not None and end - begin > max_chars:
        pieces.append(text[begin:last_ok].strip())
        begin = last_ok
    pieces.append(text[begin:end].strip())
    return [p for p in pieces if p]


def _initial(text: str, at: int) -> bool:
    """``J. Smith``: a single capital before the period is an initial, not a sentence end."""
    return at >= 2 and text[at - 1] == "." and text[at - 2].isupper() and (at < 3 or not text[at - 3].isalnum())
