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

from pipelines.io.counters import balanced

PACKAGES = ("reverse-o1", "apache-beam", "torch", "transformers", "pyarrow", "datasets", "math-verify", "openai")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


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
        "runs": runs,
        "notes": sorted({n for r in runs.values() for n in r.get("notes", [])}),
    }
    tmp = os.path.join(out_dir, "manifest.json.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=False, default=str)
    os.replace(tmp, os.path.join(out_dir, "manifest.json"))
    return manifest
