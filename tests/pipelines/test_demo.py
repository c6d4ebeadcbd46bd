"""The demo end to end on the real embedded model (kept tiny: one problem, two rollouts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import load_dataset

from tests.pipelines.conftest import DemoOutput
from tests.pipelines.helpers import assert_balanced, prm_rows


@pytest.mark.model
def test_demo_labels_a_gsm8k_problem_with_the_embedded_model(tmp_path: Path, demo_output: DemoOutput) -> None:
    out = demo_output.out
    assert demo_output.code == 0
    printed = demo_output.stdout
    assert "export pairs:" in demo_output.stderr  # the demo ends with its preference pairs
    assert "mean soft label" in printed and "label/label" in printed and "expand/expand" in printed
    rows = prm_rows(out)
    [row] = [r for r in rows if r["method"] == "shepherd"]
    assert row["generator"]["model"] == "SmolLM2-135M-Instruct" and row["generator"]["backend"] == "transformers"
    assert all(0.0 <= v <= 1.0 for v in row["soft_labels"])
    data = assert_balanced(out)
    assert data["stages"]["label/label"]["stats"]["generated_tokens"] > 0
    expand = data["stages"]["expand/expand"]
    assert expand["written"] == 1 and expand["stats"]["simulations"] == 3 and expand["stats"]["generated_tokens"] > 0
    mcts = [r for r in rows if r["method"] == "mcts"]
    assert len(mcts) == data["stages"]["expand/trajectories"]["written"]
    lean = data["stages"]["lean-cot/lean_cot"]
    assert lean["read"] == 2 and lean["stats"]["generated_tokens"] > 0 and "lean-cot/lean_cot" in printed
    wrong = (out / "wrong_trajectories.jsonl")
    if wrong.exists():  # the 135M model usually gets some wrong: those are binary-searched
        assert "label-binary" in data["runs"] and "expand (mcts)" in printed
        assert [r for r in rows if r["method"] == "binary"]
    dataset = load_dataset(str(out), "prm", split="train", cache_dir=str(tmp_path / "hf"))
    assert dataset.column_names[:3] == ["prompt", "completions", "labels"]
    card = (out / "README.md").read_text()
    assert (out / "seeds.jsonl").exists() and card.startswith("---\npretty_name:") and "\nconfigs:\n" in card
