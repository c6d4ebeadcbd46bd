"""``reverse-o1 tokenizer``: the tag vocabulary as special tokens of the embedded model's tokenizer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generators.tokenizer_vocab import tag_tokens
from pipelines.cli import main
from schemas.factors import load_factors
from schemas.records import Step
from schemas.tags import THINK_END, THINK_START, parse_think, render_think


def run_json(capsys: pytest.CaptureFixture[str], *args: Any) -> dict[str, Any]:
    assert main(["tokenizer", *[str(a) for a in args]]) == 0
    return json.loads(capsys.readouterr().out)


def run_error(capsys: pytest.CaptureFixture[str], *args: Any) -> str:
    assert main(["tokenizer", *[str(a) for a in args]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("reverse-o1 tokenizer: error: ")
    return err


def tagged_text() -> str:
    steps = [Step("There are 40 apples.", "Compute"), Step("  Check: 40 + 2 = 42 !\n", "Verify"),
             Step(f"not a tag: {THINK_END}", "Conclude")]
    return render_think(steps, "42")


@pytest.mark.model
def test_tags_become_single_special_tokens(embedded_model_dir: Path, tmp_path: Path, capsys) -> None:
    from transformers import AutoTokenizer

    original = AutoTokenizer.from_pretrained(embedded_model_dir, local_files_only=True)
    out = tmp_path / "tok"
    report = run_json(capsys, "--model", embedded_model_dir, "--out", out)
    tokens = tag_tokens(load_factors(None))
    assert tokens[:2] == [THINK_START, THINK_END] and "<ACT_Compute-Start>" in tokens and "<ACT_Compute-End>" in tokens
    assert len(tokens) == 2 + 2 * len(load_factors(None).names)
    assert list(report["added"]) == tokens and report["ids"] == report["added"]
    assert sorted(report["added"].values()) == list(range(len(original), len(original) + len(tokens)))
    assert all(report["tokens_before"][t] > 1 for t in tokens)
    assert report["tokens_before"] == {t: len(original.encode(t, add_special_tokens=False)) for t in tokens}
    assert report["vocab_size"] == len(original) + len(tokens) and report["model_resized"] is False
    assert not (out / "model.safetensors").exists()

    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert len(tokenizer) == report["vocab_size"]
    old_vocab = original.get_vocab()
    new_vocab = tokenizer.get_vocab()
    assert all(new_vocab[t] == i for t, i in old_vocab.items())  # existing tokens keep their ids
    assert set(tokens) <= set(tokenizer.all_special_tokens)
    assert tokenizer.chat_template == original.chat_template and tokenizer.pad_token == original.pad_token

    text = tagged_text()
    ids = tokenizer.encode(text, add_special_tokens=False)
    for tag in (THINK_START, THINK_END, "<ACT_Compute-Start>", "<ACT_Verify-End>", "<ACT_Conclude-End>"):
        assert tokenizer.encode(tag, add_special_tokens=False) == [report["ids"][tag]]
        assert ids.count(report["ids"][tag]) == text.count(tag)
    assert ids.count(report["ids"][THINK_END]) == 1  # the escaped one inside a step stays text
    decoded = tokenizer.decode(ids)
    assert decoded == text
    assert [s.text for s in parse_think(decoded)[0]] == ["There are 40 apples.", "  Check: 40 + 2 = 42 !\n",
                                                         f"not a tag: {THINK_END}"]
    messages = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": text}]
    chat = tokenizer.apply_chat_template(messages, tokenize=False)
    assert tokenizer.decode(tokenizer.encode(chat, add_special_tokens=False)) == chat

    again = run_json(capsys, "--model", out, "--out", out)  # already there: ids reported, nothing added
    assert again["added"] == {} and again["ids"] == report["ids"] and again["vocab_size"] == report["vocab_size"]
    assert set(again["tokens_before"].values()) == {1}


@pytest.mark.model
def test_resize_model_initialises_new_rows_as_the_mean_of_their_pieces(embedded_model_dir: Path, tmp_path: Path,
                                                                        capsys) -> None:
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    original = AutoTokenizer.from_pretrained(embedded_model_dir, local_files_only=True)
    with safe_open(str(embedded_model_dir / "model.safetensors"), "pt") as weights:
        old = weights.get_tensor("model.embed_tokens.weight")
    out = tmp_path / "resized"
    report = run_json(capsys, "--model", embedded_model_dir, "--out", out, "--resize-model")
    assert report["model_resized"] is True and report["initialized"] == list(report["added"])

    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    rows = model.get_input_embeddings().weight.detach()
    assert rows.shape == (report["vocab_size"], old.shape[1]) and model.config.vocab_size == report["vocab_size"]
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()  # tied
    assert torch.equal(rows[: old.shape[0]], old)
    for token, row in report["added"].items():
        pieces = original.encode(token, add_special_tokens=False)
        assert len(pieces) == report["tokens_before"][token] > 1
        assert torch.allclose(rows[row], old[pieces].mean(dim=0), atol=1e-6), token
    assert len(AutoTokenizer.from_pretrained(out, local_files_only=True)) == report["vocab_size"]

    again = run_json(capsys, "--model", out, "--out", out, "--resize-model")  # in place, nothing new
    assert again["added"] == {} and again["initialized"] == []
    reloaded = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    assert torch.equal(reloaded.get_input_embeddings().weight.detach(), rows)


@pytest.mark.model
def test_a_custom_factor_file_gives_its_tags(embedded_model_dir: Path, tmp_path: Path, capsys) -> None:
    factors = tmp_path / "factors.yaml"
    factors.write_text("factors:\n  - name: Guess\n    description: a guess\n  - name: Check2\n    description: a check\n")
    report = run_json(capsys, "--model", embedded_model_dir, "--out", tmp_path / "tok", "--factors", factors)
    assert list(report["added"]) == [THINK_START, THINK_END, "<ACT_Guess-Start>", "<ACT_Guess-End>",
                                     "<ACT_Check2-Start>", "<ACT_Check2-End>"]


@pytest.mark.model
def test_extra_tokens_are_added_after_the_tags(embedded_model_dir: Path, tmp_path: Path, capsys) -> None:
    """OpenRLHF's Math-Shepherd placeholder ``ки`` must be one token; SmolLM2 splits it in two."""
    from transformers import AutoTokenizer

    out = tmp_path / "tok"
    report = run_json(capsys, "--model", embedded_model_dir, "--out", out, "--extra-token", "ки", "--extra-token", "ки")
    assert list(report["added"])[-1] == "ки" and len(report["added"]) == len(tag_tokens(load_factors(None))) + 1
    assert report["tokens_before"]["ки"] == 2
    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    text = "Step one ки\nStep two ки"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert ids.count(report["ids"]["ки"]) == 2 and tokenizer.decode(ids) == text


def test_blank_extra_token(tmp_path: Path, capsys) -> None:
    assert "--extra-token" in run_error(capsys, "--model", tmp_path, "--out", tmp_path / "o", "--extra-token", " ")


def test_model_that_is_not_a_folder(tmp_path: Path, capsys) -> None:
    err = run_error(capsys, "--model", tmp_path / "nowhere", "--out", tmp_path / "o")
    assert "--model" in err and "not a directory" in err
    assert not (tmp_path / "o").exists()


def test_model_folder_without_a_tokenizer(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    err = run_error(capsys, "--model", tmp_path / "empty", "--out", tmp_path / "o")
    assert "no tokenizer" in err


def test_out_that_is_a_file(embedded_model_dir: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    err = run_error(capsys, "--model", embedded_model_dir, "--out", tmp_path / "file")
    assert "--out" in err and "is a file" in err


@pytest.mark.parametrize("content", ["factors: [unclosed", "factors:\n  - name: lower\n    description: x\n", None])
def test_bad_factors_file(tmp_path: Path, capsys, content: str | None) -> None:
    path = tmp_path / "factors.yaml"
    if content is not None:
        path.write_text(content)
    err = run_error(capsys, "--model", tmp_path, "--out", tmp_path / "o", "--factors", path)
    assert "--factors" in err and str(path) in err


def test_resize_model_needs_weights(tmp_path: Path, capsys) -> None:
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_text("{}")
    err = run_error(capsys, "--model", tmp_path / "tok", "--out", tmp_path / "o", "--resize-model")
    assert "no model weights" in err


def test_unreadable_tokenizer(tmp_path: Path, capsys) -> None:
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_text("not json")
    err = run_error(capsys, "--model", tmp_path / "tok", "--out", tmp_path / "o")
    assert "cannot load its tokenizer" in err


def test_a_tokenizer_its_model_cannot_hold_is_refused_in_place_and_noted_elsewhere(embedded_model_dir: Path,
                                                                                   tmp_path: Path, capsys) -> None:
    import shutil

    folder = tmp_path / "model"
    folder.mkdir()
    for item in embedded_model_dir.iterdir():
        if item.is_file() and not item.name.endswith(".safetensors"):
            shutil.copy(item, folder / item.name)
    message = run_error(capsys, "--model", folder, "--out", folder)
    assert "its embeddings hold 49152 tokens" in message and "--resize-model" in message
    assert main(["tokenizer", "--model", str(folder), "--out", str(tmp_path / "tok")]) == 0
    assert "ids are out of range" in capsys.readouterr().err
