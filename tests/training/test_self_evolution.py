"""Two tiny rounds of self-evolution on the embedded model (``tools/evolve.py``, what ``make evolve`` runs):
expand → export prm → TRL 1.13's PRMTrainer → expand with ``--value-model`` the PRM just trained → again.
A few training steps each: the point is that the loop is wired, not that 135M learns."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from generators.reward.spec import parse_spec
from tests.training.conftest import SEEDS

ROOT = Path(__file__).resolve().parents[2]
TRL_PRM = Path(sys.prefix) / "trl-1.13.0"
EXPAND = ["--cuts", "first", "--simulations", "2", "--branching", "2", "--max-depth", "3", "--max-new-tokens", "32",
          "--threads", "1"]


def rows(folder: Path, kind: str) -> list[dict]:
    return [r for p in sorted(glob.glob(str(folder / kind / "*.parquet"))) for r in pq.read_table(p).to_pylist()]


def test_two_rounds_of_self_evolution(embedded_model_dir: Path, tmp_path: Path) -> None:
    if not (TRL_PRM / "trl" / "experimental" / "prm").is_dir():
        pytest.skip(f"TRL 1.13.0 (PRMTrainer) is not in {TRL_PRM}; `make` installs it there with --no-deps")
    out = tmp_path / "evolve"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "REVERSE_O1_NO_PROGRESS": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "evolve.py"), "--seeds", str(SEEDS), "--out", str(out),
                           "--rounds", "2", "--prm-steps", "2", "--value-mix", "0.5", "--", *EXPAND],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    first, second = summary["rounds"]
    assert first["value_model"] is None and second["value_model"] == str(out / "prm1")
    assert first["prm_trl_rows"] > 0 and second["prm_trl_rows"] > 0 and all(f for f in first["losses"] + second["losses"])
    # round 2's search took its values from round 1's PRM, and its rows say so
    name = parse_spec(str(out / "prm1")).identity  # the folder's name and a digest of its config and weights
    assert name.startswith("prm:prm1@")
    tree = rows(out / "round2", "trees")
    assert {r["value_model"] for r in tree} == {name} and {r["value_mix"] for r in tree} == {0.5}
    assert any(r["score"] is not None and 0.0 <= r["score"] <= 1.0 for r in tree)
    assert {r["value_model"] for r in rows(out / "round2", "prm")} == {name}
    assert {r["value_model"] for r in rows(out / "round1", "prm")} == {None}
    # the last PRM is one the next round can use
    assert parse_spec(summary["last_prm"]).kind == "prm"
    assert json.loads((out / "prm2" / "train_report.json").read_text())["trl"] == "1.13.0"
    assert "expand" in done.stderr and "train_prm.py" in done.stderr  # each command printed as it runs


def test_evolve_refuses_bad_arguments(tmp_path: Path) -> None:
    for args in (["--seeds", str(tmp_path / "none.jsonl"), "--out", str(tmp_path)],
                 ["--seeds", str(SEEDS), "--out", str(tmp_path), "--rounds", "0"],
                 ["--seeds", str(SEEDS), "--out", str(tmp_path), "--value-mix", "2"]):
        done = subprocess.run([sys.executable, str(ROOT / "tools" / "evolve.py"), *args], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 2 and "error" in done.stderr and "Traceback" not in done.stderr
