"""``manifest.json``: per-stage counts that add up, the config, the model, versions, wall time.

Several commands may write into one output directory (the demo does): each command's stages
are named ``COMMAND/STAGE`` and a new run of a command replaces only that command's entries.
"""

from __future__ import annotations

import platform
from collections import Counter
from importlib import metadata
from typing import Any

from pipelines.io import fs
from pipelines.io.counters import balanced
from pipelines.io.resume import OutputStats

PACKAGES = ("reverse-o1", "apache-beam", "torch", "transformers", "pyarrow", "datasets", "math-verify", "openai")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def factor_counts(stats: OutputStats) -> dict[str, Any]:
    """Steps per thought factor, overall and per source kind, in the SFT rows the directory holds.

    Summed from the shards' footers rather than from this run's counters, so that a resumed run
    (whose rows were tagged by an earlier one) still reports the whole dataset.
    """
    by_factor: Counter[str] = Counter()
    for counts in stats.factors.values():
        by_factor.update(counts)
    return {
        "steps": sum(by_factor.values()),
        "by_factor": dict(sorted(by_factor.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_source_kind": {k: dict(sorted(v.items())) for k, v in sorted(stats.factors.items())},
    }


def tagging_counts(stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Who chose the factors (``tier:*`` stats) and LLM answers that fell back to the rules, over all stages."""
    tiers: dict[str, int] = {}
    fallbacks = 0
    for entry in stages.values():
        for name, n in entry.get("stats", {}).items():
            if name.startswith("tier:"):
                tiers[name[5:]] = tiers.get(name[5:], 0) + n
            elif name == "llm_fallbacks":
                fallbacks += n
    return {"tiers": dict(sorted(tiers.items())), "llm_fallbacks": fallbacks}


def load(out_dir: str) -> dict[str, Any]:
    path = fs.join(out_dir, "manifest.json")
    try:
        return fs.read_json(path) if fs.exists(path) else {}
    except (OSError, ValueError):
        return {}  # a manifest cut short by a crash is rebuilt


def update(
    out_dir: str,
    command: str,
    stages: dict[str, dict[str, Any]],
    config: dict[str, Any],
    model: str | None,
    wall_seconds: float,
    stats: OutputStats,
    dead_letters: int,
    notes: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge this run of ``command`` into the manifest and write it whole (``fs.write_json``)."""
    manifest = load(out_dir)
    all_stages = {k: v for k, v in manifest.get("stages", {}).items() if not k.startswith(command + "/")}
    for stage, entry in stages.items():
        all_stages[f"{command}/{stage}"] = entry | {"balanced": balanced(entry)}
    runs = manifest.get("runs", {})
    runs[command] = {
        "config": config,
        "model": model,
        "wall_seconds": round(wall_seconds, 3),
        "notes": notes or [],
        **(extra or {}),
    }
    manifest = {
        "stages": dict(sorted(all_stages.items())),
        "config": config,
        "model": model,
        "versions": package_versions(),
        "wall_seconds": round(sum(r["wall_seconds"] for r in runs.values()), 3),
        "outputs": {"sft_rows": stats.rows["sft"], "prm_rows": stats.rows["prm"], "dead_letters": dead_letters,
                    "shards": stats.shards},
        "factors": factor_counts(stats) | tagging_counts(all_stages),
        "runs": runs,
        "notes": sorted({n for r in runs.values() for n in r.get("notes", [])}),
        # damaged shards moved to DIR/.corrupt by the latest run of each command, with the reason
        "set_aside": [rec for r in runs.values() for rec in r.get("set_aside", [])],
    }
    fs.write_json(fs.join(out_dir, "manifest.json"), manifest, out_dir)
    return manifest
