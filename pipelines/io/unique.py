"""One of each key: the first input (by input order) goes on, the others are counted with a reason.

Used where identical inputs must give one row: seeds sharing an id (the later ones are dead
letters, ``duplicate_id``: an annotator's mistake to see) and tag inputs whose content gives the
same row id (the later ones are filtered, ``duplicate``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from pipelines.io.stage import DEAD, Filtered, Rejected, Stage

Order = tuple[int, int]


class KeepFirstFn(Stage):
    """``(key, [(order, value), ...])`` → the value first in order; the rest filtered or dead-lettered.

    With ``counts_read=False`` the stage's reads were counted by the step that made the keys."""

    per_item = True

    def __init__(self, stage: str, dead_letter_duplicates: bool, counts_read: bool):
        super().__init__(stage)
        self.dead_letter_duplicates = dead_letter_duplicates
        self.counts_read = counts_read

    def ref(self, element: tuple[str, Any]) -> str:
        return element[0]

    def run(self, element: tuple[str, Iterable[tuple[Order, Any]]]) -> Iterator[Any]:
        key, group = element
        ordered = sorted(group, key=lambda item: item[0])
        first = ordered[0][1]
        yield first
        for _order, dup in ordered[1:]:
            if self.dead_letter_duplicates:
                error = f"duplicate id {key!r}; first seen at {getattr(first, 'ref', '')}"
                yield Rejected("duplicate_id", error, key, ref=getattr(dup, "ref", key))
            else:
                yield Filtered("duplicate")


class KeepFirst(beam.PTransform):
    """``(key, (order, value))`` pairs → ``{"kept": values, "dead": DeadLetters}``."""

    def __init__(self, stage: str, dead_letter_duplicates: bool = False, counts_read: bool = True):
        super().__init__()
        self.fn = KeepFirstFn(stage, dead_letter_duplicates, counts_read)

    def expand(self, pairs: beam.PCollection) -> dict[str, beam.PCollection]:
        out = pairs | "ById" >> beam.GroupByKey() | "KeepFirst" >> beam.ParDo(self.fn).with_outputs(DEAD, main="kept")
        return {"kept": out.kept, DEAD: out[DEAD]}
