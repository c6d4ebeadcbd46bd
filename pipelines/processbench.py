"""``seeds import --format processbench FILE [--answers FILE --answers-format gsm8k|math]``: ProcessBench
items to the trajectory rows ``label`` reads (``schemas.processbench.to_row``), one JSON object a line.

A ProcessBench file is a JSON array (as published: ``gsm8k.json``...) or JSONL; ``read_entries`` yields
either item by item. Each item's final answer is what its steps state (``verifiers.math_answer``: the last
``\\boxed{}``, ``####`` or "the answer is", else its last number). The gold answer is joined from a
reference by problem text (``common.text_normal.normalise``): GSM8K's test JSONL (``question``, ``answer``
ending ``#### N``) or MATH's (``problem``, ``answer`` or the ``\\boxed{}`` of ``solution``); an item that
the reference lacks, or that has none, is written with ``gold_answer`` null (``label`` dead-letters it
``no_gold_answer`` unless a gold comes from elsewhere). Bad items are reported as ``FILE:LINE: field:
message`` (``FILE#INDEX`` in an array) and skipped; the closing lines on stderr add everything up.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO

from common.errors import ConfigError
from pipelines.eval_inputs import CHUNK, MAX_LINE_BYTES, LineError, capped_lines, decode
from schemas.processbench import ProcessBenchError, item_from_obj, to_row
from schemas.seed_import import SeedImportError, gsm8k_to_seed
from schemas.seeds import encoding_message, sniff_encoding

ANSWER_FORMATS = ("gsm8k", "math")
MAX_ARRAY_BYTES = 1 << 30  # a JSON array is parsed whole: ProcessBench's largest split is under 3 MB
DECONTAMINATE_HINT = ("ProcessBench's GSM8K and MATH problems are those benchmarks' test problems: label them with "
                      "--decontaminate none (the default screen filters them contaminated:BENCH)")
EXAMPLES = 5
REFERENCE_EXAMPLES = 10


@dataclass(frozen=True)
class Entry:
    """One record of a file: its JSON value, or why it has none. ``where``: ``:LINE`` or ``#INDEX``."""

    where: str
    value: Any = None
    error: LineError | None = None

    def ref(self, path: str) -> str:
        return f"{path}{self.where}"


class _Prefixed:
    """A reader that gives ``head`` back first, then the rest of ``handle`` (the sniffed bytes are not lost)."""

    def __init__(self, head: bytes, handle: BinaryIO):
        self.head, self.handle = head, handle

    def read(self, size: int = -1) -> bytes:
        if self.head:
            out, self.head = self.head, b""
            return out
        return self.handle.read(size)


def read_entries(handle: BinaryIO, label: str, max_bytes: int = MAX_LINE_BYTES,
                 max_array_bytes: int = MAX_ARRAY_BYTES) -> Iterator[Entry]:
    """Every record of a JSON array file (``#INDEX``) or a JSONL one (``:LINE``, blank lines skipped). A
    JSONL line that cannot be read is an Entry with its error; an array that cannot be parsed at all, or a
    file in UTF-16/32, is a ConfigError naming ``label`` (there is nothing to read item by item)."""
    head = handle.read(CHUNK)
    if encoding := sniff_encoding(head):
        raise ConfigError(f"{label}: {encoding_message(encoding)}")
    if head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"["):
        yield from _array_entries(head + handle.read(max_array_bytes + 1 - len(head)), label, max_array_bytes)
        return
    for number, raw in capped_lines(_Prefixed(head, handle), max_bytes):
        if raw is not None and not raw.strip():
            continue
        try:
            if raw is None:
                raise LineError("line_too_large", f"over {max_bytes} bytes")
            yield Entry(f":{number}", decode(raw, number))
        except LineError as exc:
            yield Entry(f":{number}", error=exc)


def _array_entries(data: bytes, label: str, max_bytes: int) -> Iterator[Entry]:
    if len(data) > max_bytes:
        raise ConfigError(f"{label}: a JSON array over {max_bytes} bytes; write it as JSONL, one item a line")
    try:
        value = json.loads(data.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 (byte {exc.start + 1})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{label}: malformed JSON array: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (RecursionError, ValueError) as exc:
        raise ConfigError(f"{label}: malformed JSON array ({type(exc).__name__})") from None
    for index, item in enumerate(value):
        yield Entry(f"#{index}", item)


def describe(error: LineError) -> str:
    return f"line: {error.reason}" + (f" ({error.detail})" if error.detail else "")


# --- gold answers from a reference ------------------------------------------------------------------


def reference_gold(obj: Any, fmt: str) -> tuple[str, str]:
    """(problem, gold answer) of one GSM8K or MATH test line, or SeedImportError saying why not."""
    if fmt == "gsm8k":
        seed = gsm8k_to_seed(obj)  # the gold exactly as `seeds import --format gsm8k` takes it
        return seed["problem"], seed["answer"]
    from verifiers.math_answer import extract_answer

    if not isinstance(obj, dict) or not isinstance(obj.get("problem"), str) or not obj["problem"].strip():
        raise SeedImportError("problem: missing or not a string")
    answer = obj.get("answer")
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if isinstance(answer, str) and answer.strip():
        return obj["problem"], answer.strip()
    solution = obj.get("solution")
    boxed = extract_answer(solution) if isinstance(solution, str) and ("boxed" in solution or "fbox" in solution) else None
    if not boxed:
        raise SeedImportError("answer: missing, and no \\boxed{} answer in solution")
    return obj["problem"], boxed


@dataclass
class Golds:
    """The gold answer per normalised problem; None where the reference gives one problem two answers."""

    by_problem: dict[str, str | None]
    read: int = 0
    skipped: int = 0

    def get(self, problem: str) -> str | None:
        from common.text_normal import normalise

        return self.by_problem.get(normalise(problem))


def read_golds(path: str, fmt: str) -> Golds:
    """Every line of the reference file; a bad one is skipped, the first ``REFERENCE_EXAMPLES`` named on stderr
    (a reference in the other format would otherwise name each of its thousands of lines)."""
    from common.text_normal import normalise

    if fmt not in ANSWER_FORMATS:
        raise ConfigError(f"--answers-format {fmt!r}: not one of {', '.join(ANSWER_FORMATS)}")
    golds = Golds({})
    with open(path, "rb") as handle:
        for entry in read_entries(handle, f"--answers {path}"):
            golds.read += 1
            try:
                if entry.error:
                    raise SeedImportError(describe(entry.error))
                problem, gold = reference_gold(entry.value, fmt)
            except SeedImportError as exc:
                golds.skipped += 1
                if golds.skipped <= REFERENCE_EXAMPLES:
                    print(f"{entry.ref(path)}: {exc}", file=sys.stderr)
                continue
            key = normalise(problem)
            if key in golds.by_problem and golds.by_problem[key] != gold:
                golds.by_problem[key] = None  # two answers to one problem: neither is trusted
            else:
                golds.by_problem[key] = gold
    return golds


# --- the import ------------------------------------------------------------------------------------


def final_answer(steps: tuple[str, ...]) -> str | None:
    """The final answer the solution states (a committed solution's last number counts)."""
    from verifiers.math_answer import extract_answer

    return extract_answer("\n\n".join(steps), fallback_last_number=True)


def import_processbench(path: str, sink: TextIO, answers: str | None = None, answers_format: str | None = None) -> int:
    """Convert every item (see the module docstring), the rows to ``sink``; the number written (the summary on stderr)."""
    from verifiers.math_answer import MathVerifier

    if answers and not answers_format:
        raise ConfigError("--answers needs --answers-format gsm8k|math")
    golds = read_golds(answers, answers_format or "") if answers else None
    counts: Counter[str] = Counter()
    seen: dict[str, str] = {}
    disagree: list[str] = []
    with open(path, "rb") as handle, MathVerifier() as verifier:
        for entry in read_entries(handle, path):
            ref = entry.ref(path)
            try:
                if entry.error:
                    raise SeedImportError(describe(entry.error))
                item = item_from_obj(entry.value)
                if item.id in seen:
                    raise ProcessBenchError("id", f"duplicate {item.id!r} (first at {seen[item.id]}), skipped")
            except SeedImportError as exc:
                print(f"{ref}: {exc}", file=sys.stderr)
                counts["skipped"] += 1
                continue
            seen[item.id] = ref
            answer = final_answer(item.steps)
            gold = golds.get(item.problem) if golds is not None else None
            counts["no_final_answer"] += answer is None
            counts["with_gold"] += gold is not None
            if gold is not None and verifier.verify(gold, answer).correct != item.final_answer_correct:
                disagree.append(item.id)  # label will judge the last step otherwise than ProcessBench's annotation
            notes = f"imported from ProcessBench {ref}" + (f", gold answer from {answers}" if gold is not None else "")
            sink.write(json.dumps(to_row(item, answer, gold, notes), ensure_ascii=False) + "\n")
            counts["written"] += 1
    print(summary(path, counts, answers, golds, disagree), file=sys.stderr)
    return counts["written"]


def summary(path: str, counts: Counter[str], answers: str | None, golds: Golds | None, disagree: list[str]) -> str:
    written = counts["written"]
    lines = [f"imported {written} ProcessBench item(s) from {path} as trajectory rows, {counts['skipped']} skipped"]
    if golds is not None:
        named = f", the first {REFERENCE_EXAMPLES} named" if golds.skipped > REFERENCE_EXAMPLES else ""
        lines.append(f"gold answers: {counts['with_gold']} joined from {answers} ({golds.read} line(s), {golds.skipped} "
                     f"skipped{named}), {written - counts['with_gold']} item(s) without one")
    else:
        lines.append(f"gold answers: none given (--answers): the {written} row(s) have gold_answer null, which label "
                     "cannot use unless it votes a gold answer")
    if counts["no_final_answer"]:
        lines.append(f"{counts['no_final_answer']} item(s) state no final answer: label counts their last step wrong")
    if disagree:
        lines.append(f"{len(disagree)} item(s) whose stated answer checked against the gold disagrees with their "
                     f"final_answer_correct (the answer read from the steps, or the gold joined, may be off): "
                     + ", ".join(disagree[:EXAMPLES]) + (", ..." if len(disagree) > EXAMPLES else ""))
    return "\n".join([*lines, DECONTAMINATE_HINT])
