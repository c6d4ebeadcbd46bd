"""The Hugging Face dataset card (``README.md``) of an output directory.

Its YAML header lists a ``configs:`` entry per shard kind present, so that
``load_dataset(DIR, "prm")`` works, and the body says what produced the data.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from pipelines.io.resume import count_rows, shard_files

DESCRIPTIONS = {
    "sft": "SFT rows: `messages` (user problem, assistant tagged hidden CoT then answer), `steps`, `verified`.",
    "prm": "PRM rows in TRL's stepwise-supervision format: `prompt`, `completions`, `labels`; "
    "plus `soft_labels`, `rollouts`, `correct_rollouts`, `method`.",
}


def render(out_dir: str, manifest: dict[str, Any]) -> str:
    kinds = [k for k in ("sft", "prm") if shard_files(out_dir, k)]
    header: dict[str, Any] = {
        "configs": [{"config_name": k, "data_files": [{"split": "train", "path": f"{k}/*.parquet"}]} for k in kinds],
        "tags": ["synthetic", "chain-of-thought", "process-reward-model", "reverse-o1"],
        "task_categories": ["text-generation"],
    }
    lines = ["---", yaml.safe_dump(header, sort_keys=False).strip(), "---", "", "# reverse-o1 dataset", ""]
    lines += ["Made by [reverse-o1](https://pypi.org/project/reverse-o1/) pipelines; counts from `manifest.json`.", ""]
    lines += ["| config | rows | what |", "|---|---|---|"]
    lines += [f"| `{k}` | {count_rows(out_dir, k)} | {DESCRIPTIONS[k]} |" for k in kinds]
    lines += ["", "## Load", "", "```python", "from datasets import load_dataset"]
    lines += [f'{k} = load_dataset("{os.path.basename(os.path.abspath(out_dir))}", "{k}", split="train")' for k in kinds]
    lines += ["```", "", "## Provenance", ""]
    lines.append(f"- model: `{manifest.get('model')}`")
    for command, run in sorted(manifest.get("runs", {}).items()):
        lines.append(f"- `{command}`: {run.get('wall_seconds')} s; config `{_short(run.get('config', {}))}`")
    lines += ["", "## Stages (read = written + filtered + dead-lettered)", ""]
    lines += ["| stage | read | written | filtered | dead-lettered |", "|---|---|---|---|---|"]
    for stage, entry in manifest.get("stages", {}).items():
        filtered = ", ".join(f"{k}: {v}" for k, v in sorted(entry["filtered"].items())) or "0"
        lines.append(f"| {stage} | {entry['read']} | {entry['written']} | {filtered} | {entry['dead_lettered']} |")
    notes = manifest.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _short(config: dict[str, Any]) -> str:
    keys = ("backend", "model", "method", "n", "temperature", "max_new_tokens", "seed")
    return ", ".join(f"{k}={config[k]}" for k in keys if k in config)


def write(out_dir: str, manifest: dict[str, Any]) -> None:
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as handle:
        handle.write(render(out_dir, manifest))
