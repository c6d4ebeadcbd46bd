"""After a run: its accounting in one call, one record (rows, counts, damaged shards, why it failed).

The runner calls ``account`` once the pipeline has finished. In order: this run's shards lose rows
whose id repeats (a runner may retry a bundle), earlier runs' dead letters of the same command are
dropped (this run retried their inputs), every shard footer is read once (rows, splits, factors,
verified counts, generation; damaged shards set aside), the stages come from Beam's metrics or,
on a runner without metrics, from what this run left, and the run's failure (every input of a
stage failed on the backend) or emptiness (no rows) is said in one line.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipelines.io import fs, resume
from pipelines.io.footers import OutputStats, output_stats
from pipelines.io.manifest import factor_counts, generation_counts, license_counts

BACKEND_ERROR = "backend_error"  # the dead-letter reason of a failed backend call
# how many tries a backend message counts, which differs between the inputs of one failure
_ATTEMPTS = re.compile(r" after \d+ attempts?(?: \([^)]*\))?")


@dataclass
class RunAccount:
    """What a finished run left: the figures the manifest, the card and the console need."""

    stages: dict[str, dict[str, Any]]
    counts_from: str
    stats: OutputStats  # the whole folder, from the footers (read once)
    run_rows: int  # rows in this run's shards
    dead_letters: int  # in the whole folder
    licenses: dict[str, Any]  # rows per licence and source (``manifest.license_counts``)
    set_aside: list[dict[str, object]] = field(default_factory=list)  # damaged shards moved to DIR/.corrupt
    notes: list[str] = field(default_factory=list)
    failure: str | None = None  # every input of a stage failed on the backend: why, in one line
    nothing: str | None = None  # the run wrote no rows: why, in one line

    @property
    def rows(self) -> dict[str, int]:
        return dict(self.stats.rows)

    @property
    def factors(self) -> dict[str, Any]:
        return factor_counts(self.stats)

    @property
    def generation(self) -> dict[str, list[dict[str, Any]]]:
        return generation_counts(self.stats)


def account(out_dir: str, command: str, run_id: str, stages: dict[str, dict[str, Any]], counts_from: str) -> RunAccount:
    """Tidy the output after run ``run_id`` of ``command`` and account for it (see the module's doc)."""
    for kind in resume.KINDS:
        resume.drop_duplicate_rows(out_dir, kind, run_id)
    resume.remove_stale_dead_letters(out_dir, command, run_id)
    stats = output_stats(out_dir, run_id)
    if not stages:  # a runner without metrics: count what this run left in the output instead
        dead = resume.count_dead_letters(out_dir, run_id)
        stages = {"output": {"read": stats.run_rows + dead, "written": stats.run_rows, "filtered": {},
                             "dead_lettered": dead, "resumed": 0, "stats": {}}}
        counts_from += "; stage 'output' counted from this run's shards and dead letters"
    set_aside = resume.set_aside_records(out_dir, run_id)  # by the workers and by output_stats
    failure = backend_failure(out_dir, run_id, stages)
    return RunAccount(
        stages=stages, counts_from=counts_from, stats=stats, run_rows=stats.run_rows,
        dead_letters=resume.count_dead_letters(out_dir), licenses=license_counts(out_dir), set_aside=set_aside,
        notes=[set_aside_note(command, out_dir, set_aside)] if set_aside else [],
        failure=failure, nothing=None if failure else nothing_written(out_dir, stats.run_rows, stages),
    )


def nothing_written(out_dir: str, run_rows: int, stages: dict[str, dict[str, Any]]) -> str | None:
    """Why this run wrote no rows (nor found any already written), in one line; None when it did."""
    if any(entry.get("resumed", 0) for entry in stages.values()):
        return None
    if run_rows:
        return None
    reasons: Counter[str] = Counter()
    for entry in stages.values():
        reasons.update(entry.get("filtered", {}))
        reasons.update(entry.get("dead_reasons", {}) or ({"dead_lettered": entry["dead_lettered"]}
                                                          if entry.get("dead_lettered") else {}))
    read = max((entry["read"] for entry in stages.values()), default=0)
    if not read:
        return "no rows written: the input held no records"
    top = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common(4))
    more = f" and {len(reasons) - 4} more reasons" if len(reasons) > 4 else ""
    return (f"no rows written: every input was rejected or filtered ({top}{more}); "
            f"see {fs.join(out_dir, 'dead_letter')} and the manifest")



def set_aside_note(command: str, out_dir: str, records: list[dict[str, Any]]) -> str:
    """One line for the console and the manifest's notes: which shards were set aside, and why."""
    shards = "; ".join(f"{r.get('kind')}/{fs.basename(str(r.get('shard')))} ({r.get('reason')})" for r in records)
    return (f"{command}: set aside {len(records)} damaged shard{'s' if len(records) != 1 else ''} in "
            f"{fs.join(out_dir, resume.CORRUPT_DIR)} (their ids are no longer trusted: the command that wrote them makes "
            f"their rows again): {shards}")



def backend_failure(out_dir: str, run_id: str, stages: dict[str, dict[str, Any]]) -> str | None:
    """The error of a stage whose every input this run failed on the backend (its dead letters
    read back), in one line; None when every stage made something, or failed for other reasons."""
    for stage, entry in sorted(stages.items()):
        if not entry["read"] or entry["dead_lettered"] != entry["read"]:
            continue
        errors: Counter[str] = Counter()
        for letter in resume.run_dead_letters(out_dir, run_id):
            if letter.get("stage") == stage:
                if letter.get("reason") != BACKEND_ERROR:
                    break
                errors[_ATTEMPTS.sub("", str(letter.get("error", "")))] += 1
        else:
            if sum(errors.values()) < entry["read"]:
                continue  # letters missing: no verdict
            error, _ = errors.most_common(1)[0]
            others = f" (and {len(errors) - 1} other backend errors)" if len(errors) > 1 else ""
            inputs = f"all {entry['read']} inputs" if entry["read"] > 1 else "the one input"
            return (f"{inputs} of stage {stage!r} failed on the backend: {' '.join(error.split())}{others}; "
                    f"dead letters in {fs.join(out_dir, 'dead_letter')}")
    return None
