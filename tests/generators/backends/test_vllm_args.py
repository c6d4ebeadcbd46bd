"""``--vllm-arg KEY=VALUE`` and the ``vllm:`` mapping: parsed, merged, checked (vllm is not installed here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generators.backends.vllm_args import VLLMArgError, engine_arg_names, parse_vllm_args, validate
from pipelines.config import ConfigError, build_config
from pipelines.settings import backend_config

# a few of vllm.EngineArgs' real field names (vllm 0.x), standing in for the installed class
KNOWN = frozenset({"tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "dtype", "quantization",
                   "max_num_seqs", "enable_prefix_caching", "model"})


def test_values_are_typed_and_dashes_are_underscores() -> None:
    args = parse_vllm_args(["tensor-parallel-size=2", "gpu_memory_utilization=0.85", "dtype=bfloat16",
                            "enable_prefix_caching=false", "quantization=null", "max_model_len=32768"])
    assert args == {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.85, "dtype": "bfloat16",
                    "enable_prefix_caching": False, "quantization": None, "max_model_len": 32768}


@pytest.mark.parametrize("bad", ["no_equals", "=2", "two words=1", "1x=2"])
def test_malformed_items_are_refused_by_name(bad: str) -> None:
    with pytest.raises(VLLMArgError, match="--vllm-arg"):
        parse_vllm_args([bad])


def test_unknown_keys_are_named_once_vllm_is_there() -> None:
    with pytest.raises(VLLMArgError) as caught:
        validate({"tensor_paralel_size": 2}, KNOWN)
    assert "tensor_paralel_size" in str(caught.value) and "tensor_parallel_size" in str(caught.value)
    assert validate({"max_num_seqs": 512}, KNOWN) == {"max_num_seqs": 512}
    with pytest.raises(VLLMArgError, match="--model"):
        validate({"model": "x"}, KNOWN)


def test_without_vllm_the_keys_pass_through() -> None:
    assert engine_arg_names() is None  # not installed here (an optional extra for GPU workers)
    assert validate({"anything_new": 1}) == {"anything_new": 1}


def test_flags_go_on_top_of_the_config_file_and_reach_the_backend(tmp_path: Path) -> None:
    yaml = tmp_path / "run.yaml"
    yaml.write_text("vllm:\n  tensor-parallel-size: 4\n  dtype: float16\n", encoding="utf-8")
    config = build_config({"vllm_arg": ["dtype=bfloat16", "max_num_seqs=512"]}, str(yaml))
    assert config.vllm == {"tensor_parallel_size": 4, "dtype": "bfloat16", "max_num_seqs": 512}
    assert dict(backend_config(config).vllm_args) == config.vllm
    assert build_config({}, str(yaml)).vllm == {"tensor_parallel_size": 4, "dtype": "float16"}
    yaml.write_text("vllm: [1, 2]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        build_config({}, str(yaml))
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        build_config({"vllm_arg": ["oops"]})
