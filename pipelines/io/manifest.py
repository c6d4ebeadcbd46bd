"""``manifest.json``: per-stage counts that add up, the config, the model, versions, wall time; rows
per command (verified, truncated), and token lengths per column (``token_lengths``, in the embedded
tokenizer's tokens, over a bounded sample; kept as they were while the shards have not changed).

Several commands may write into one output directory (the demo does): each command's stages
are named ``COMMAND/STAGE`` and a new run of a command replaces only that command's entries.
"""

from __future__ import annotations

import logging
import platform
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Any

from pipelines.io import fs
from pipelines.io.footers import OutputStats
from pipelines.io.resume import FOOTER_THREADS, KINDS, shard_files
from pipelines.io.token_lengths import token_lengths
from pipelines.stage.counters import balanced
from schemas.splits import SplitSettings

LICENSE_SOURCES = 200  # sources listed by name in the manifest (and the card); the rest are counted
log = logging.getLogger(__name__)
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


def _shard_sources(path: str) -> Counter[tuple[str, str | None, str | None, str]]:
    """``(uri, license, dataset_license, kind)`` → rows, of one shard (only those columns are read)."""
    columns = ["source_kind", "source.uri", "source.license", "source.dataset_license"]
    try:
        table = fs.read_parquet(path, columns=columns)
    except Exception:  # a shard written before dataset_license existed (or unreadable: counted as nothing)
        try:
            table = fs.read_parquet(path, columns=columns[:3])
        except Exception as exc:
            log.warning("manifest: cannot read the sources of %s: %s", path, exc)
            return Counter()
    names = table.column_names
    get = {name: table.column(name).to_pylist() for name in names}
    rows = zip(*(get.get(c, [None] * table.num_rows) for c in ("uri", "license", "dataset_license", "source_kind")),
               strict=True)
    return Counter((str(uri), lic, dlic, str(kind)) for uri, lic, dlic, kind in rows)


def license_counts(out_dir: str) -> dict[str, Any]:
    """The licences of every row the directory holds (SFT and PRM), for the manifest and the card:
    ``licenses`` (licence → rows; ``null`` for rows whose licence is unknown), ``dataset_licenses``
    (the same for ``source.dataset_license``, where set) and ``sources`` (per source URI and licence
    pair: kind and rows; the first ``LICENSE_SOURCES`` by rows, ``sources_left_out`` saying how many
    more). Read from the shards' ``source`` columns alone."""
    paths = [p for kind in KINDS for p in shard_files(out_dir, kind)]
    total: Counter[tuple[str, str | None, str | None, str]] = Counter()
    with ThreadPoolExecutor(max_workers=min(FOOTER_THREADS, max(1, len(paths)))) as pool:
        for counts in pool.map(_shard_sources, paths):
            total.update(counts)
    licenses: Counter[str | None] = Counter()
    datasets: Counter[str] = Counter()
    for (_uri, lic, dlic, _kind), n in total.items():
        licenses[lic] += n
        if dlic is not None:
            datasets[dlic] += n
    ordered = sorted(total.items(), key=lambda kv: (-kv[1], kv[0][0], str(kv[0][1]), str(kv[0][2])))
    sources = [{"uri": uri, "source_kind": kind, "license": lic, "dataset_license": dlic, "rows": n}
               for (uri, lic, dlic, kind), n in ordered[:LICENSE_SOURCES]]
    return {"licenses": {str(k) if k is not None else "null": v for k, v in sorted(licenses.items(), key=lambda kv: str(kv[0]))},
            "dataset_licenses": dict(sorted(datasets.items())), "sources": sources,
            "sources_left_out": max(0, len(ordered) - LICENSE_SOURCES)}


def generation_counts(stats: OutputStats) -> dict[str, list[dict[str, Any]]]:
    """Who made the rows, for the card: per kind, rows per (backend, model, prompt version, and the
    SFT rows' verifier with how many it verified, or the PRM rows' labelling method), as
    ``output_stats`` summed them from the shards' footers."""
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        for (backend, model, version, how, field), n in stats.generation[kind].items():
            entry = groups.setdefault((backend, model, version, how), {
                "backend": backend, "model": model, "prompt_version": version,
                ("verifier" if kind == "sft" else "method"): how, "rows": 0, **({"verified": 0} if kind == "sft" else {})})
            if field == "rows" or kind == "sft":
                entry[field] += n
        out[kind] = sorted(groups.values(), key=lambda e: (-e["rows"], str(sorted(e.items()))))
    return out


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
    split: SplitSettings | None = None,
    licenses: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge this run of ``command`` into the manifest and write it whole (``fs.write_json``).
    ``licenses``: the folder's ``license_counts`` where the caller has them (read here otherwise)."""
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
        "outputs": {"sft_rows": stats.rows["sft"], "prm_rows": stats.rows["prm"], "trees_rows": stats.rows["trees"],
                    "difficulty_rows": stats.rows["difficulty"], "summaries_rows": stats.rows["summaries"],
                    "dead_letters": dead_letters,
                    "shards": stats.shards, "sft_verified": stats.verified["sft"], "sft_truncated": stats.truncated["sft"]},
        # rows per command that wrote them (from the shards' names): sft_rows, sft_verified, sft_truncated, prm_rows
        "by_command": {c: dict(sorted(n.items())) for c, n in sorted(stats.by_command.items())},
        # rows per kind and split (shard names say the split), for the card's dataset_info
        "splits": {kind: dict(sorted(counts.items())) for kind, counts in stats.splits.items()},
        "split_bytes": {kind: dict(sorted(counts.items())) for kind, counts in stats.split_bytes.items()},
        "split": (split or SplitSettings()).to_dict(),
        "factors": factor_counts(stats) | tagging_counts(all_stages),
        "licenses": license_counts(out_dir) if licenses is None else licenses,
        "generation": generation_counts(stats),
        "token_lengths": token_lengths(out_dir, manifest.get("token_lengths")),
        "runs": runs,
        "notes": sorted({n for r in runs.values() for n in r.get("notes", [])}),
        # damaged shards moved to DIR/.corrupt by the latest run of each command, with the reason
        "set_aside": [rec for r in runs.values() for rec in r.get("set_aside", [])],
        "exports": manifest.get("exports") or {},  # written by `reverse-o1 export`, kept across runs
    }
    fs.write_json(fs.join(out_dir, "manifest.json"), manifest, out_dir)
    return manifest
