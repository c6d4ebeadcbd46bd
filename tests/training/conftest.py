"""A real output folder for the trainer tests: ``reverse-o1 expand`` with the embedded model.

Made once per session (about a minute on two cores): two one-step word problems
(``tests/fixtures/easy_seeds.jsonl``, written for these tests), a tiny search from one cut each.
They are easy enough that the 135M model gets some answers right and some wrong, so the folder
holds verified and unverified SFT rows, PRM rows with both labels, and preference pairs, else the
trainer tests would prove little.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "easy_seeds.jsonl"
EXPAND = ["--cuts", "random:1", "--simulations", "3", "--branching", "2", "--max-depth", "3", "--max-new-tokens", "48",
          "--threads", "1"]


@pytest.fixture(scope="session")
def expand_output(embedded_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``DIR`` of ``reverse-o1 expand`` on two seeds: ``sft/`` and ``prm/`` shards and the dataset card."""
    from pipelines.cli import main

    root = tmp_path_factory.mktemp("training-data")
    seeds = SEEDS
    out = root / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVERSE_O1_NO_PROGRESS", "1")
        patch.setenv("HF_HUB_OFFLINE", "1")
        assert main(["expand", "--seeds", str(seeds), "--out", str(out), *EXPAND]) == 0
    for kind in ("sft", "prm"):
        assert glob.glob(os.path.join(out, kind, "*.parquet")), f"expand wrote no {kind} rows"
    assert (out / "README.md").is_file()
    # a search this small has few nodes of 2+ visits: the q-gap rule gives the trainer pairs (same columns as rstar's)
    assert main(["export", "pairs", str(out), "--rule", "q-gap", "--min-visits", "1", "--min-margin", "0.1"]) == 0
    # every method's rows (mcts here), each cut before its first unmeasured step: TRL needs a label per step
    assert main(["export", "prm", str(out), "--method", "all", "--unmeasured", "cut"]) == 0
    return out


@pytest.fixture
def datasets_cache(tmp_path: Path) -> Path:
    """Passed as ``cache_dir`` so that ``load_dataset`` never writes under ``~/.cache``."""
    return tmp_path / "hf-datasets"
