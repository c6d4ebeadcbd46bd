"""Current TRL's ``KTOTrainer`` takes ``export orm``'s config as it is: TRL's unpaired preference
format, conversational (``prompt``, ``completion``, ``label``: math-verify's verdict of each sampled
completion). The difficulty rows come from a scripted policy (a test double: right and wrong
replies, so both labels occur); the policy trained is the embedded model, two steps on the CPU."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.pipelines.helpers import scripted

pytestmark = [pytest.mark.train, pytest.mark.model]

trl = pytest.importorskip("trl", reason="TRL is not installed (pip install -e '.[train]')")

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "easy_seeds.jsonl"
MIXED = scripted([("apples", ["The answer is 4.", "The answer is 5."]), ("pens", ["The answer is 6.", "I am not sure."])])


def test_kto_trainer_on_the_orm_export(embedded_model_dir: Path, datasets_cache: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import KTOConfig, KTOTrainer

    from pipelines.cli import main

    out = tmp_path / "out"
    monkeypatch.setenv("REVERSE_O1_NO_PROGRESS", "1")
    assert main(["difficulty", "--input", str(SEEDS), "--out", str(out), "--backend", "scripted", "--model", MIXED,
                 "--k", "4"]) == 0
    assert main(["export", "orm", str(out)]) == 0
    dataset = load_dataset(str(out), "orm", split="train", cache_dir=str(datasets_cache))
    assert len(dataset) == 8 and sorted(dataset["label"]) == [False] * 4 + [True] * 4
    model = AutoModelForCausalLM.from_pretrained(embedded_model_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir, local_files_only=True)
    args = KTOConfig(output_dir=str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=4, logging_steps=1,
                     report_to=[], use_cpu=True, bf16=False, save_strategy="no", max_length=256, learning_rate=1e-5,
                     disable_tqdm=True, seed=0)
    trainer = KTOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert trainer.state.global_step == 2 and len(losses) == 2 and all(math.isfinite(x) for x in losses), losses
    print(f"\nKTOTrainer (TRL {trl.__version__}) losses {losses}")
