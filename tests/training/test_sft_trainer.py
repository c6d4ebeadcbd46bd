"""Current TRL's ``SFTTrainer`` takes the ``sft`` config of a real output folder as it is.

No column is renamed or dropped by hand: SFTTrainer finds the conversational ``messages``
column, tokenizes it with the chat template, keeps the other columns (``id``, ``steps``, the
``source`` and ``generator`` structs, ...) through its preparation, and the Trainer's
``remove_unused_columns`` leaves them out of the batches.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.train, pytest.mark.model]

trl = pytest.importorskip("trl", reason="TRL is not installed (pip install -e '.[train]')")


def sft_config(output_dir: Path) -> Any:
    """Two tiny CPU steps. bf16 off: TRL turns it on by default; activation checkpointing off: it
    only costs time here (and setting TRL's ``gradient_checkpointing`` alias warns on Transformers 5)."""
    from trl import SFTConfig

    return SFTConfig(output_dir=str(output_dir), max_steps=2, per_device_train_batch_size=2, logging_steps=1,
                     report_to=[], use_cpu=True, bf16=False, activation_checkpointing=False, save_strategy="no",
                     max_length=512, learning_rate=1e-4, disable_tqdm=True, seed=0)


def train(model_dir: Path, data_dir: Path, cache: Path, output_dir: Path) -> tuple[Any, Any, Any]:
    """Train two steps; returns (trainer, dataset as loaded, the model's parameters before, cloned)."""
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    dataset = load_dataset(str(data_dir), "sft", split="train", cache_dir=str(cache))
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    before = {name: p.detach().clone() for name, p in model.named_parameters() if name.endswith(
        ("embed_tokens.weight", "layers.0.self_attn.q_proj.weight", "layers.29.mlp.down_proj.weight"))}
    trainer = SFTTrainer(model=model, args=sft_config(output_dir), train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    return trainer, dataset, before


def assert_trained(trainer: Any, before: dict[str, Any]) -> list[float]:
    import torch

    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(loss) and loss > 0 for loss in losses), losses
    assert trainer.state.global_step == 2
    print(f"\nsft: SFTTrainer (TRL {trl.__version__}) losses {losses}")
    params = dict(trainer.model.named_parameters())
    for name, value in before.items():
        assert not torch.equal(value, params[name].detach()), f"{name} did not change"
    return losses


def test_sft_trainer_on_the_sft_rows(expand_output: Path, embedded_model_dir: Path, datasets_cache: Path,
                                     tmp_path: Path) -> None:
    trainer, dataset, before = train(embedded_model_dir, expand_output, datasets_cache, tmp_path / "run")
    assert len(dataset) >= 2 and "messages" in dataset.column_names
    prepared = trainer.train_dataset.column_names
    assert {"input_ids", "labels"} <= set(prepared) and set(dataset.column_names) <= set(prepared)  # kept, unused
    first = trainer.processing_class.decode(trainer.train_dataset[0]["input_ids"])
    assert "<|im_start|>assistant\n<Think_Start>\n" in first and first.endswith("<|im_end|>\n")
    assert_trained(trainer, before)


def test_sft_trainer_with_the_tag_tokens(expand_output: Path, embedded_model_dir: Path, datasets_cache: Path,
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On the model of ``reverse-o1 tokenizer --resize-model``: each tag is one token id in the
    batches, and the new (mean-initialised) rows are trained."""
    import json

    import torch

    from pipelines.cli import main

    resized = tmp_path / "resized"
    assert main(["tokenizer", "--model", str(embedded_model_dir), "--out", str(resized), "--resize-model"]) == 0
    report = json.loads(capsys.readouterr().out)
    trainer, _, before = train(resized, expand_output, datasets_cache, tmp_path / "run")
    ids = [i for row in trainer.train_dataset["input_ids"] for i in row]
    for tag in ("<Think_Start>", "<Think_End>", "<ACT_Conclude-Start>", "<ACT_Conclude-End>"):
        assert report["ids"][tag] in ids, tag
    assert_trained(trainer, before)
    rows = trainer.model.get_input_embeddings().weight.detach()
    start = report["ids"]["<Think_Start>"]
    assert not torch.equal(rows[start], before["model.embed_tokens.weight"][start])
