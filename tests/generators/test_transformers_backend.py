"""The local Transformers backend on the real embedded SmolLM2-135M-Instruct (CPU).

Every generation is a few tokens long so the module stays quick on two shared cores; nothing
here measures time. Sampling is checked by seeds (same seed, same texts; another seed, other
texts) and greedy decoding by identical samples.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest

from generators.backends import BackendConfig, BackendError, GenerationParams, GenRequest, create_backend
from generators.backends.smollm import EMBEDDED_MODEL, converted_model_dir
from generators.backends.transformers_backend import TransformersBackend

pytestmark = pytest.mark.model


def request(text: str, **params) -> GenRequest:
    return GenRequest.chat([{"role": "user", "content": text}], GenerationParams(**params))


def texts(completions) -> list[str]:
    return [c.text for c in completions]


@pytest.fixture(scope="module")
def backend(embedded_model_dir) -> Iterator[TransformersBackend]:
    # One torch thread: on two cores shared with other work, two threads spin against each other
    # (about 25x slower here than one).
    backend = create_backend(BackendConfig(threads=1))
    assert isinstance(backend, TransformersBackend)
    yield backend
    backend.close()


def test_model_name_is_the_embedded_model(backend):
    assert backend.model_name == EMBEDDED_MODEL


def test_n_completions_per_request_in_order_and_seeded(backend):
    story = request("Tell me a short story about a cat.", n=3, temperature=1.0, max_new_tokens=8, seed=7)
    colour = request("Name three colours.", n=3, temperature=1.0, max_new_tokens=8, seed=11)
    out = backend.generate([story, colour])
    assert [len(row) for row in out] == [3, 3]
    for c in (c for row in out for c in row):
        assert isinstance(c.text, str) and 1 <= c.tokens <= 8
        assert c.finish_reason in ("stop", "length") and c.logprob is None
    # the same requests sent together give the same samples; alone, a request gets its own seed
    assert backend.generate([story, colour]) == out
    alone = backend.generate([story])[0]
    assert texts(backend.generate([story])[0]) == texts(alone)
    # another seed samples other texts
    reseeded = request("Tell me a short story about a cat.", n=3, temperature=1.0, max_new_tokens=8, seed=8)
    assert texts(backend.generate([reseeded])[0]) != texts(alone)


def test_requests_with_same_settings_share_one_generate_call(backend, monkeypatch):
    calls = []
    generate = backend.model.generate
    monkeypatch.setattr(backend.model, "generate", lambda **kw: calls.append(kw["input_ids"].shape[0]) or generate(**kw))
    prompts = [request(f"Say the number {i}.", n=1, temperature=0.7, max_new_tokens=4, seed=i) for i in range(3)]
    other = request("Say hello.", n=2, temperature=0.7, max_new_tokens=4, seed=5)
    out = backend.generate([prompts[0], other, prompts[1], prompts[2]])
    assert [len(row) for row in out] == [1, 2, 1, 1]
    assert sorted(calls) == [2, 3]  # the three n=1 prompts padded into one batch; the n=2 one alone, as 2 rows


def test_temperature_zero_is_greedy_whatever_the_seed(backend):
    prompt = "What is the capital of France?"
    [[first]] = backend.generate([request(prompt, temperature=0.0, max_new_tokens=6, seed=1)])
    [[second]] = backend.generate([request(prompt, temperature=0.0, max_new_tokens=6, seed=2)])
    assert first.text.strip() and first == second


# Greedy decoding with n > 1: one decode, repeated n times (generate() refuses it otherwise).
def test_temperature_zero_gives_n_identical_samples(backend):
    prompt = "What is the capital of France?"
    [[single]] = backend.generate([request(prompt, temperature=0.0, max_new_tokens=6, seed=1)])
    [samples] = backend.generate([request(prompt, n=3, temperature=0.0, max_new_tokens=6, seed=1)])
    assert samples == [single] * 3


def test_max_new_tokens_bounds_the_output(backend):
    [out] = backend.generate([request("Write a long essay about the sea.", n=2, temperature=0.7, max_new_tokens=4)])
    assert len(out) == 2
    for c in out:
        assert 1 <= c.tokens <= 4
        assert c.finish_reason == ("length" if c.tokens == 4 else "stop")


def test_stop_sequence_cuts_the_text(backend):
    prompt = "Count from 1 to 10, separated by commas."
    [[full]] = backend.generate([request(prompt, temperature=0.0, max_new_tokens=30)])
    assert "5" in full.text, full.text  # precondition: the greedy answer reaches 5
    [[cut]] = backend.generate([request(prompt, temperature=0.0, max_new_tokens=30, stop=("5",))])
    assert "5" not in cut.text and cut.finish_reason == "stop"
    assert cut.text == full.text.split("5", 1)[0]
    assert 0 < cut.tokens < full.tokens


def test_logprobs_are_finite_negative_floats(backend):
    [out] = backend.generate([request("Say hello.", n=2, temperature=1.0, max_new_tokens=5, logprobs=True, seed=3)])
    assert len(out) == 2
    for c in out:
        assert isinstance(c.logprob, float) and math.isfinite(c.logprob) and c.logprob < 0


def test_unknown_model_path_raises_backend_error(tmp_path):
    with pytest.raises(BackendError, match="cannot load model"):
        create_backend(BackendConfig(model=str(tmp_path / "no-such-model")))
    with pytest.raises((BackendError, OSError, ValueError)):  # a folder without model files
        create_backend(BackendConfig(model=str(tmp_path)))


def test_converted_cache_is_reused(embedded_model_dir):
    weights = embedded_model_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    again = converted_model_dir()
    assert again == embedded_model_dir and weights.stat().st_mtime_ns == before


def test_converted_generation_config_samples(embedded_model_dir):
    """Servers start from generation_config.json: without do_sample they ignore temperature."""
    config = json.loads((embedded_model_dir / "generation_config.json").read_text())
    assert config["do_sample"] is True
    assert config.get("temperature", 1.0) == 1.0 and config.get("top_p", 1.0) == 1.0


@pytest.mark.server
def test_transformers_serve_honours_temperature(real_server):
    """On the converted dir, ``transformers serve`` samples at temperature > 0 and is greedy at 0."""
    base_url, model = real_server
    server = create_backend(BackendConfig(backend="openai", base_url=base_url, model=model, max_concurrency=1))
    try:
        prompt = "Tell me a short story about a dog."
        sampled = [server.generate([request(prompt, temperature=1.0, max_new_tokens=8, seed=s)])[0][0].text
                   for s in (1, 2, 3)]
        assert len(set(sampled)) > 1, sampled
        greedy = [server.generate([request(prompt, temperature=0.0, max_new_tokens=8, seed=s)])[0][0].text
                  for s in (1, 2)]
        assert len(set(greedy)) == 1, greedy
    finally:
        server.close()


def test_a_requests_samples_do_not_depend_on_its_batch(backend):
    """Per-row sampling: each row draws from its own seed, so merging requests into one batch (as the
    engine does) leaves every request's samples as they are alone. Prompts of one length, so the
    batch adds no padding (padding can move a draw by floating-point rounding; the docs say so)."""
    mine = request("Name three colours.", n=2, temperature=1.0, max_new_tokens=8, seed=21)
    others = [request("Name three colours.", n=2, temperature=1.0, max_new_tokens=8, seed=s) for s in (5, 6, 7)]
    alone = backend.generate([mine])[0]
    merged = backend.generate([others[0], mine, *others[1:]])
    assert texts(merged[1]) == texts(alone)
    assert len({tuple(texts(row)) for row in merged}) > 1  # the other seeds drew other samples
