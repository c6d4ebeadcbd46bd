"""TRL's ``SFTTrainer`` trains a summariser on the ``summaries`` config of ``reverse-o1 summarize``, as its card
says: ``load_dataset(DIR, "summaries").select_columns(["messages"])`` (the rows come from a scripted summariser,
a test double; the model is the embedded SmolLM2)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.pipelines.test_summarize import sft_folder, summarize
from tests.training.test_sft_trainer import sft_config

pytestmark = [pytest.mark.train, pytest.mark.model]
pytest.importorskip("trl", reason="TRL is not installed (pip install -e '.[train]')")


def test_sft_trainer_reads_the_summaries(embedded_model_dir: Path, tmp_path: Path, datasets_cache: Path) -> None:
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    out = summarize(tmp_path, sft_folder(tmp_path, ["Problem kept?"]))
    rows = load_dataset(str(out), "summaries", split="train", cache_dir=str(datasets_cache))
    assert len(rows) == 1 and rows[0]["messages"][-1] == {"role": "assistant", "content": rows[0]["summary"]}
    dataset = rows.select_columns(["messages"])
    model = AutoModelForCausalLM.from_pretrained(embedded_model_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir, local_files_only=True)
    trainer = SFTTrainer(model=model, args=sft_config(tmp_path / "run"), train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(x) and x > 0 for x in losses), losses
    print(f"\nsummaries: SFTTrainer losses {losses}")
