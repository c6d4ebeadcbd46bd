"""Train a process reward model on an output folder's ``prm_trl`` rows with TRL's PRMTrainer; save it where
``expand --value-model DIR`` reads it (step 3 of a self-evolution round: docs/training.md §8, ``make evolve``).

TRL's ``PRMTrainer`` is in TRL 1.13.0 and no later release, so this runs with 1.13.0 first on the path:

    PYTHONPATH=.venv/trl-1.13.0 .venv/bin/python tools/train_prm.py DATA_DIR OUT_DIR [--base MODEL] [--max-steps N]

DATA_DIR is a folder ``reverse-o1 export prm`` wrote into (its ``prm_trl`` config); MODEL a causal LM folder
or a PRM of an earlier round (default: the embedded SmolLM2-135M-Instruct), given a two-label token
classification head (``num_labels=2``), as docs/training.md §6 says. OUT_DIR gets the model, its tokenizer
and ``train_report.json`` (losses, rows, TRL version). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="train_prm.py", description=__doc__.splitlines()[0])
    parser.add_argument("data", help="an output folder with a prm_trl config (reverse-o1 export prm DIR)")
    parser.add_argument("out", help="where the trained PRM goes (a folder for expand --value-model)")
    parser.add_argument("--base", help="the model to start from (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--max-steps", type=int, default=20, help="optimiser steps (default 20)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def base_model(name: str | None) -> str:
    if name:
        return name
    from generators.backends.smollm import converted_model_dir

    return str(converted_model_dir())


def train(args: argparse.Namespace) -> dict:
    import trl
    from datasets import load_dataset
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    try:
        from trl.experimental.prm import PRMConfig, PRMTrainer
    except ImportError as exc:
        raise SystemExit(f"train_prm: TRL {trl.__version__} has no PRMTrainer; run with PYTHONPATH=.venv/trl-1.13.0 "
                         f"(`make` installs TRL 1.13.0 there): {exc}") from None
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    try:
        dataset = load_dataset(args.data, "prm_trl", split="train", cache_dir=str(work / ".hf-datasets"))
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"train_prm: {args.data} has no prm_trl rows (run `reverse-o1 export prm {args.data}`): {exc}") from None
    if len(dataset) == 0:
        raise SystemExit(f"train_prm: {args.data}'s prm_trl config has no train rows: nothing to learn from")
    base = base_model(args.base)
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = AutoModelForTokenClassification.from_pretrained(base, num_labels=2, local_files_only=True)
    config = PRMConfig(output_dir=str(work / "run"), max_steps=args.max_steps, per_device_train_batch_size=args.batch_size,
                       logging_steps=1, report_to=[], use_cpu=not _has_gpu(), bf16=False, save_strategy="no",
                       max_length=args.max_length, learning_rate=args.learning_rate, disable_tqdm=True, seed=args.seed,
                       activation_checkpointing=False)
    trainer = PRMTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    trainer.save_model(str(work))
    tokenizer.save_pretrained(str(work))
    shutil.rmtree(work / "run", ignore_errors=True)  # the trainer's scratch folder (nothing saved there)
    shutil.rmtree(work / ".hf-datasets", ignore_errors=True)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    report = {"trl": trl.__version__, "base": base, "data": args.data, "rows": len(dataset), "max_steps": args.max_steps,
              "losses": losses, "finite": all(math.isfinite(x) for x in losses), "out": str(work)}
    (work / "train_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    print(json.dumps(train(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
