"""Prompt sizes with a model's own tokenizer (Hugging Face tokenizers: the transformers and vLLM
backends), for the prompt budget of ``generators.backends.base``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Config attributes that hold a model's context (the first present wins), as architectures name it.
CONTEXT_ATTRS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "max_seq_len")
UNSET_MAX_LENGTH = 10**9  # tokenizers without a known limit report about 1e30


def chat_prompt_tokens(tokenizer: Any, messages: Sequence[dict[str, str]]) -> int:
    """Tokens of a chat as the model is fed it: its chat template, with the generation prompt."""
    out = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
    ids = out["input_ids"] if hasattr(out, "keys") else out  # a BatchEncoding (transformers 5) or a list
    return len(ids)


def longest_token_chars(tokenizer: Any) -> int | None:
    """The longest token of the vocabulary in characters, an upper bound on the characters one token
    stands for (a byte-level token's string has one character per byte: at least its text's
    characters). None when the vocabulary cannot be read."""
    try:
        vocab = tokenizer.get_vocab()
    except Exception:  # a tokenizer without get_vocab: no shortcut, every prompt is tokenized
        return None
    return max((len(token) for token in vocab), default=0) or None


def context_length(model_config: Any, tokenizer: Any = None) -> int | None:
    """The model's context in tokens: its config's position limit, or the tokenizer's ``model_max_length``
    where that is set (the smaller of both); None when neither says."""
    known = []
    text_config = getattr(model_config, "get_text_config", None)
    config = text_config() if callable(text_config) else model_config
    for name in CONTEXT_ATTRS:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            known.append(value)
            break
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < UNSET_MAX_LENGTH:
        known.append(limit)
    return min(known) if known else None
