"""``reverse-o1 report``: the figures on the page are the folder's numbers, the page is inert, bad folders are notes."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.errors import ConfigError
from pipelines.io import fs
from pipelines.report import cli, render_report, svg
from pipelines.report.data import load_figures
from pipelines.report.svg import fmt
from schemas.arrow import PRM_SCHEMA, SFT_SCHEMA
from tests.pipelines.helpers import FIXTURES, manifest, run
from tests.pipelines.io import memfs  # noqa: F401  (registers memfs://)

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
QUOTES = "\"' onmouseover=\"alert(1)"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
SOURCE = {"uri": "file:///x", "commit": None, "path": None, "symbol": None, "license": "MIT", "dataset_license": None}
GENERATOR = {"backend": "scripted", "model": "m", "temperature": 0.0, "seed": 0, "prompt_version": "v1"}


def prm(i: int, method: str, soft: list[float | None], rollouts: list[int], correct: bool, kind: str = "seed") -> dict[str, Any]:
    return {"prompt": f"p{i}", "completions": [f"step {j}" for j in range(len(soft))], "labels": [bool(s) for s in soft],
            "soft_labels": soft, "rollouts": rollouts, "correct_rollouts": [0] * len(soft), "method": method,
            "answer_correct": correct, "id": f"prm{i}", "source_kind": kind, "source": SOURCE, "generator": GENERATOR,
            "nodes": None}


def sft(i: int, kind: str, factors: list[str | None], verified: bool, verifier: str) -> dict[str, Any]:
    return {"id": f"sft{i}", "source_kind": kind, "source": SOURCE, "problem": "?", "answer": "42",
            "steps": [{"text": f"s{j}", "factor": f} for j, f in enumerate(factors)],
            "messages": [{"role": "user", "content": "?"}], "verified": verified, "verifier": verifier,
            "verifier_detail": None, "generator": GENERATOR}


def shard(folder: Path, kind: str, name: str, rows: list[dict[str, Any]]) -> None:
    (folder / kind).mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=PRM_SCHEMA if kind == "prm" else SFT_SCHEMA), folder / kind / name)


def stage(read: int, written: int, filtered: dict[str, int] | None = None, dead: int = 0, resumed: int = 0,
          **stats: int) -> dict[str, Any]:
    filtered = filtered or {}
    return {"read": read, "written": written, "filtered": filtered, "dead_lettered": dead, "resumed": resumed,
            "stats": stats, "balanced": read == written + sum(filtered.values()) + dead}


PRM_ROWS = [prm(0, "shepherd", [0.5, 1.0, None], [4, 4, 0], True), prm(1, "shepherd", [0.25, None], [4, 0], False),
            prm(2, "shepherd", [1.0, 0.0, 0.0, 1.0], [4, 4, 4, 4], True), prm(3, "binary", [None, 0.0], [0, 8], False)]
SFT_ROWS = [sft(0, "seed", ["Compute", "Conclude"], True, "math-verify"), sft(1, "seed", ["Compute"] * 3, False, "math-verify"),
            sft(2, "code", ["Compute", None], True, "code_roundtrip")]
MANIFEST = {
    "stages": {"label/read": stage(5, 5), "label/label": stage(5, 3, {"too_long": 2}, generated_tokens=300, completions=24),
               "label/tag": stage(3, 2, generated_tokens=200),  # unbalanced: one row unaccounted for
               "expand/expand": stage(2, 2, resumed=1, rollouts=12, simulations=6, generated_tokens=90)},
    "runs": {"label": {"model": "SmolLM2", "wall_seconds": 20.0, "runner": "DirectRunner"},
             "expand": {"model": "SmolLM2", "wall_seconds": 3.0, "runner": "DirectRunner"}},
    "set_aside": [{"shard": "out/prm/old.parquet", "reason": "ArrowInvalid: not parquet"}],
    "model": "SmolLM2", "wall_seconds": 23.0, "versions": {"reverse-o1": "9.9.9"}, "notes": ["a plain note"],
    "outputs": {"sft_rows": 3, "prm_rows": 4},
    "factors": {"by_source_kind": {"seed": {"Compute": 4, "Conclude": 1}, "code": {"Compute": 1, "(untagged)": 1}}},
}


def folder(tmp_path: Path, manifest_value: Any = MANIFEST, prm_rows: list[Any] = PRM_ROWS,
           sft_rows: list[Any] = SFT_ROWS) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    if manifest_value is not None:
        (out / "manifest.json").write_text(manifest_value if isinstance(manifest_value, str) else json.dumps(manifest_value))
    if prm_rows:
        shard(out, "prm", "label-a-0.parquet", prm_rows[:2])
        shard(out, "prm", "label-a-1.parquet", prm_rows[2:])
    if sft_rows:
        shard(out, "sft", "tag-b-0.parquet", sft_rows)
    return out


def assert_inert(page: str) -> None:
    """One self-contained document: no script, no URL, the CSP that forbids everything else."""
    lower = page.lower()
    assert "<script" not in lower and "<img" not in lower and "javascript:" not in lower
    assert "http:" not in lower and "https:" not in lower and "//cdn" not in lower
    assert "http" not in lower.replace("http-equiv", "")
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert page.startswith("<!DOCTYPE html>") and page.count("<style>") == 1
    assert not re.search(r"<[^>]*\son\w+\s*=", re.sub(r'"[^"]*"', '""', page))  # no event handler in any tag


def test_figures_are_the_folders_numbers(tmp_path: Path) -> None:
    out = folder(tmp_path)
    fig = load_figures(str(out))
    assert fig.problems == [] and fig.rows == {"sft": 3, "prm": 4} and fig.shards == {"sft": 1, "prm": 2}
    shepherd = fig.soft_labels["shepherd"]
    assert shepherd[0].mean == pytest.approx((0.5 + 0.25 + 1.0) / 3) and shepherd[0].measured == 3 and shepherd[0].nulls == 0
    assert (shepherd[0].q1, shepherd[0].median, shepherd[0].q3) == pytest.approx((0.375, 0.5, 0.75))
    assert shepherd[1].measured == 2 and shepherd[1].nulls == 1 and shepherd[1].mean == pytest.approx(0.5)
    assert shepherd[2].nulls == 1 and shepherd[2].mean == 0.0 and shepherd[3].mean == 1.0 and len(shepherd) == 4
    assert fig.soft_labels["binary"][0].mean is None and fig.soft_labels["binary"][0].nulls == 1
    assert fig.steps == {"prm": {2: 2, 3: 1, 4: 1}, "sft": {2: 2, 3: 1}}
    assert fig.rollouts == {"binary": 8, "shepherd": 8 + 4 + 16}
    assert [(s.key, s.yes, s.total) for s in fig.sft_verified] == [("code / code_roundtrip", 1, 1), ("seed / math-verify", 1, 2)]
    assert [(s.key, s.yes, s.total) for s in fig.prm_correct] == [("binary", 0, 1), ("shepherd", 2, 3)]
    assert fig.factors_from == "manifest" and fig.factors["seed"] == {"Compute": 4, "Conclude": 1}
    runs = {r.command: r for r in fig.runs}
    assert runs["label"].generated_tokens == 500 and runs["label"].tokens_per_second == pytest.approx(500 / 20.0)
    assert runs["expand"].tokens_per_second == pytest.approx(30.0)
    assert fig.spend == {"expand/expand": {"rollouts": 12, "simulations": 6}, "label/label": {"completions": 24}}
    assert [s.balanced for s in fig.stages] == [True, True, True, False]  # expand/expand, label/label, label/read, label/tag

    page = render_report(str(out))
    assert_inert(page)
    assert "<td>label</td><td class=n>5</td><td class=n>3</td><td class=n>0</td><td>too_long: 2</td>" in page
    assert "<tr class=bad><td>tag</td><td class=n>3</td><td class=n>2</td>" in page and "NO: unbalanced" in page
    assert "<title>label: filtered: too_long 2</title>" in page and 'class="mark"' in page  # the stacked bar, read marked
    assert "<title>expand: resumed 1</title>" in page
    assert "<title>2 steps: 2 rows</title>" in page and "<title>4 steps: 1 rows</title>" in page  # the PRM histogram
    assert f"step 1: mean {fmt((0.5 + 0.25 + 1.0) / 3)}, IQR 0.375–0.75, 3 measured, 0 unmeasured" in page
    assert f"<td class=n>{fmt(25.0)}</td>" in page and f"<td class=n>{fmt(30.0)}</td>" in page  # tokens/s
    assert "<title>shepherd: 28</title>" in page and "<title>seed / math-verify: 1 / 2 (50%)</title>" in page
    assert "SmolLM2" in page and "9.9.9" in page and "a plain note" in page and "PRM 4 rows in 2 shards" in page
    assert "set aside as corrupt: out/prm/old.parquet" in page


def test_only_the_needed_columns_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never the text (completions, problem, messages): on a large dataset that is most of the bytes."""
    asked: list[str] = []
    real = fs.parquet_file

    @contextmanager
    def recording(path: str) -> Iterator[Any]:
        with real(path) as parquet:
            read = parquet.read
            parquet.read = lambda columns=None, **kw: (asked.extend(columns or ["*"]), read(columns=columns, **kw))[1]
            yield parquet

    monkeypatch.setattr(fs, "parquet_file", recording)
    assert load_figures(str(folder(tmp_path))).rows == {"sft": 3, "prm": 4}
    assert asked and not {"*", "completions", "problem", "messages", "prompt", "steps"} & set(asked)
    assert "steps.list.element.factor" in asked and "soft_labels" in asked


def test_factors_counted_from_the_rows_without_a_manifest(tmp_path: Path) -> None:
    fig = load_figures(str(folder(tmp_path, manifest_value=None)))
    assert fig.factors_from == "shards"
    assert fig.factors == {"code": {"(untagged)": 1, "Compute": 1}, "seed": {"Compute": 4, "Conclude": 1}}
    assert fig.problems == ["no manifest.json: the funnel, the runs and the notes are unknown"]


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    hostile = {
        "stages": {f"{SCRIPT}/{IMG}": stage(3, 1, {IMG: 1, QUOTES: 1}, **{SCRIPT: 5})},
        "runs": {SCRIPT: {"model": QUOTES, "wall_seconds": 1.0, "runner": IMG}},
        "model": IMG, "notes": [SCRIPT, QUOTES], "versions": {IMG: SCRIPT},
        "factors": {"by_source_kind": {SCRIPT: {IMG: 2, QUOTES: 1}}},
    }
    out = folder(tmp_path, hostile, [prm(0, SCRIPT, [0.5], [1], True, kind=IMG)], [sft(0, IMG, [SCRIPT], True, QUOTES)])
    page = render_report(str(out))
    assert_inert(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&quot;&#x27; onmouseover=&quot;alert(1)" in page and QUOTES not in page
    assert 'aria-label="funnel of &lt;script&gt;' in page  # in an attribute, quoted and escaped


def test_object_store_folder_and_output(tmp_path: Path) -> None:
    """Every path goes through ``fs``: a folder and an output on ``memfs://`` (nothing on disk) work."""
    local = folder(tmp_path)
    remote = f"memfs://report-{tmp_path.name}"
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        fs.write_bytes(fs.join(remote, *path.relative_to(local).parts), path.read_bytes())
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.run(parser.parse_args([remote, "-o", fs.join(remote, "report.html")])) == 0
    page = fs.read_bytes(fs.join(remote, "report.html")).decode("utf-8")
    assert load_figures(remote).rows == {"sft": 3, "prm": 4} and "<title>2 steps: 2 rows</title>" in page


def test_cli_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = folder(tmp_path)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    target = tmp_path / "report.html"
    assert cli.run(parser.parse_args([str(out), "-o", str(target)])) == 0
    assert target.read_text(encoding="utf-8") == render_report(str(out))
    assert cli.run(parser.parse_args([str(out), "-o", "-"])) == 0
    assert capsys.readouterr().out == render_report(str(out))
    with pytest.raises(ConfigError, match="is a directory"):
        cli.run(parser.parse_args([str(out), "-o", str(tmp_path)]))


@pytest.mark.parametrize("case, expected", [
    ("no_manifest", "no manifest.json"),
    ("not_json", "manifest.json cannot be read as JSON"),
    ("not_an_object", "manifest.json is not a JSON object"),
    ("corrupt_shard", "prm/label-a-2.parquet cannot be read"),
    ("empty", "nothing to report"),
    ("no_prm", "no PRM shards in prm/"),
    ("odd_shapes", None),
])
def test_bad_folders_give_a_page_with_a_note(tmp_path: Path, case: str, expected: str | None) -> None:
    manifests = {"no_manifest": None, "not_json": '{"stages": {"label/re', "not_an_object": "[1, 2]", "empty": None,
                 "odd_shapes": {"stages": {"a/b": "x", "c/d": {"read": "many", "filtered": [1], "stats": {"rollouts": None}}},
                                "runs": [1, 2], "factors": {"by_source_kind": {"seed": 3}}, "notes": "not a list",
                                "wall_seconds": "soon", "outputs": 7}}
    out = folder(tmp_path, manifests.get(case, MANIFEST), [] if case in ("empty", "no_prm") else PRM_ROWS,
                 [] if case == "empty" else SFT_ROWS)
    if case == "corrupt_shard":
        (out / "prm" / "label-a-2.parquet").write_bytes(b"PAR1 not parquet at all")
    page = render_report(str(out))
    assert_inert(page)
    assert "could not be drawn" not in page and "Traceback" not in page
    fig = load_figures(str(out))
    if expected:
        assert any(expected in p for p in fig.problems), fig.problems
        assert f'<p class="note">{svg.esc(next(p for p in fig.problems if expected in p))}</p>' in page
    if case == "corrupt_shard":
        assert fig.rows["prm"] == 4  # the whole shards still counted


def test_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such directory"):
        render_report(str(tmp_path / "nowhere"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        render_report(str(tmp_path / "file"))


def test_svg_helpers_escape_their_labels() -> None:
    charts = [svg.hbar([(SCRIPT, 1.0)], IMG), svg.stacked_hbar([(SCRIPT, [1, 2])], [IMG, QUOTES], SCRIPT, [4]),
              svg.histogram({1: 2, 3: 1}, IMG, unit=SCRIPT), svg.histogram({}, IMG),
              svg.distribution([(SCRIPT, 0.5, 0.25, 0.5, 0.75, IMG), (IMG, None, None, None, None, QUOTES)], SCRIPT)]
    for chart in charts:
        assert chart.startswith("<svg") and chart.endswith("</svg>")
        assert "<script" not in chart and "<img" not in chart and QUOTES not in chart
    assert svg.histogram({n: 1 for n in range(1, 201)}, "wide").count("<rect") == 40  # bins widened


def test_report_of_a_real_tag_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(["tag", "--input", FIXTURES / "gsm8k_sample.jsonl", "--column", "answer", "--out", out, "--limit", "4"]) == 0
    fig = load_figures(str(out))
    data = manifest(out)
    assert fig.rows == {"sft": 4, "prm": 0} and sum(fig.steps["sft"].values()) == 4
    assert fig.problems == ["no PRM shards in prm/: its figures are empty"]
    assert fig.factors == data["factors"]["by_source_kind"]
    assert sum(sum(c.values()) for c in fig.factors.values()) == sum(k * n for k, n in fig.steps["sft"].items())
    assert {s.name for s in fig.stages} == set(data["stages"]) and all(s.balanced for s in fig.stages)
    assert [r.command for r in fig.runs] == ["tag"] and fig.runs[0].wall_seconds == data["runs"]["tag"]["wall_seconds"]
    page = render_report(str(out))
    assert_inert(page)
    assert "<h3>tag</h3>" in page and "could not be drawn" not in page
