"""The dataset card of an output folder, read by ``huggingface_hub`` and ``datasets`` as the Hub would,
and its snippets run as written from another folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard

from schemas.arrow import PRM_SCHEMA, SFT_SCHEMA, STEP_PAIR_SCHEMA
from tests.pipelines.helpers import assert_balanced, manifest, run, scripted, seed, write_jsonl

POLICY = scripted(
    [("BAD", "So it is 7.\nThe answer is 7."), ("Write the", ["Add the two numbers.", "BAD guess: multiply them."])],
    default="So 40 + 2 = 42.\nThe answer is 42.",
)
SMALL = ["--simulations", "4", "--c-puct", "4", "--branching", "2", "--max-depth", "4"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("card")
    file = write_jsonl(tmp / "seeds.jsonl", [seed(i, [f"Start with {i}.", "The answer is 42."], problem=f"Add {i}?")
                                             for i in range(8)])
    (tmp / "LICENSE").write_text("MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining "
                                 "a copy of this software\n", encoding="utf-8")
    out = tmp / "out"
    assert run(["expand", "--seeds", file, "--out", out, "--backend", "scripted", "--model", POLICY, *SMALL,
                "--test-fraction", "0.5"]) == 0
    assert run(["export", "pairs", out]) == 0
    return out


def test_the_card_has_every_field_and_matches_the_data(folder: Path) -> None:
    card = DatasetCard.load(folder / "README.md")
    data = card.data.to_dict()
    for field in ("pretty_name", "license", "language", "size_categories", "task_categories", "configs", "dataset_info"):
        assert data.get(field), field
    assert data["size_categories"] == ["n<1K"] and data["language"] == ["en"]
    configs = {c["config_name"]: {f["split"]: f["path"] for f in c["data_files"]} for c in data["configs"]}
    assert configs["sft"] == {"train": "sft/*.train.parquet", "test": "sft/*.test.parquet"}
    assert set(configs) == {"sft", "prm", "trees", "pairs_step", "pairs_trajectory"}
    info = {c["config_name"]: c for c in data["dataset_info"]}
    counts = manifest(folder)["splits"]
    for kind, schema in (("sft", SFT_SCHEMA), ("prm", PRM_SCHEMA), ("pairs_step", STEP_PAIR_SCHEMA)):
        splits = {s["name"]: s["num_examples"] for s in info[kind]["splits"]}
        loaded = datasets.load_dataset(str(folder), kind)
        assert splits == {s: len(d) for s, d in loaded.items()}
        if kind in counts:
            assert splits == {s: n for s, n in counts[kind].items() if n}
        assert loaded["train"].features == datasets.Features.from_arrow_schema(schema)
    body = card.text
    for section in ("## Splits", "## Load", "## Verified rows", "## How the step labels were made", "## Tags",
                    "## Provenance", "## Stages", "<ACT_Compute-Start>", "mcts_step/v1"):
        assert section in body, section


def test_the_snippets_run_as_written_from_another_folder(folder: Path, tmp_path: Path) -> None:
    text = (folder / "README.md").read_text(encoding="utf-8")
    snippets = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(snippets) >= 2
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    for code in snippets:
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{code}\n{done.stderr[-2000:]}"


def test_only_verified_filters_sft_rows_with_a_reason(tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "seeds.jsonl", [seed(i, [f"Start with {i}.", "The answer is 42."]) for i in range(2)])
    out = tmp_path / "out"
    assert run(["expand", "--seeds", file, "--out", out, "--backend", "scripted", "--model", POLICY, *SMALL,
                "--only-verified"]) == 0
    rows = [r for p in (out / "sft").glob("*.parquet") for r in datasets.Dataset.from_parquet(str(p))]
    assert rows and all(r["verified"] for r in rows)
    data = assert_balanced(out)
    assert data["stages"]["expand/trajectories"]["stats"]["sft_unverified_left_out"] > 0
    prm = datasets.load_dataset(str(out), "prm", split="train", cache_dir=str(tmp_path / "hf"))
    assert not all(prm["answer_correct"])  # PRM rows keep both: wrong trajectories label steps too
    # a rerun finds every seed done (its state names only the rows written), searching nothing again
    assert run(["expand", "--seeds", file, "--out", out, "--backend", "scripted", "--model", POLICY, *SMALL,
                "--only-verified"]) == 0
    assert assert_balanced(out)["stages"]["expand/expand"]["resumed"] == 2


def test_the_card_features_are_datasets_own_yaml_form() -> None:
    import pyarrow as pa

    from pipelines.io.card import features_yaml
    from schemas.arrow import SCHEMAS, STEP_PAIR_SCHEMA, TRAJECTORY_PAIR_SCHEMA

    openrlhf = pa.schema([("input", pa.string()), ("value", pa.list_(pa.float64())), ("id", pa.string())])
    for schema in (*SCHEMAS.values(), TRAJECTORY_PAIR_SCHEMA, STEP_PAIR_SCHEMA, openrlhf):
        assert features_yaml(schema) == datasets.Features.from_arrow_schema(schema)._to_yaml_list()


def test_every_config_has_example_rows_that_load(folder: Path) -> None:
    """Three rows of each config (rows and exports alike) as JSON, with the config's own columns."""
    from tests.pipelines.io.test_card_truth import example_blocks

    text = (folder / "README.md").read_text(encoding="utf-8")
    shown = example_blocks(text)
    assert set(shown) == {"sft", "prm", "trees", "pairs_step", "pairs_trajectory"}
    for name, rows in shown.items():
        loaded = datasets.load_dataset(str(folder), name, split="train")
        assert len(rows) == min(3, loaded.num_rows) and all(list(r) == loaded.column_names for r in rows), name
