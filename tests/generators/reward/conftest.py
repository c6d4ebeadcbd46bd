"""Fixtures of the reward model tests: a tiny PRM folder as TRL's PRMTrainer would save one.

``tiny_prm_dir`` is the embedded SmolLM2 with a fresh two-label token classification head (seeded, so every
session builds the same one), saved with its tokenizer once per session: an untrained PRM, for plumbing.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_prm_dir(embedded_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    target = tmp_path_factory.mktemp("tiny-prm")
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(str(embedded_model_dir), num_labels=2, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir), local_files_only=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
