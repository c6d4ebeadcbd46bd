"""Progress bars for long local runs (tqdm on stderr, quiet when stderr is not a terminal)."""

from __future__ import annotations

import os
import sys


class Progress:
    def __init__(self, description: str, unit: str = "item"):
        self._bar = None
        if sys.stderr.isatty() and not os.environ.get("REVERSE_O1_NO_PROGRESS"):
            from tqdm import tqdm

            self._bar = tqdm(desc=f"{description} [pid {os.getpid()}]", unit=unit, file=sys.stderr, leave=False)

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
