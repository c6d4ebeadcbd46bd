"""The annotators' seed format: one JSON object a line, validated field by field.

Every problem of a line is reported (not just the first), as ``FILE:LINE: field: message``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from schemas.records import Seed, Step

MAX_LINE_BYTES = 1_000_000
REQUIRED = ("id", "problem", "answer", "steps")
OPTIONAL_STR = ("domain", "annotator", "notes")
KNOWN = set(REQUIRED) | set(OPTIONAL_STR)
DOMAINS = ("math",)

EXAMPLE: dict[str, Any] = {
    "id": "socks-001",
    "problem": (
        "Two white socks cost 25 cents more than a single brown sock. "
        "If two white socks cost 45 cents, how much would you pay for 15 brown socks?"
    ),
    "answer": "3",
    "steps": [
        {"text": "A brown sock costs $0.45 - $0.25 = $0.20.", "factor": "Compute"},
        {"text": "15 brown socks cost 15 * $0.20 = $3.", "factor": "Compute"},
        {"text": "The answer is 3.", "factor": "Conclude"},
    ],
    "domain": "math",
    "annotator": "jane",
    "notes": "from GSM8K train",
}

TEMPLATE = """\
# A seed file is JSONL: one problem per line, no comments (strip these lines before use).
# id        : unique string, stable across edits (rows made from the seed keep it as source)
# problem   : the question, as the solver sees it
# answer    : the gold final answer (a number or a LaTeX expression; checked with math-verify)
# steps     : the human solution, one object per step; "factor" is optional
#             (RephraseTarget, Decompose, Proposer, Compute, Verify, Refute, SelfCorrect, Conclude)
# domain    : "math"
# annotator : optional, who wrote it;  notes : optional, free text
""" + json.dumps(EXAMPLE, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class SeedProblem:
    """One thing wrong with one line of a seed file."""

    line: int
    field: str
    message: str
    kind: str = ""  # the reason, when the field alone does not say it (``raw_gsm8k``...)

    def format(self, path: str) -> str:
        return f"{path}:{self.line}: {self.field}: {self.message}"


class SeedError(ValueError):
    """A seed line that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[SeedProblem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))

    @property
    def reason(self) -> str:
        """A short machine-friendly reason, for dead letters and manifest counts.

        Step indices are dropped (``steps[3].text`` -> ``steps[].text``) and unknown fields all
        count as ``unknown_field``, so that counts by reason stay a small set.
        """
        if not self.problems:
            return "seed"
        first = self.problems[0]
        if first.kind:
            return first.kind
        return "unknown_field" if first.message == "unknown field" else _INDEX.sub("[]", first.field)


_INDEX = re.compile(r"\[\d+\]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
IMPORT_COMMAND = "reverse-o1 seeds import --format {fmt} FILE -o seeds.jsonl"
IMPORT_HINT = "convert it with: " + IMPORT_COMMAND
_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32BE"), (b"\xff\xfe\x00\x00", "UTF-32LE"), (b"\xfe\xff", "UTF-16BE"),
         (b"\xff\xfe", "UTF-16LE"))


def sniff_encoding(head: bytes) -> str | None:
    """``UTF-16LE``, ``UTF-32BE``... when a file's first bytes are a UTF-16/32 byte order mark or
    NUL-interleaved ASCII (UTF-16/32 without one), else None: such a file would otherwise read as
    lines of garbage bytes, with nothing naming the encoding."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    sample = head[:64]
    if len(sample) < 4 or sample.count(0) < len(sample) // 2:
        return None
    for width, name in ((4, "UTF-32"), (2, "UTF-16")):
        cut = sample[: len(sample) // width * width]
        for order, kept in (("LE", 0), ("BE", width - 1)):
            if all(cut[kept::width]) and not any(b for i, b in enumerate(cut) if i % width != kept):
                return name + order
    return None


ICONV_COMMAND = "iconv -f {encoding} -t UTF-8 FILE > FILE.utf8"


def encoding_message(encoding: str) -> str:
    return f"file is {encoding}, not UTF-8: convert it, e.g. {ICONV_COMMAND.format(encoding=encoding)}"


def foreign_shape(obj: dict[str, Any]) -> str | None:
    """``gsm8k`` or ``prm800k`` when a line is a raw line of that dataset rather than a seed
    (it has none of a seed's own fields), else None. Such a line needs ``seeds import``."""
    if obj.keys() & {"id", "problem", "steps"} or "question" not in obj:
        return None
    if isinstance(obj["question"], dict) and "label" in obj:
        return "prm800k"
    if isinstance(obj["question"], str) and "answer" in obj:
        return "gsm8k"
    return None
_JSON_TYPE = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, as an annotator knows it."""
    if value is None:
        return "null"
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _key(name: str) -> str:
    """A field name fit for ``FILE:LINE: field: message``: as is when a plain name, else quoted."""
    return name if name.isidentifier() and name.isascii() else json.dumps(name)


def _text_problem(value: Any, missing: bool = False) -> str | None:
    """Why ``value`` is not a usable non-empty string, or None when it is."""
    if missing:
        return "missing"
    if not isinstance(value, str):
        return f"must be a string, got {_json_type(value)}"
    if not value.strip():
        return "must not be empty"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate escape (not valid Unicode text)"
    return None


def _answer_problem(obj: dict[str, Any]) -> str | None:
    if "answer" not in obj:
        return "missing"
    value = obj["answer"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # a bare number is a fine gold answer, as long as it is a real one
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        return None
    return _text_problem(value)


def check_seed(obj: Any, line: int) -> list[SeedProblem]:
    """All problems of one decoded seed object (empty list when it is valid)."""
    if not isinstance(obj, dict):
        return [SeedProblem(line, "line", f"expected a JSON object, got {_json_type(obj)}")]
    shape = foreign_shape(obj)
    if shape is not None:
        name = {"gsm8k": "GSM8K", "prm800k": "PRM800K"}[shape]
        message = f"looks like a raw {name} line, not a seed: {IMPORT_HINT.format(fmt=shape)}"
        return [SeedProblem(line, "line", message, kind=f"raw_{shape}")]
    problems: list[SeedProblem] = []
    for name in ("id", "problem"):
        message = _text_problem(obj.get(name), missing=name not in obj)
        if not message and name == "id" and (bad := _CONTROL.search(obj[name])):
            message = f"must not contain control characters (U+{ord(bad.group()):04X})"
        if message:
            problems.append(SeedProblem(line, name, message))
    message = _answer_problem(obj)
    if message:
        problems.append(SeedProblem(line, "answer", message))
    if "steps" not in obj:
        problems.append(SeedProblem(line, "steps", "missing"))
    else:
        problems.extend(_check_steps(obj["steps"], line))
    for name in OPTIONAL_STR:
        value = obj.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(SeedProblem(line, name, f"must be a string, got {_json_type(value)}"))
        elif name == "domain" and value not in DOMAINS:
            problems.append(SeedProblem(line, name, f"unknown domain {value!r} (known: {', '.join(DOMAINS)})"))
        elif (message := _text_problem(value)) and message != "must not be empty":
            problems.append(SeedProblem(line, name, message))
    for name in sorted(set(obj) - KNOWN):
        problems.append(SeedProblem(line, _key(name), "unknown field"))
    return problems


def _check_steps(steps: Any, line: int) -> list[SeedProblem]:
    if not isinstance(steps, list):
        return [SeedProblem(line, "steps", f"must be a list, got {_json_type(steps)}")]
    if not steps:
        return [SeedProblem(line, "steps", "must have at least one step")]
    problems = []
    for i, step in enumerate(steps):
        where = f"steps[{i}]"
        if not isinstance(step, dict):
            problems.append(SeedProblem(line, where, f"must be an object, got {_json_type(step)}"))
            continue
        message = _text_problem(step.get("text"), missing="text" not in step)
        if message:
            problems.append(SeedProblem(line, f"{where}.text", message))
        factor = step.get("factor")
        if factor is not None and (not isinstance(factor, str) or not factor.isidentifier()):
            problems.append(SeedProblem(line, f"{where}.factor", "must be a factor name (letters, digits, _)"))
        for extra in sorted(set(step) - {"text", "factor"}):
            problems.append(SeedProblem(line, f"{where}.{_key(extra)}", "unknown field"))
    return problems


def decode_line(raw: bytes, line: int, max_bytes: int = MAX_LINE_BYTES) -> Any:
    """Bytes of one line to a JSON value, or SeedError saying exactly why not.

    The size is checked before anything is decoded, so an oversized line costs nothing.
    Only SeedError comes out, whatever the bytes (deep nesting, huge integers included).
    """
    if len(raw) > max_bytes:
        raise SeedError([SeedProblem(line, "line", f"too large: over {max_bytes} bytes")])
    if line == 1 and (encoding := sniff_encoding(raw)):
        raise SeedError([SeedProblem(line, "line", encoding_message(encoding), kind="wrong_encoding")])
    if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte order mark, as some editors write
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SeedError([SeedProblem(line, "line", f"not UTF-8 (byte {exc.start + 1})")]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (comment lines are not allowed: strip the template's # lines)" if text.lstrip()[:1] == "#" else ""
        raise SeedError([SeedProblem(line, "line", f"malformed JSON: {exc.msg} at column {exc.colno}{hint}")]) from None
    except RecursionError:
        raise SeedError([SeedProblem(line, "line", "malformed JSON: nested too deeply")]) from None
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        raise SeedError([SeedProblem(line, "line", f"malformed JSON: {exc}")]) from None


def seed_from_obj(obj: Any, line: int, ref: str = "") -> Seed:
    """A validated Seed, or SeedError listing every problem."""
    problems = check_seed(obj, line)
    if problems:
        raise SeedError(problems)
    steps = tuple(Step(text=s["text"].strip(), factor=s.get("factor")) for s in obj["steps"])
    return Seed(
        id=obj["id"].strip(),
        problem=obj["problem"].strip(),
        answer=str(obj["answer"]).strip(),
        steps=steps,
        domain=obj.get("domain") or "math",
        annotator=obj.get("annotator"),
        notes=obj.get("notes"),
        ref=ref,
    )


def iter_lines(path: str, max_bytes: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, raw bytes without the newline) for each line of a file, 1-based.

    With ``max_bytes``, a longer line is never held whole: it is skipped in chunks and
    yielded cut to ``max_bytes + 1`` bytes, enough for ``decode_line`` to reject it as too large.
    """
    with open(path, "rb") as handle:
        number = 0
        while True:
            raw = handle.readline() if max_bytes is None else handle.readline(max_bytes + 2)
            if not raw:
                return
            number += 1
            if max_bytes is not None and len(raw) == max_bytes + 2 and not raw.endswith(b"\n"):
                while (chunk := handle.readline(1 << 20)) and not chunk.endswith(b"\n"):
                    pass
                yield number, raw[: max_bytes + 1]
                continue
            yield number, raw.rstrip(b"\r\n")


def validate_file(path: str, max_bytes: int = MAX_LINE_BYTES,
                  factors: Collection[str] | None = None) -> tuple[int, list[str]]:
    """(number of valid seeds, every problem as ``FILE:LINE: field: message``).

    Blank lines are skipped; an id seen on an earlier line is reported with that line's number.
    With ``factors`` (a vocabulary's names), a step factor outside it is a problem too.
    """
    valid, problems = validate_lines(iter_lines(path, max_bytes), max_bytes, factors)
    return valid, [p.format(path) for p in problems]


def validate_lines(lines: Iterable[tuple[int, bytes]], max_bytes: int = MAX_LINE_BYTES,
                   factors: Collection[str] | None = None) -> tuple[int, list[SeedProblem]]:
    """(number of valid seeds, every problem) of (line number, raw bytes) pairs: the checks of
    ``seeds validate``, also run by the studio on the file as it would be saved."""
    problems: list[SeedProblem] = []
    seen: dict[str, int] = {}
    valid = 0
    for number, raw in lines:
        if not raw.strip():
            continue
        try:
            seed = seed_from_obj(decode_line(raw, number, max_bytes), number)
        except SeedError as err:
            problems.extend(err.problems)
            if err.reason == "wrong_encoding":
                break  # every other line would say it again
            continue
        if seed.id in seen:
            problems.append(SeedProblem(number, "id", f"duplicate id {seed.id!r} (first on line {seen[seed.id]})"))
            continue
        unknown = [(i, st.factor) for i, st in enumerate(seed.steps) if factors is not None and st.factor
                   and st.factor not in factors]
        if unknown:
            known = ", ".join(sorted(factors or ()))
            problems += [SeedProblem(number, f"steps[{i}].factor", f"unknown factor {f!r} (known: {known})")
                         for i, f in unknown]
            continue
        seen[seed.id] = number
        valid += 1
    return valid, problems
