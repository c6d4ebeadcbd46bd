"""The demo end to end on the real embedded model (kept tiny: one problem, two rollouts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import load_dataset

from tests.pipelines.helpers import assert_balanced, prm_rows, run


@pytest.mark.model
def test_demo_labels_a_gsm8k_problem_with_the_embedded_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert run(["demo", "--out", out, "--problems", "1", "--n", "2", "--max-new-tokens", "24"]) == 0
    printed = capsys.readouterr().out
    assert "mean soft label" in printed and "label/label" in printed
    [row] = prm_rows(out)
    assert row["generator"]["model"] == "SmolLM2-135M-Instruct" and row["generator"]["backend"] == "transformers"
    assert all(0.0 <= v <= 1.0 for v in row["soft_labels"])
    assert assert_balanced(out)["stages"]["label/label"]["stats"]["generated_tokens"] > 0
    dataset = load_dataset(str(out), "prm", split="train")
    assert dataset.column_names[:3] == ["prompt", "completions", "labels"]
    assert (out / "seeds.jsonl").exists() and (out / "README.md").read_text().startswith("---\nconfigs:")
