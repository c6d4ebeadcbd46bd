"""The converted embedded model is a plain float32 Transformers folder that trainers accept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generators.backends import smollm


def test_config_has_no_quantization_config(embedded_model_dir: Path) -> None:
    """With the GGUF's quantization_config, Transformers loads an ``hf_quantizer`` and trainers
    refuse the model as "purely quantized", although the weights are float32."""
    config = json.loads((embedded_model_dir / "config.json").read_text(encoding="utf-8"))
    assert "quantization_config" not in config
    assert config["pad_token_id"] is not None


@pytest.mark.model
def test_loads_unquantized_with_pad_token_and_chat_template(embedded_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(embedded_model_dir, local_files_only=True)
    assert not getattr(model, "is_quantized", False) and getattr(model, "hf_quantizer", None) is None
    from transformers.trainer_utils import validate_quantization_for_training

    validate_quantization_for_training(model)  # what Trainer runs; raised "purely quantized" before v3
    assert next(model.parameters()).dtype == torch.float32
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir, local_files_only=True)
    # SmolLM2 has no padding token of its own, so the pad is its eos (see smollm._set_pad_token)
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token_id == model.config.pad_token_id == model.generation_config.pad_token_id == 2
    assert (embedded_model_dir / "chat_template.jinja").is_file() and tokenizer.chat_template
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n") and "<|im_start|>user\nHi<|im_end|>" in text


def test_conversion_version_names_the_folder(embedded_model_dir: Path) -> None:
    assert embedded_model_dir.name.endswith(f"-{smollm.CONVERSION_VERSION}")
    assert smollm.CONVERSION_VERSION == "v3"


def test_only_older_versions_of_the_same_file_are_removed(tmp_path: Path) -> None:
    names = ["M.Q4-100-v1", "M.Q4-100-v2", "M.Q4-100-v4", "M.Q4-999-v2", "M.Q4-100-v2x", "Other-100-v1"]
    for name in names:
        (tmp_path / name).mkdir()
    (tmp_path / "M.Q4-100-v0").write_text("a file, not a folder")
    target = tmp_path / f"M.Q4-100-{smollm.CONVERSION_VERSION}"
    target.mkdir()
    smollm._remove_older_versions(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["M.Q4-100-v0", "M.Q4-100-v4", "M.Q4-999-v2", "M.Q4-100-v2x", "Other-100-v1", target.name])


@pytest.mark.model
def test_an_old_version_folder_is_not_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A complete-looking v2 folder (with the quantized config) is ignored and removed; a fresh
    conversion (about 20 s) writes the current version."""
    try:
        gguf = smollm.gguf_path()
    except FileNotFoundError as exc:
        pytest.skip(f"embedded model missing: {exc}")
    monkeypatch.setenv("REVERSE_O1_CACHE", str(tmp_path))
    old = tmp_path / f"{gguf.stem}-{gguf.stat().st_size}-v2"
    old.mkdir()
    (old / "config.json").write_text(json.dumps({"quantization_config": {"quant_method": "gguf"}}))
    (old / "model.safetensors").write_bytes(b"")
    fresh = smollm.converted_model_dir()
    assert fresh.parent == tmp_path and fresh != old and fresh.name.endswith("-v3")
    assert not old.exists()
    assert "quantization_config" not in json.loads((fresh / "config.json").read_text(encoding="utf-8"))
    assert {"model.safetensors", "tokenizer.json", "chat_template.jinja", "generation_config.json"} <= {
        p.name for p in fresh.iterdir()}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".convert-")]  # staging cleaned up
