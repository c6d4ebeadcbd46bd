"""The table printed at the end of a run."""

from __future__ import annotations

import sys
from typing import Any

from pipelines.runner import RunSummary


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


def print_summary(summary: RunSummary) -> None:
    """The stage table and the output counts, then this command's manifest notes on stderr (what
    could not be done here, such as Lean verification or isolation weaker than bubblewrap)."""
    m = summary.manifest
    print(stage_table(m, summary.command))
    out = m["outputs"]
    print(f"\n{summary.out_dir}: {out['prm_rows']} PRM rows, {out['sft_rows']} SFT rows, "
          f"{out['dead_letters']} dead letters; {summary.wall_seconds:.1f} s")
    for note in m.get("notes", []):
        if note.startswith(summary.command + ":"):
            print(note, file=sys.stderr)
