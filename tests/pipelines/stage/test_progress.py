"""The stage kernel's progress bar: one per stage, counting finished elements, only on a terminal."""

from __future__ import annotations

import io
import pickle
import sys

import pytest

from pipelines.stage.kernel import Filtered, Stage
from pipelines.stage.progress import NO_PROGRESS


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Halve(Stage):
    def run(self, element: int) -> object:
        if element % 2:
            return Filtered("odd")
        if element < 0:
            raise ValueError("negative")
        return element // 2


def _drive(stage: Stage, elements: list[int]) -> list[object]:
    out: list[object] = []
    for element in elements:
        out.extend(stage.process(element))
    return out


def test_a_bar_counts_every_finished_element_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.delenv(NO_PROGRESS, raising=False)
    stage = Halve("halve")
    _drive(stage, [2, 3, -4, 8])  # written, filtered, dead-lettered, written
    bar = stage.__dict__["_bar"]._bar
    assert bar.n == 4 and bar.desc.startswith("halve")
    assert "_bar" not in pickle.loads(pickle.dumps(stage)).__dict__  # a bar never travels to a worker
    stage.finish_bundle()
    assert "_bar" not in stage.__dict__ and "halve" in screen.getvalue()


@pytest.mark.parametrize("quiet", [True, False])
def test_no_bar_when_quiet_or_not_a_terminal(monkeypatch: pytest.MonkeyPatch, quiet: bool) -> None:
    monkeypatch.setattr(sys, "stderr", Terminal() if quiet else io.StringIO())
    if quiet:
        monkeypatch.setenv(NO_PROGRESS, "1")
    stage = Halve("halve")
    assert _drive(stage, [2, 4]) == [1, 2]
    assert stage.__dict__["_bar"]._bar is None
    assert sys.stderr.getvalue() == ""
