"""TRL 1.13.0's ``PRMTrainer`` (the last TRL that has one) takes ``export prm``'s ``prm_trl`` config as it is
(the ``prm`` config keeps null labels where nothing measured a step, which TRL cannot take).

It reads ``prompt``, ``completions`` and ``labels`` (TRL's stepwise-supervision format) and its
tokenizing ``map`` removes every other column (``soft_labels``, ``rollouts``, ``source``, ...).
Current TRL is in the venv, so 1.13.0 lives in ``.venv/trl-1.13.0`` (installed ``--no-deps`` by
the Makefile) and runs in a subprocess with that folder first on PYTHONPATH.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.train, pytest.mark.model]

TRL_PRM = Path(sys.prefix) / "trl-1.13.0"  # sys.prefix: the venv
SCRIPT = Path(__file__).with_name("prm_train.py")


def test_prm_trainer_on_the_prm_rows(expand_output: Path, embedded_model_dir: Path, tmp_path: Path) -> None:
    if not (TRL_PRM / "trl" / "experimental" / "prm").is_dir():
        pytest.skip(f"TRL 1.13.0 (PRMTrainer) is not in {TRL_PRM}; `make` installs it there with --no-deps")
    env = {**os.environ, "PYTHONPATH": str(TRL_PRM), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf-home"), "TRL_EXPERIMENTAL_SILENCE": "1"}
    cmd = [sys.executable, str(SCRIPT), str(expand_output), str(embedded_model_dir), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["trl"] == "1.13.0" and Path(report["trl_file"]).is_relative_to(TRL_PRM)
    assert report["rows"] >= 2 and {"prompt", "completions", "labels"} <= set(report["columns"])
    assert sorted(report["prepared_columns"]) == ["input_ids", "labels"]  # the other columns are dropped
    assert report["labelled_tokens_per_row"] == report["steps_per_row"]  # one label per step, none truncated
    losses = report["losses"]
    assert len(losses) == 2 and all(math.isfinite(x) and x > 0 for x in losses), losses
    print(f"\nprm: PRMTrainer (TRL {report['trl']}) losses {losses}")
    assert report["head_changed"]
