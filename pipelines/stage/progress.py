"""Progress bars for long local runs: tqdm on stderr, only where stderr is a terminal and
``--quiet`` was not given (the CLI sets ``REVERSE_O1_NO_PROGRESS`` for the workers it starts).

The stage kernel (``stage.py``) keeps one bar per stage, counting the elements it reads; on a
cluster, stderr is no terminal and nothing is drawn.
"""

from __future__ import annotations

import sys

from generators.backends.console import NO_PROGRESS, show_progress

__all__ = ["NO_PROGRESS", "Progress"]


class Progress:
    def __init__(self, description: str, unit: str = "item"):
        self._bar = None
        if show_progress():
            from tqdm import tqdm

            self._bar = tqdm(desc=description, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
