"""Per-stage accounting through Beam metrics: read = written + filtered + dead-lettered.

Counters live in one namespace with names ``STAGE|read``, ``STAGE|written``,
``STAGE|filtered|REASON``, ``STAGE|dead_lettered`` (with ``STAGE|dead_reason|REASON`` beside it, outside
the balance), ``STAGE|resumed`` (rows already in the
output from an earlier run, which count as written), so the manifest can be rebuilt from the
pipeline result on any runner that reports committed or attempted metrics.
"""

from __future__ import annotations

from typing import Any

from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

NAMESPACE = "reverse_o1"


class StageCounters:
    """Counters of one stage; create in a DoFn's ``__init__`` (they pickle by name)."""

    def __init__(self, stage: str):
        self.stage = stage
        self._read = Metrics.counter(NAMESPACE, f"{stage}|read")
        self._written = Metrics.counter(NAMESPACE, f"{stage}|written")
        self._dead = Metrics.counter(NAMESPACE, f"{stage}|dead_lettered")
        self._resumed = Metrics.counter(NAMESPACE, f"{stage}|resumed")

    def read(self, n: int = 1) -> None:
        self._read.inc(n)

    def written(self, n: int = 1) -> None:
        self._written.inc(n)

    def resumed(self, n: int = 1) -> None:
        """Already in the output from an earlier run: counted as written, and noted."""
        self._written.inc(n)
        self._resumed.inc(n)

    def dead_lettered(self, reason: str | None = None, n: int = 1) -> None:
        """Counted in the balance, and by reason (``STAGE|dead_reason|REASON``) for the console's hints."""
        self._dead.inc(n)
        if reason:
            Metrics.counter(NAMESPACE, f"{self.stage}|dead_reason|{reason}").inc(n)

    def filtered(self, reason: str, n: int = 1) -> None:
        Metrics.counter(NAMESPACE, f"{self.stage}|filtered|{reason}").inc(n)

    def extra(self, name: str, n: int = 1) -> None:
        """A stage statistic outside the balance (tokens, rollouts without an answer...)."""
        Metrics.counter(NAMESPACE, f"{self.stage}|stat|{name}").inc(n)


def empty_stage() -> dict[str, Any]:
    return {"read": 0, "written": 0, "filtered": {}, "dead_lettered": 0, "resumed": 0, "stats": {}}


def stage_counts(result: Any) -> dict[str, dict[str, Any]]:
    """Per-stage counts from a finished pipeline's metrics (empty when the runner has none)."""
    return read_stage_counts(result)[0]


def read_stage_counts(result: Any) -> tuple[dict[str, dict[str, Any]], str]:
    """Per-stage counts from a finished pipeline's metrics (committed where supported), and where
    they came from: ``metrics:committed`` / ``metrics:attempted``, or ``unavailable: ...`` for a
    runner that returns none (the manifest's outputs are then the only counts)."""
    stages: dict[str, dict[str, Any]] = {}
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except Exception as exc:  # a runner without a metrics API
        return {}, f"unavailable: {type(exc).__name__}: {exc}"
    if not counters:
        return {}, "unavailable: the runner returned no metrics"
    source = "metrics:committed" if all(c.committed is not None for c in counters) else "metrics:attempted"
    for counter in counters:
        value = counter.committed if counter.committed is not None else counter.attempted
        stage, kind, *rest = counter.key.metric.name.split("|")
        entry = stages.setdefault(stage, empty_stage())
        if kind == "filtered":
            entry["filtered"][rest[0]] = entry["filtered"].get(rest[0], 0) + value
        elif kind == "stat":
            entry["stats"][rest[0]] = entry["stats"].get(rest[0], 0) + value
        elif kind == "dead_reason":
            reasons = entry.setdefault("dead_reasons", {})
            reasons[rest[0]] = reasons.get(rest[0], 0) + value
        else:
            entry[kind] += value
    return stages, source


def balanced(entry: dict[str, Any]) -> bool:
    return entry["read"] == entry["written"] + sum(entry["filtered"].values()) + entry["dead_lettered"]
