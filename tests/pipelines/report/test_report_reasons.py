"""``reverse-o1 report`` gives the card's figures: what ``verified`` means per command, why rows were not
verified or were left out, and token lengths per column; from the manifest, or from the shards where
an older manifest lacks them."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from pipelines.io.shards import write_rows
from pipelines.io.verification import MEANINGS
from pipelines.report import data as report_data
from pipelines.report import render_report
from pipelines.report.data import load_figures
from tests.pipelines.report.test_report import assert_inert

LENGTHS = {"tokenizer": "SmolLM2-135M-Instruct", "key": "k", "sampled": {"sft": 2, "prm": 0},
           "columns": {"sft": {"problem": {"rows": 2, "mean": 3.5, "p50": 3, "p95": 4, "max": 4}}}}
STAGES = {"code-cot/code_cot": {"read": 5, "written": 3, "filtered": {"truncated_cot": 1, "no_forward_cot:copied_code": 1},
                                "dead_lettered": 0, "resumed": 0,
                                "stats": {"roundtrip:ok": 1, "roundtrip:failed": 1, "roundtrip:syntax_error": 1,
                                          "rejected:copied_code": 3, "rejected:truncated_cot": 2}},
          "lean-cot/lean_cot": {"read": 2, "written": 2, "filtered": {}, "dead_lettered": 0, "resumed": 0,
                                "stats": {"rejected:names_lemma": 2, "verifier:none": 2, "tactics": 5,
                                          "tactics_without_thought": 1}}}


def row(i: int, problem: str, verified: bool, kind: str = "code") -> dict[str, Any]:
    return {"id": f"r{i}", "source_kind": kind, "source": {"uri": "file:///x"}, "problem": problem, "answer": "a",
            "steps": [{"text": "s", "factor": "Compute"}], "messages": [{"role": "user", "content": problem}],
            "verified": verified, "verifier": "code_roundtrip" if kind == "code" else "none", "verifier_detail": "",
            "generator": {"backend": "scripted", "model": "m", "temperature": 0.0, "seed": 0, "prompt_version": "v1"},
            "truncated": None}


def folder(tmp_path: Path, manifest: dict[str, Any]) -> Path:
    out = tmp_path / "out"
    write_rows([row(1, "one two three", True), row(2, "one two three four", False), row(3, "x", False)], "sft",
               str(out / "sft" / "code-cot-20260101T000000-abcdef-0123456789abcdef.parquet"))
    write_rows([row(4, "a b", False, "lean")], "sft", str(out / "sft" / "lean-cot-20260101T000001-abcdef-00aa.parquet"))
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out


def text_of(page: str, section: str) -> str:
    inner = re.search(rf'<section id="{section}">(.*?)</section>', page, re.S).group(1)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>", "", inner, flags=re.S))).split())


def test_the_report_says_what_verified_means_and_why_rows_failed(tmp_path: Path) -> None:
    out = folder(tmp_path, {"stages": STAGES, "runs": {"code-cot": {}, "lean-cot": {}}, "token_lengths": LENGTHS,
                            "by_command": {"code-cot": {"sft_rows": 3, "sft_verified": 1},
                                           "lean-cot": {"sft_rows": 1, "sft_verified": 0}}})
    fig = load_figures(str(out))
    assert fig.token_lengths == LENGTHS
    outcomes = {o.command: o for o in fig.outcomes}
    assert outcomes["code-cot"].unverified == 2 and outcomes["code-cot"].meaning == MEANINGS["code-cot"]
    page = render_report(str(out))
    assert_inert(page)
    verified = text_of(page, "verified")
    assert "code-cot : 3 SFT rows, 1 verified" in verified and "not wrong answers" in verified
    assert "nothing was checked" in verified  # lean-cot without Lean
    reasons = text_of(page, "reasons")
    for expected in ("code-cot: 2 of 3 SFT rows unverified", "ok 1", "failed 1", "syntax_error 1", "copied_code 3",
                     "code_cot: truncated_cot 1", "code_cot: rejected:truncated_cot 2",
                     "code_cot: no_forward_cot:copied_code 1", "leak filter", "names_lemma 2",
                     "tactics_without_thought 1", "tactics (all) 5", "none 2"):
        assert expected in reasons, expected
    tokens = text_of(page, "tokens")
    assert "SmolLM2-135M-Instruct" in tokens and "sft problem 2 3.5 3 4 4" in tokens


def test_a_manifest_without_the_figures_gets_them_from_the_shards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = folder(tmp_path, {"stages": STAGES})
    counted = report_data.token_lengths

    def by_words(folder: str, previous: Any = None) -> dict[str, Any]:
        return counted(folder, previous, lambda: lambda texts: [len(t.split()) for t in texts])

    monkeypatch.setattr(report_data, "token_lengths", by_words)
    fig = load_figures(str(out))
    outcomes = {o.command: o for o in fig.outcomes}
    assert (outcomes["code-cot"].sft_rows, outcomes["code-cot"].sft_verified) == (3, 1)  # from the shards' names
    assert (outcomes["lean-cot"].sft_rows, outcomes["lean-cot"].sft_verified) == (1, 0)
    assert fig.token_lengths["columns"]["sft"]["problem"] == {"rows": 4, "mean": 2.5, "p50": 2, "p95": 4, "max": 4}
    assert "sft problem 4 2.5 2 4 4" in text_of(render_report(str(out)), "tokens")
