"""What ``verified`` means for each command's rows, and why rows were not verified or were left out.

Read from the manifest alone (for the dataset card and the report): rows per command come from the
shards' names (``by_command``), the reasons from the stage entries of each command's latest run:
filtered and dead-lettered reasons per stage, and the stats the stages count: the round trip's
outcomes (``roundtrip:STATUS``), samples a filter rejected before the next was tried
(``rejected:REASON``: code CoT's hindsight filter, Lean thoughts' leak filter), what was cut at
the token cap (any reason or stat naming ``truncat``) or retried (``retried:*``), what Lean checked
(``verifier:*``) and tactics left without a thought.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Meaning:
    """What one command's SFT rows hold as their answer, and what their ``verified`` says."""

    answer: str
    verified: str
    unverified: str


MEANINGS: dict[str, Meaning] = {
    "code-cot": Meaning(
        answer="the function's original code, which passed the repository's own tests in the sandbox before any CoT "
               "was written: a correct answer in every row",
        verified="a model given only the task and the CoT (with the function's module context) rewrote the function, "
                 "and the rewrite passed the original's tests in the sandbox: the CoT sufficed to rebuild the code",
        unverified="the CoT did not suffice to rewrite the function (the rewrite failed the tests, did not parse, or no "
                   "function came back; see the round trip below). The answer is still the original, correct code: "
                   "these are not wrong answers, and not the rejected side of a preference pair"),
    "lean-cot": Meaning(
        answer="the theorem's own tactic proof, unchanged (the input's ground truth)",
        verified="Lean replayed the proof the CoT ends in (lean_dojo); only where a Lean toolchain ran",
        unverified="where no Lean toolchain ran (`verifier` is `none`), nothing was checked: the proof is the input's, "
                   "unknown rather than wrong; where Lean ran, the replay failed and `verifier_detail` says why"),
    "expand": Meaning(
        answer="the final answer the trajectory (human prefix, then model steps) ends in",
        verified="math-verify found that final answer equal to the seed's gold answer",
        unverified="a wrong final answer (math-verify: not equal to the gold answer): usable as the rejected side of "
                   "preference pairs"),
    "tag": Meaning(
        answer="the input's own answer (its answer column, or what the text ends in)",
        verified="copied from the input's `verified` column where it has one: `tag` checks nothing itself",
        unverified="nothing was checked (the input had no `verified`), or the input said false"),
}
PRM_MEANING = ("PRM rows carry no `verified`: each step's label says whether completions from it reached the gold "
               "answer (math-verify), and `answer_correct` whether the trajectory's own final answer did")
# what the ``rejected:REASON`` stats of a command count
SAMPLE_FILTERS = {"code-cot": "CoT samples the hindsight filter rejected (the next sample was tried)",
                  "lean-cot": "thought samples the leak filter rejected (the next sample was tried)",
                  "summarize": "summary samples the checks rejected, by the first check failed (the next sample was tried; "
                               "none passing: the row is filtered with its first sample's reason)"}
ROUNDTRIP = "round trip of every CoT that reached it (`ok`: the rewrite passed the tests, verified; else why not)"
THOUGHTLESS = "tactics left without a thought (skipped: not asked), of all tactics"


def command_meaning(command: str) -> Meaning | None:
    """``label-binary`` and the like share their command's meaning."""
    return MEANINGS.get(command) or MEANINGS.get(command.split("-", 1)[0])


@dataclass
class Reasons:
    """One group of counts: what they count, and the count per reason."""

    what: str
    counts: dict[str, int]


@dataclass
class CommandOutcome:
    """One command's rows, what its ``verified`` means, and why its latest run left rows out or unverified."""

    command: str
    sft_rows: int
    sft_verified: int
    sft_truncated: int
    prm_rows: int
    meaning: Meaning | None
    reasons: list[Reasons] = field(default_factory=list)

    @property
    def unverified(self) -> int:
        return self.sft_rows - self.sft_verified


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _truncation(name: str) -> bool:
    return "truncat" in name


def reasons_of(command: str, stages: dict[str, Any]) -> list[Reasons]:
    """The counts of ``command``'s latest run that say why rows were left out or not verified."""
    mine = {name.split("/", 1)[1]: _dict(e) for name, e in stages.items() if name.split("/", 1)[0] == command
            and "/" in name}
    filtered: dict[str, int] = {}
    dead: dict[str, int] = {}
    truncated: dict[str, int] = {}
    groups: dict[str, dict[str, int]] = {}
    tactics = 0
    for stage, entry in sorted(mine.items()):
        for reason, n in sorted(_dict(entry.get("filtered")).items()):
            (truncated if _truncation(reason) else filtered)[f"{stage}: {reason}"] = _int(n)
        for reason, n in sorted(_dict(entry.get("dead_reasons")).items()):
            dead[f"{stage}: {reason}"] = _int(n)
        if entry.get("dead_lettered") and not entry.get("dead_reasons"):
            dead[f"{stage}: dead-lettered"] = _int(entry["dead_lettered"])
        for stat, n in sorted(_dict(entry.get("stats")).items()):
            head, _, rest = stat.partition(":")
            if _truncation(stat):
                truncated[f"{stage}: {stat}"] = truncated.get(f"{stage}: {stat}", 0) + _int(n)
            elif head == "roundtrip" and rest:
                groups.setdefault(ROUNDTRIP, {})[rest] = _int(n)
            elif head == "rejected" and rest:
                what = SAMPLE_FILTERS.get(command, "samples a filter rejected (the next sample was tried)")
                groups.setdefault(what, {})[rest] = _int(n)
            elif head == "verifier" and rest:
                groups.setdefault("rows by verifier (`none`: nothing was checked)", {})[rest] = _int(n)
            elif head == "retried" and rest:
                groups.setdefault("generations cut at the token cap and asked again with a larger budget", {})[rest] = _int(n)
            elif stat == "tactics_without_thought" or head == "skipped":
                groups.setdefault(THOUGHTLESS, {})[stat] = _int(n)
            elif stat == "tactics":
                tactics += _int(n)
    if THOUGHTLESS in groups and tactics:
        groups[THOUGHTLESS]["tactics (all)"] = tactics
    out = [Reasons(what, counts) for what, counts in groups.items() if any(counts.values())]
    if truncated and any(truncated.values()):
        out.append(Reasons("cut off at the token cap (`truncated_cot`: filtered; `truncated_kept`: kept, marked "
                           "`truncated` true)", truncated))
    if any(filtered.values()):
        out.append(Reasons("inputs left out (filtered), per stage", {k: v for k, v in filtered.items() if v}))
    if any(dead.values()):
        out.append(Reasons("inputs dead-lettered (`dead_letter/`), per stage", {k: v for k, v in dead.items() if v}))
    return out


def outcomes(manifest: dict[str, Any]) -> list[CommandOutcome]:
    """Per command that ran in the folder (or wrote shards to it): rows, meaning, reasons."""
    by_command = _dict(manifest.get("by_command"))
    stages = _dict(manifest.get("stages"))
    commands = sorted(set(_dict(manifest.get("runs"))) | set(by_command)
                      | {name.split("/", 1)[0] for name in stages if "/" in name})
    out = []
    for command in commands:
        rows = _dict(by_command.get(command))
        out.append(CommandOutcome(command, _int(rows.get("sft_rows")), _int(rows.get("sft_verified")),
                                  _int(rows.get("sft_truncated")), _int(rows.get("prm_rows")), command_meaning(command),
                                  reasons_of(command, stages)))
    return out
