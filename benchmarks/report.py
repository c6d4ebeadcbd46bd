"""One line per figure, ``bench: NAME = VALUE (bar OP LIMIT)``, and ``out/bench.json``."""

from __future__ import annotations

import json
import operator
import os
from typing import Any

OPS = {">=": operator.ge, "<=": operator.le}


class Report:
    def __init__(self, path: str = "out/bench.json"):
        self.path = path
        self.figures: dict[str, dict[str, Any]] = {}

    def add(self, name: str, value: float, op: str, limit: float, **details: Any) -> None:
        ok = OPS[op](value, limit)
        self.figures[name] = {"value": round(value, 4), "bar": f"{op} {limit}", "ok": ok, **details}
        print(f"bench: {name} = {value:.3f} (bar {op} {limit}){'' if ok else '  ** below bar **'}", flush=True)

    def info(self, name: str, value: float, **details: Any) -> None:
        """A figure the SPEC sets no bar for: printed and recorded, never failing the run."""
        self.figures[name] = {"value": round(value, 4), "bar": None, "ok": True, **details}
        print(f"bench: {name} = {value:.3f} (no bar)", flush=True)

    def skip(self, name: str, op: str, limit: float, reason: str) -> None:
        """A figure that could not be measured here: recorded with its reason and no value, not failing the run."""
        self.figures[name] = {"value": None, "bar": f"{op} {limit}", "ok": True, "skipped": reason}
        print(f"bench: {name} skipped ({reason})", flush=True)

    def write(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        existing: dict[str, Any] = {}
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as handle:
                existing = json.load(handle)
        with open(self.path, "w", encoding="utf-8") as handle:
            json.dump(existing | self.figures, handle, indent=2)
