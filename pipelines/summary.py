"""The table printed at the end of a run."""

from __future__ import annotations

import sys
from typing import Any

from pipelines.io import fs
from pipelines.runner import NothingWritten, RunSummary, StageFailed
from schemas.seeds import ICONV_COMMAND, IMPORT_COMMAND


def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))  # noqa: E731
    return "\n".join([line(cells[0]), line(["-" * w for w in widths])] + [line(r) for r in cells[1:]])


def stage_table(manifest: dict[str, Any], command: str | None = None) -> str:
    rows = []
    for stage, e in manifest["stages"].items():
        if command and not stage.startswith(command + "/"):
            continue
        filtered = sum(e["filtered"].values())
        rows.append([stage, e["read"], e["written"], filtered, e["dead_lettered"], e.get("resumed", 0),
                     "yes" if e.get("balanced") else "NO"])
    return table(rows, ["stage", "read", "written", "filtered", "dead", "resumed", "adds up"])


#: what to do about a dead-letter reason that usually means the input is of another kind
HINTS = {
    **{f"invalid_raw_{fmt}": f"these lines are raw {name}, not seeds: convert them with {IMPORT_COMMAND.format(fmt=fmt)}"
       for fmt, name in (("gsm8k", "GSM8K"), ("prm800k", "PRM800K"))},
    **{f"{family}_input": f"the input is {name}: convert it to UTF-8 ({ICONV_COMMAND.format(encoding=name)})"
       for family, name in (("utf16", "UTF-16"), ("utf32", "UTF-32"))},
}


def dead_letter_lines(manifest: dict[str, Any], command: str | None = None, top: int = 4) -> list[str]:
    """``dead letters by reason: a 8, b 1`` and one hint per reason that has one."""
    reasons: dict[str, int] = {}
    for stage, entry in manifest["stages"].items():
        if command and not stage.startswith(command + "/"):
            continue
        for reason, n in entry.get("dead_reasons", {}).items():
            reasons[reason] = reasons.get(reason, 0) + n
    if not reasons:
        return []
    ranked = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{r} {n}" for r, n in ranked[:top]) + (f", {len(ranked) - top} more" if len(ranked) > top else "")
    return [f"dead letters by reason: {shown}"] + [f"hint: {HINTS[r]}" for r, _ in ranked if r in HINTS]


def last_line(summary: RunSummary) -> str:
    """What the folder holds and what this run set aside, and where, e.g. ``DIR: 12 SFT rows (2 verified,
    17%) in DIR/sft, 0 PRM rows; this run: 3 filtered, 1 dead letter (DIR/dead_letter); 69.0 s``."""
    out = summary.manifest["outputs"]
    mine = [e for s, e in summary.manifest["stages"].items() if s.startswith(summary.command + "/") or s == "output"]
    filtered = sum(sum(e["filtered"].values()) for e in mine)
    dead = sum(e["dead_lettered"] for e in mine)
    parts = []
    for kind, label in (("sft", "SFT"), ("prm", "PRM")):
        rows = out.get(f"{kind}_rows", 0)
        text = f"{rows} {label} row{'' if rows == 1 else 's'}"
        if kind == "sft" and rows:
            verified = out.get("sft_verified", 0)
            text += f" ({verified} verified, {verified / rows:.0%})"
        if rows:
            text += f" in {fs.join(summary.out_dir, kind)}"
        parts.append(text)
    for kind, label in (("trees", "tree nodes"), ("difficulty", "difficulty rows"), ("summaries", "summaries")):
        if out.get(f"{kind}_rows"):
            parts.append(f"{out[f'{kind}_rows']} {label} in {fs.join(summary.out_dir, kind)}")
    where = f" ({fs.join(summary.out_dir, 'dead_letter')})" if dead else ""
    return (f"{summary.out_dir}: {', '.join(parts)}; this run: {filtered} filtered, {dead} dead "
            f"letter{'' if dead == 1 else 's'}{where}; {summary.wall_seconds:.1f} s")


def report_lines(summary: RunSummary) -> list[str]:
    """Where the filtered inputs that have a report are listed (functions whose own tests fail)."""
    failed = sum(n for stage, e in summary.manifest["stages"].items() if stage.startswith(summary.command + "/")
                 for reason, n in e["filtered"].items() if reason.startswith("original_"))
    if not failed:
        return []
    where = fs.join(summary.out_dir, "reports", "original_tests")
    return [f"note: {failed} function{'s' * (failed != 1)} failed {'their' if failed != 1 else 'its'} own tests before any "
            f"CoT was written; each is listed with the failing test in {where}"]


def print_summary(summary: RunSummary) -> None:
    """The stage table and the output counts, then this command's manifest notes on stderr (what
    could not be done here, such as Lean verification or isolation weaker than bubblewrap, or a
    damaged shard set aside). A run in which a stage failed whole on the backend then raises
    ``StageFailed``: the CLI prints its one line and exits 2, after the table."""
    m = summary.manifest
    print(stage_table(m, summary.command), flush=True)
    for line in dead_letter_lines(m, summary.command) + report_lines(summary):
        print(line, file=sys.stderr)
    for note in m.get("notes", []):
        if note.startswith(summary.command + ":"):
            print(note, file=sys.stderr)
    sys.stderr.flush()
    print("\n" + last_line(summary), flush=True)
    if summary.failure:
        raise StageFailed(summary.failure)
    if summary.nothing:
        raise NothingWritten(summary.nothing)
