"""tagging_accuracy: the rule tagger on a held-out set of real CoT steps it was not tuned on (issue 14).

The set is ``benchmarks/data/tagging_heldout.jsonl`` (GSM8K human solutions, miniF2F informal
proofs, o1-style and code CoTs, demo rows; labelled by the guide in ``benchmarks/data/README.md``
before the rules were changed, and fixed since). Bar: accuracy >= 0.85. Printed with it, without
bars: a confusion matrix (rows gold, columns predicted), the accuracy per source, the same figure
on the dev part the rules were tuned on, and the pre-issue-14 tagger (``benchmarks.rules_v1``)
side by side, so that a regression or an overfit shows as a gap.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.report import Report
from benchmarks.rules_v1 import RuleTaggerV1
from generators.tagging import RuleTagger, StepTagger
from schemas.factors import FactorVocabulary, load_factors
from schemas.records import Step

DATA = Path(__file__).resolve().parent / "data"
HELDOUT, DEV = DATA / "tagging_heldout.jsonl", DATA / "tagging_dev.jsonl"
BAR = 0.85


def load_chains(path: Path) -> list[dict[str, Any]]:
    """The labelled chains of one part, one JSON object a line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def predictions(tagger: StepTagger, chains: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(source, gold, predicted) per step; each chain is tagged whole, so positions count as in a pipeline."""
    rows = []
    for chain in chains:
        decisions = tagger.tag([Step(s["text"]) for s in chain["steps"]], chain["problem"])
        rows += [(chain["source"], s["factor"], d.factor) for s, d in zip(chain["steps"], decisions, strict=True)]
    return rows


def accuracy(rows: list[tuple[str, str, str]]) -> float:
    return sum(gold == predicted for _, gold, predicted in rows) / len(rows) if rows else 0.0


def confusion_table(rows: list[tuple[str, str, str]], names: tuple[str, ...]) -> str:
    """Rows gold, columns predicted, with the factor names shortened to fit a terminal."""
    counts = Counter((gold, predicted) for _, gold, predicted in rows)
    short = [n[:7] for n in names]
    lines = ["gold \\ predicted".ljust(16) + "".join(s.rjust(8) for s in short) + "   total"]
    for name in names:
        cells = [counts[(name, other)] for other in names]
        lines.append(name.ljust(16) + "".join(str(c or ".").rjust(8) for c in cells) + str(sum(cells)).rjust(8))
    return "\n".join(lines)


def run(report: Report, vocabulary: FactorVocabulary | None = None) -> None:
    vocabulary = vocabulary or load_factors()
    heldout, dev = load_chains(HELDOUT), load_chains(DEV)
    current = predictions(RuleTagger(vocabulary), heldout)
    print(f"  held-out: {len(current)} steps in {len(heldout)} chains; confusion of the rules tagger:")
    print("\n".join("    " + line for line in confusion_table(current, vocabulary.names).splitlines()))
    report.add("tagging_heldout_accuracy_rules", accuracy(current), ">=", BAR, steps=len(current))
    for source in sorted({s for s, _, _ in current}):
        part = [r for r in current if r[0] == source]
        report.info(f"tagging_heldout_accuracy_rules_{source.replace('-', '_')}", accuracy(part), steps=len(part))
    report.info("tagging_heldout_accuracy_rules_v1", accuracy(predictions(RuleTaggerV1(vocabulary), heldout)),
                steps=len(current))
    dev_rows = predictions(RuleTagger(vocabulary), dev)
    report.info("tagging_dev_accuracy_rules", accuracy(dev_rows), steps=len(dev_rows))
    report.info("tagging_dev_accuracy_rules_v1", accuracy(predictions(RuleTaggerV1(vocabulary), dev)), steps=len(dev_rows))


if __name__ == "__main__":
    bench = Report("out/bench_tagging_accuracy.json")
    run(bench)
    bench.write()
