"""The human-label file: appended atomically, bad lines kept as they are and skipped when read."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.studio.label_file import LabelFile
from schemas.human_labels import HumanLabel


def label(step: int, verdict: str, who: str = "ann") -> HumanLabel:
    return HumanLabel(row_id="r1", problem_id="s1", step=step, label=verdict, annotator=who, time="", step_text="t")


def test_appends_keep_the_old_bytes_and_later_lines_win(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    old = b'{"row_id": "r0", "step": 0, "label": "wrong", "annotator": "x"}\nnot json\n\xff\xfe broken'
    path.write_bytes(old)
    store = LabelFile(str(path))
    written = store.append([label(0, "wrong"), label(1, "correct")])
    written += store.append([label(0, "correct")])
    data = path.read_bytes()
    assert data.startswith(old + b"\n") and data.endswith(b"\n")
    assert data[len(old) + 1:].decode().splitlines() == written
    labels, bad = store.read()
    assert len(labels) == 4 and bad == 2
    assert store.for_row("r1") == {0: {"ann": "correct"}, 1: {"ann": "correct"}}
    assert all(json.loads(line)["time"].endswith("Z") for line in written)
