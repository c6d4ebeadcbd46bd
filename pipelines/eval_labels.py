"""``reverse-o1 eval labels --human FILE --data DIR``: how the generated step labels agree with human ones.

Human labels are the studio's JSONL (``schemas.human_labels``) or PRM800K's (each step's chosen
completion and its rating). Studio labels name their PRM row by id; a PRM800K line names the rows
``label`` made of its seed (``seeds import --format prm800k``): same problem, same chosen steps.
Every line that cannot be used is counted by reason and never stops the run. Prints a table (and
with ``--json OUT`` writes the report). Imports nothing heavy until it runs (the CLI builds this
parser for every command).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from common.errors import ConfigError
from pipelines.agreement import Solution, figures, format_table, vote
from pipelines.command import Command
from pipelines.eval_inputs import MAX_LINE_BYTES, Key, LineError, SkipLog, capped_lines, decode, norm, read_rows
from schemas.human_labels import FIELDS, HumanLabel, HumanLabelError, human_label_from_obj, latest
from schemas.seed_import import SeedImportError, _chosen_text

__all__ = ["add_arguments", "agreement_report", "format_table", "read_human", "read_rows", "run"]

FORMATS = ("auto", "studio", "prm800k")  # step verdicts; processbench (first-error indices) is pipelines.processbench_eval
NEUTRAL = ("unsure", "correct")
RATINGS = {1: "correct", -1: "wrong", None: "unsure"}  # 0 is --prm800k-neutral


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--human", required=True, metavar="FILE", help="human step labels, JSONL (any FileSystems path)")
    parser.add_argument("--data", required=True, action="append", metavar="DIR",
                        help="an output folder with PRM shards in DIR/prm/ (repeatable)")
    parser.add_argument("--format", dest="fmt", choices=(*FORMATS, "processbench"), default="auto",
                        help="studio: the studio's labels; prm800k: PRM800K's lines; auto (default): a line with a "
                             "'question' and a 'label' object is PRM800K, any other a studio label; processbench: "
                             "ProcessBench items (JSON array or JSONL), scored by ProcessBench's first-error F1")
    parser.add_argument("--prm800k-neutral", dest="prm800k_neutral", choices=NEUTRAL, default="unsure",
                        help="what a PRM800K rating of 0 (neutral) counts as (default: unsure)")
    parser.add_argument("--json", dest="json_out", metavar="OUT", help="also write the report as JSON to OUT")


def run(args: argparse.Namespace) -> int:
    if args.fmt == "processbench":
        from pipelines import processbench_eval

        report = processbench_eval.processbench_report(args.human, list(args.data))
        table = processbench_eval.format_table
    else:
        report, table = agreement_report(args.human, list(args.data), args.fmt, args.prm800k_neutral), format_table
    if args.json_out:
        from pipelines.io import fs  # imports Beam: only when the command runs, not for --help

        try:
            fs.write_json(args.json_out, report)
        except OSError as exc:
            raise ConfigError(f"--json {args.json_out}: cannot write it ({exc.strerror or exc})".splitlines()[0]) from None
    print(table(report))
    return 0


@dataclass(frozen=True)
class Prm800kLine:
    """One PRM800K line: the chosen steps (as the seed importer takes them) and their verdicts."""

    line: int
    problem: str
    steps: tuple[str, ...]
    verdicts: tuple[str, ...]
    annotator: str

    @property
    def key(self) -> Key:
        return norm(self.problem), tuple(norm(s) for s in self.steps)


@dataclass
class HumanFile(SkipLog):
    """What a human-label file held: studio labels with their line numbers, PRM800K lines, and the rest by reason."""

    studio: list[tuple[int, HumanLabel]] = field(default_factory=list)
    prm800k: list[Prm800kLine] = field(default_factory=list)


def is_prm800k(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("question"), dict) and isinstance(obj.get("label"), dict)


def studio_label(obj: Any) -> HumanLabel:
    try:
        return human_label_from_obj(obj)
    except HumanLabelError as exc:
        message = str(exc)
        name = message.split(":", 1)[0] if ":" in message else "record"
        name = name if name in FIELDS else ("unknown_field" if message.endswith("unknown field") else "record")
        raise LineError(f"bad_field:{name}", message) from None


def prm800k_line(obj: Any, line: int, neutral: str) -> Prm800kLine:
    """The steps ``prm800k_to_seed`` would take (``_chosen_text``: empty ones left out, up to the first
    position with none) and the rating of each: the chosen completion's, or the human completion's
    (1 when it has none: a human wrote it as the right step)."""
    if not is_prm800k(obj):
        raise LineError("bad_field:question", "expected an object with 'question' and 'label' objects")
    problem, positions = obj["question"].get("problem"), obj["label"].get("steps")
    if not isinstance(problem, str) or not problem.strip():
        raise LineError("bad_field:question.problem", "missing or not a string")
    if not isinstance(positions, list):
        raise LineError("bad_field:label.steps", "missing or not a list")
    steps, verdicts = [], []
    for i, position in enumerate(positions):
        try:
            text = _chosen_text(position)
        except SeedImportError as exc:
            raise LineError("bad_field:label.steps", f"[{i}]: {exc}") from None
        if text is None:
            break
        if not isinstance(text, str):
            raise LineError("bad_field:label.steps", f"[{i}]: chosen text is not a string")
        if not text.strip():
            continue
        if position.get("chosen_completion") is not None:
            rating = position["completions"][position["chosen_completion"]].get("rating")
        else:
            human = position.get("human_completion")
            rating = human.get("rating") if isinstance(human, dict) and human.get("rating") is not None else 1
        if isinstance(rating, bool) or rating not in (1, 0, -1, None):
            raise LineError("bad_field:label.steps", f"[{i}]: rating {rating!r} is not 1, 0, -1 or null")
        steps.append(text)
        verdicts.append(neutral if rating == 0 else RATINGS[rating])
    if not steps:
        raise LineError("bad_field:label.steps", "no chosen or human completion")
    labeler = obj.get("labeler")
    annotator = labeler.strip() if isinstance(labeler, str) and labeler.strip() else f"prm800k:{line}"
    return Prm800kLine(line, problem, tuple(steps), tuple(verdicts), annotator)


def read_human(path: str, fmt: str = "auto", neutral: str = "unsure", max_bytes: int = MAX_LINE_BYTES) -> HumanFile:
    """Every line of ``path`` parsed or counted by reason; a missing or unreadable file is a ConfigError."""
    from pipelines.io import fs  # imports Beam: only when the command runs, not for --help

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: not one of {', '.join(FORMATS)}")
    if neutral not in NEUTRAL:
        raise ConfigError(f"--prm800k-neutral {neutral!r}: not one of {', '.join(NEUTRAL)}")
    if not fs.exists(path):
        raise ConfigError(f"--human {path}: no such file")
    out = HumanFile(path)
    try:
        with fs.open_read(path) as handle:
            for number, raw in capped_lines(handle, max_bytes):
                if raw is not None and not raw.strip():
                    continue
                out.lines += 1
                try:
                    if raw is None:
                        raise LineError("line_too_large", f"over {max_bytes} bytes")
                    obj = decode(raw, number)
                    if fmt == "prm800k" or (fmt == "auto" and is_prm800k(obj)):
                        out.prm800k.append(prm800k_line(obj, number, neutral))
                    else:
                        out.studio.append((number, studio_label(obj)))
                except LineError as exc:
                    out.skip(number, exc.reason, exc.detail)
    except OSError as exc:  # a directory, a FIFO, a refused permission
        raise ConfigError(f"--human {path}: cannot read it ({exc.strerror or exc})".splitlines()[0]) from None
    return out


def agreement_report(human_path: str, data_dirs: list[str], fmt: str = "auto", prm800k_neutral: str = "unsure") -> dict:
    """The whole evaluation as a JSON-able dict (what ``--json`` writes): the input, how many lines were
    used, superseded or skipped (by reason, with the first few as ``FILE:LINE: reason``), and the
    figures per (method, model) group and for ``all``."""
    if not data_dirs:
        raise ConfigError("--data: give at least one folder with PRM shards")
    human = read_human(human_path, fmt, prm800k_neutral)
    current = latest([label for _, label in human.studio])
    line_of = {label.key: number for number, label in human.studio}  # the last line of each key
    keys = {item.key for item in human.prm800k}
    rows_read, rows, by_key = read_rows(data_dirs, {label.row_id for label in current.values()}, keys)
    votes: dict[tuple[str, int], dict[str, str]] = {}
    used = 0
    for key, label in current.items():
        row, number = rows.get(label.row_id), line_of[key]
        if row is None:
            human.skip(number, "unknown_row", label.row_id)
        elif label.step >= len(row.completions):
            human.skip(number, "step_out_of_range", f"step {label.step}, the row has {len(row.completions)}")
        elif label.step_text.strip() and norm(label.step_text) != norm(row.completions[label.step]):
            human.skip(number, "mismatched_text", f"step {label.step} of {label.row_id}")
        else:
            votes.setdefault((row.id, label.step), {})[label.annotator] = label.label
            used += 1
    for item in human.prm800k:
        matched = by_key.get(item.key, [])
        if not matched:
            human.skip(item.line, "no_rows_matched", "no PRM row has this problem and these steps")
            continue
        used += 1
        for row in matched:
            for step, verdict in enumerate(item.verdicts):
                votes.setdefault((row.id, step), {})[item.annotator] = verdict
    labelled = sorted({row_id for row_id, _ in votes})
    solutions = [Solution(r.id, r.method, r.model, r.labels,
                          tuple(vote(votes[(r.id, i)].values()) if (r.id, i) in votes else None for i in range(len(r.labels))))
                 for r in (rows[row_id] for row_id in labelled)]
    return {
        "human": human_path, "data": list(data_dirs), "format": fmt, "prm800k_neutral": prm800k_neutral,
        "lines": human.lines, "used": used, "superseded": len(human.studio) - len(current), "rows_read": rows_read,
        "skipped": dict(sorted(human.skipped.items())), "examples": human.examples, "groups": figures(solutions),
    }


def add_command_arguments(parser: argparse.ArgumentParser) -> None:
    """``eval WHAT``: ``labels`` is the one measure so far."""
    sub = parser.add_subparsers(dest="eval_command", metavar="WHAT")
    sub.required = True
    add_arguments(sub.add_parser("labels", help="how the generated step labels agree with human ones (studio, PRM800K, "
                                                "ProcessBench)"))


COMMAND = Command("eval", "measure a dataset against human judgement", add_command_arguments, lambda args, unknown: run(args))
