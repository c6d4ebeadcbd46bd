"""The tag vocabulary as special tokens of a Hugging Face tokenizer, and the model rows they need.

Each tag (``<Think_Start>``, ``<ACT_Name-Start>``, ...) becomes one special token, so that a
model trained on tagged CoT sees a tag as one symbol and never splits or merges it with the
text around it. A new token's embedding starts as the mean of the embeddings of the pieces its
text was split into before (a far better start than random rows: the model already roughly
knows what ``<ACT_Compute-Start>`` spelled out means).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.factors import FactorVocabulary
from schemas.records import Step
from schemas.tags import THINK_END, THINK_START, render_step, render_think

_PROBE = "x"  # a step text whose rendering is "<start> x <end>"


class TagTokenError(ValueError):
    """The tokenizer cannot hold the tags as single tokens, or does not give the text back exactly."""


def factor_tags(name: str) -> tuple[str, str]:
    """The start and end tags of a factor, cut out of ``render_step`` so the format lives in one place."""
    start, sep, end = render_step(Step(_PROBE, name)).partition(f" {_PROBE} ")
    if not sep:
        raise TagTokenError(f"cannot find the tags of factor {name!r} in its rendering")
    return start, end


def tag_tokens(vocabulary: FactorVocabulary) -> list[str]:
    """``<Think_Start>``, ``<Think_End>``, then each factor's start and end tag, in vocabulary order."""
    return [THINK_START, THINK_END] + [tag for name in vocabulary.names for tag in factor_tags(name)]


@dataclass
class AddedTags:
    """What ``add_tag_tokens`` did: every tag's id, the ones new to the tokenizer, and the pieces
    each tag's text is split into without it (for initialising embedding rows)."""

    ids: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    tokens_before: dict[str, int] = field(default_factory=dict)
    pieces: dict[str, list[int]] = field(default_factory=dict)


def add_tag_tokens(tokenizer: Any, tokens: list[str]) -> AddedTags:
    """Add ``tokens`` as special tokens (existing ids never change); tags already special are
    reported with their id and left alone, so running twice adds nothing the second time."""
    result = AddedTags()
    already = set(tokenizer.get_added_vocab())
    for token in tokens:
        before = tokenizer.encode(token, add_special_tokens=False)
        result.tokens_before[token] = len(before)
        # split_special_tokens: the plain BPE pieces even when the tag is already an added token
        result.pieces[token] = tokenizer.encode(token, add_special_tokens=False, split_special_tokens=True)
    new = [t for t in tokens if t not in already]
    if new:
        tokenizer.add_special_tokens({"extra_special_tokens": new}, replace_extra_special_tokens=False)
    for token in tokens:
        ids = tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1:
            raise TagTokenError(f"{token!r} still encodes to {len(ids)} tokens after adding it")
        result.ids[token] = ids[0]
        if token in new:
            result.added[token] = ids[0]
    return result


def sample_tagged_text(vocabulary: FactorVocabulary) -> str:
    """A rendering with one step per factor, spaces, a newline and an escaped tag inside step texts."""
    texts = ["There are 40 apples.", "  So 40 + 2 = 42!\n", f"{THINK_END} is escaped", "x"]
    steps = [Step(texts[i % len(texts)], name) for i, name in enumerate(vocabulary.names)]
    return render_think(steps, "42")


def check_round_trip(tokenizer: Any, tokens: list[str], text: str) -> None:
    """Each tag in ``text`` is one id and ``decode(encode(text)) == text`` (special tokens kept)."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    token_ids = {tokenizer.convert_tokens_to_ids(t): t for t in tokens}
    expected = sum(text.count(t) for t in tokens)
    found = sum(1 for i in ids if i in token_ids)
    if found != expected:
        raise TagTokenError(f"{expected} tags in the sample text but {found} tag ids in its encoding")
    decoded = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    if decoded != text:
        at = next((i for i, (a, b) in enumerate(zip(decoded, text, strict=False)) if a != b), min(len(decoded), len(text)))
        raise TagTokenError(f"decode(encode(text)) differs from the text at character {at}: {decoded[at:at + 30]!r}")


def resize_and_init(model: Any, tags: AddedTags, vocab_len: int) -> list[str]:
    """Grow the model's embeddings to ``vocab_len`` rows (never shrink) and set each new tag's row
    (input and, if untied, output) to the mean of its pieces' rows. Returns the tags set.

    A tag's row is set when the tag was added now or its id lay past the old matrix; rows of tags
    that were already there (maybe trained since) are kept.
    """
    import torch

    old_rows = model.get_input_embeddings().weight.shape[0]
    if vocab_len > old_rows:
        model.resize_token_embeddings(vocab_len, mean_resizing=False)
    inputs = model.get_input_embeddings().weight
    output_layer = model.get_output_embeddings()
    outputs = output_layer.weight if output_layer is not None else None
    untied = outputs is not None and outputs.data_ptr() != inputs.data_ptr()
    bias = getattr(output_layer, "bias", None) if untied else None
    done = []
    with torch.no_grad():
        for token, row in tags.ids.items():
            pieces = [p for p in tags.pieces[token] if p < old_rows]
            if not pieces or (token not in tags.added and row < old_rows):
                continue
            index = torch.tensor(pieces, device=inputs.device)
            inputs[row] = inputs[index].mean(dim=0)
            if untied:
                outputs[row] = outputs[index].mean(dim=0)
                if bias is not None:
                    bias[row] = bias[index].mean()
            done.append(token)
    return done
