"""Two PRMTrainer steps on the ``prm_trl`` config of an output folder (``export prm``); prints a JSON report.

Run by test_prm_trainer.py in a subprocess whose PYTHONPATH puts TRL 1.13.0 (the last TRL with
``trl.experimental.prm``) before the venv's current TRL. Arguments: DATA_DIR MODEL_DIR WORK_DIR.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def main(data_dir: str, model_dir: str, work_dir: str) -> int:
    import torch
    import trl
    from datasets import load_dataset
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    from trl.experimental.prm import PRMConfig, PRMTrainer

    work = Path(work_dir)
    dataset = load_dataset(data_dir, "prm_trl", split="train", cache_dir=str(work / "hf-datasets"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForTokenClassification.from_pretrained(model_dir, num_labels=2, local_files_only=True)
    head = model.score.weight.detach().clone()
    args = PRMConfig(output_dir=str(work / "run"), max_steps=2, per_device_train_batch_size=2, logging_steps=1,
                     report_to=[], use_cpu=True, bf16=False, activation_checkpointing=False, save_strategy="no",
                     max_length=512, learning_rate=1e-4, disable_tqdm=True, seed=0)
    trainer = PRMTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    prepared = trainer.train_dataset
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    labelled = [sum(1 for x in row if x != -100) for row in prepared["labels"]]
    report = {
        "trl": trl.__version__,
        "trl_file": trl.__file__,
        "rows": len(dataset),
        "columns": dataset.column_names,
        "prepared_columns": prepared.column_names,
        "steps_per_row": [len(c) for c in dataset["completions"]],
        "labelled_tokens_per_row": labelled,
        "losses": losses,
        "finite": all(math.isfinite(x) for x in losses),
        "head_changed": not torch.equal(head, model.score.weight.detach()),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
