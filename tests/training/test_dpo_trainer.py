"""Current TRL's ``DPOTrainer`` takes ``export pairs``' configs as they are: the conversational
``pairs_trajectory`` (verified against unverified answers) and the plain-text ``pairs_step`` (two
candidate next steps of one MCTS node, higher Q chosen). No column is renamed or dropped by hand."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.train, pytest.mark.model]

trl = pytest.importorskip("trl", reason="TRL is not installed (pip install -e '.[train]')")


def dpo(model_dir: Path, data_dir: Path, config: str, cache: Path, output_dir: Path) -> tuple[Any, Any]:
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    dataset = load_dataset(str(data_dir), config, split="train", cache_dir=str(cache))
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    args = DPOConfig(output_dir=str(output_dir), max_steps=2, per_device_train_batch_size=2, logging_steps=1, report_to=[],
                     use_cpu=True, bf16=False, activation_checkpointing=False, save_strategy="no", max_length=512,
                     learning_rate=1e-5, disable_tqdm=True,
                     seed=0)
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    return trainer, dataset


@pytest.mark.parametrize("config", ["pairs_trajectory", "pairs_step"])
def test_dpo_trainer_on_the_pairs(config: str, expand_output: Path, embedded_model_dir: Path, datasets_cache: Path,
                                  tmp_path: Path) -> None:
    trainer, dataset = dpo(embedded_model_dir, expand_output, config, datasets_cache, tmp_path / "run")
    assert len(dataset) >= 1 and dataset.column_names[:3] == ["prompt", "chosen", "rejected"]
    if config == "pairs_step":
        assert all(c > r for c, r in zip(dataset["chosen_value"], dataset["rejected_value"], strict=True))
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses), losses
    assert trainer.state.global_step == 2
    print(f"\n{config}: DPOTrainer (TRL {trl.__version__}) losses {losses}")
