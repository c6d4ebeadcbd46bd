"""``manifest.json``: per-stage counts that add up, the config, the model, versions, wall time.

Several commands may write into one output directory (the demo does): each command's stages
are named ``COMMAND/STAGE`` and a new run of a command replaces only that command's entries.
"""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.io.counters import balanced
from pipelines.io.resume import shard_files

PACKAGES = ("reverse-o1", "apache-beam", "torch", "transformers", "pyarrow", "datasets", "math-verify", "openai")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


UNTAGGED = "(untagged)"


def factor_counts(out_dir: str) -> dict[str, Any]:
    """Steps per thought factor, overall and per source kind, in the SFT rows the directory holds.

    Read from the shards rather than summed from counters, so that a resumed run (whose rows
    were tagged by an earlier one) still reports the whole dataset.
    """
    by_kind: dict[str, dict[str, int]] = {}
    for path in shard_files(out_dir, "sft"):
        table = pq.read_table(path, columns=["source_kind", "steps"])
        steps = table.column("steps").combine_chunks()
        if len(steps) == 0:
            continue
        kinds = pc.take(table.column("source_kind").combine_chunks(), pc.list_parent_indices(steps))
        factors = pc.fill_null(pc.struct_field(pc.list_flatten(steps), "factor"), UNTAGGED)
        grouped = pa.table({"kind": kinds, "factor": factors}).group_by(["kind", "factor"]).aggregate([([], "count_all")])
        for kind, factor, n in zip(*(grouped.column(c).to_pylist() for c in ("kind", "factor", "count_all")), strict=True):
            entry = by_kind.setdefault(str(kind), {})
            entry[factor] = entry.get(factor, 0) + n
    by_factor: dict[str, int] = {}
    for counts in by_kind.values():
        for factor, n in counts.items():
            by_factor[factor] = by_factor.get(factor, 0) + n
    return {
        "steps": sum(by_factor.values()),
        "by_factor": dict(sorted(by_factor.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_source_kind": {k: dict(sorted(v.items())) for k, v in sorted(by_kind.items())},
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
    path = os.path.join(out_dir, "manifest.json")
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError):
        return {}  # a manifest cut short by a crash is rebuilt


def update(
    out_dir: str,
    command: str,
    stages: dict[str, dict[str, Any]],
    config: dict[str, Any],
    model: str | None,
    wall_seconds: float,
    outputs: dict[str, Any],
    notes: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge this run of ``command`` into the manifest and write it atomically."""
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
        "outputs": outputs,
        "factors": factor_counts(out_dir) | tagging_counts(all_stages),
        "runs": runs,
        "notes": sorted({n for r in runs.values() for n in r.get("notes", [])}),
    }
    tmp = os.path.join(out_dir, "manifest.json.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=False, default=str)
    os.replace(tmp, os.path.join(out_dir, "manifest.json"))
    return manifest
