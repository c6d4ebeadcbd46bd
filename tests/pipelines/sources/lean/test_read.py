"""ReadLeanTheorems on Beam's DirectRunner: real fixture slices, broken input, a 20 MB streamed file, traced repos."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest

from pipelines.sources.lean import read as lean_read
from pipelines.sources.lean import traced as lean_traced
from pipelines.sources.lean.read import ReadLeanTheorems, expand_lean_inputs, iter_json
from pipelines.sources.lean.traced import LeanUnavailable, lean_toolchain, parse_repo_spec, trace_repo
from pipelines.stage.counters import balanced, stage_counts

LEAN = Path(__file__).resolve().parents[3] / "fixtures" / "lean"
TOY = json.loads((LEAN / "leandojo_full_schema_toy_4thm.json").read_text(encoding="utf-8"))
NO_TOOLCHAIN = lean_toolchain()


def read(tmp_path: Path, inputs: list[Any], **kwargs: Any) -> tuple[list, list, dict[str, Any]]:
    """Run the transform; (theorems sorted by ref, dead letters sorted by ref, the stage's counts)."""
    out = tmp_path / "collected.pkl"
    pipeline = beam.Pipeline()
    got = pipeline | ReadLeanTheorems([str(i) for i in inputs], stage="lean_read", **kwargs)
    both = ((got["theorems"] | "T" >> beam.Map(lambda t: ("t", t))), (got["dead"] | "D" >> beam.Map(lambda d: ("d", d))))
    _ = both | beam.Flatten() | beam.combiners.ToList() | beam.Map(lambda rows: out.write_bytes(pickle.dumps(rows)))
    result = pipeline.run()
    result.wait_until_finish()
    rows = pickle.loads(out.read_bytes())
    theorems = sorted((r for k, r in rows if k == "t"), key=lambda t: t.ref)
    dead = sorted((r for k, r in rows if k == "d"), key=lambda d: d.ref)
    counts = stage_counts(result).get("lean_read")
    assert counts is not None and balanced(counts), counts
    assert counts["written"] == len(theorems) and counts["dead_lettered"] == len(dead)
    return theorems, dead, counts


def test_real_fixtures_all_shapes(tmp_path: Path) -> None:
    theorems, dead, counts = read(tmp_path, [LEAN])  # a folder: both JSON files and the JSONL
    assert dead == [] and counts["read"] == 8 + 4 + 8
    shapes = {}
    for t in theorems:
        shapes[t.shape] = shapes.get(t.shape, 0) + 1
    assert shapes == {"leandojo": 12, "whole_proof": 8}
    by_name = {t.full_name: t for t in theorems}
    assert by_name["mul_assoc_my_4"].tactics[2].premises == ("Nat.mul_comm", "Nat.mul_left_comm")
    assert by_name["mathd_algebra_182"].informal_solution.startswith("We apply the distributive property")
    assert by_name["mathd_algebra_182"].ref.endswith("minif2f_valid_8.jsonl:1")
    assert by_name["BoxIntegral.Box.withBotCoe_inj"].ref.endswith("leandojo4_mathlib_8thm.json#0")


def test_benchmark_directory_layout(tmp_path: Path) -> None:
    split = tmp_path / "leandojo_benchmark_4" / "random"
    split.mkdir(parents=True)
    shutil.copy(LEAN / "leandojo4_mathlib_8thm.json", split / "train.json")
    shutil.copy(LEAN / "leandojo_full_schema_toy_4thm.json", split / "val.json")
    (split / "notes.txt").write_text("ignored", encoding="utf-8")
    assert [Path(p).name for _k, p in expand_lean_inputs([str(tmp_path / "leandojo_benchmark_4")])] == ["train.json", "val.json"]
    theorems, dead, _ = read(tmp_path, [tmp_path / "leandojo_benchmark_4"])
    assert len(theorems) == 12 and dead == []


def test_limit_keeps_the_first_in_order(tmp_path: Path) -> None:
    theorems, _dead, counts = read(tmp_path, [LEAN / "leandojo4_mathlib_8thm.json", LEAN / "minif2f_valid_8.jsonl"], limit=3)
    assert [t.ref.rsplit("#", 1)[1] for t in theorems] == ["0", "1", "2"]
    assert counts["filtered"]["beyond_limit"] == 3  # each file stops at 3; the second file's 3 go over


def test_a_whole_proof_without_url_gets_its_files_uri(tmp_path: Path) -> None:
    from pipelines.io import fs
    from tests.pipelines.io import memfs  # noqa: F401  (registers memfs://)

    lines = (LEAN / "minif2f_valid_8.jsonl").read_bytes()
    folder = tmp_path / "run:1"  # a colon in a folder name
    folder.mkdir()
    (folder / "m.jsonl").write_bytes(lines)
    records = [json.loads(line) for line in lines.decode().splitlines()[:2]]
    fs.write_bytes("memfs://lean-url/in/m.jsonl", lines)
    fs.write_bytes("memfs://lean-url/in/m.json", json.dumps(records).encode())
    for path, uri in [(str(folder / "m.jsonl"), f"file://{folder}/m.jsonl"),
                      ("memfs://lean-url/in/m.jsonl", "memfs://lean-url/in/m.jsonl"),
                      ("memfs://lean-url/in/m.json", "memfs://lean-url/in/m.json")]:  # one URI for every item, no "#N"
        items = list(lean_read.iter_source("lean_read", 0, "file", path, 1_000_000))
        assert items and {theorem.url for _order, theorem in items} == {uri}, path
    fs.delete(["memfs://lean-url/in/m.jsonl", "memfs://lean-url/in/m.json"])


def test_broken_json_records_and_truncation(tmp_path: Path) -> None:
    good = TOY[0]
    odd = json.loads(json.dumps(good))
    odd["traced_tactics"][0]["state_before"] = "x\u0301 : ℕ\n⊢ \u05e9\u05dc\u05d5\u05dd = x\u0000 \u202e"  # combining, RTL, NUL
    records = [good, {**good, "full_name": None}, {**good, "traced_tactics": []}, {**good, "traced_tactics": "simp"},
               {**good, "start": "71:1"}, odd, 42]
    text = json.dumps(records, ensure_ascii=False)
    (tmp_path / "broken.json").write_text(text, encoding="utf-8")
    (tmp_path / "cut.json").write_text(json.dumps(TOY)[:-300], encoding="utf-8")
    surrogate = json.dumps([{**good, "full_name": "lone_\\ud800"}]).replace("\\\\ud800", "\\ud800")
    (tmp_path / "surrogate.json").write_text(surrogate, encoding="utf-8")
    (tmp_path / "latin1.json").write_bytes(json.dumps([good]).replace("mul_assoc", "caf\u00e9").encode("latin-1"))
    theorems, dead, counts = read(tmp_path, [tmp_path / n for n in ("broken.json", "cut.json", "surrogate.json", "latin1.json")])
    reasons = {d.ref.rsplit("/", 1)[1]: d.reason for d in dead}
    assert reasons == {"broken.json#1": "missing_field", "broken.json#2": "no_tactics", "broken.json#3": "wrong_type",
                       "broken.json#4": "wrong_type", "broken.json#6": "wrong_type", "cut.json#3": "truncated_json",
                       "latin1.json#0": "not_utf8", "surrogate.json#0": "invalid_unicode"}
    names = [t.full_name for t in theorems]
    assert names.count("mul_assoc_my_4") == 2 + 1  # broken.json #0 and #5, and cut.json's first theorem
    assert len([t for t in theorems if t.ref.rsplit("/", 1)[1].startswith("cut.json")]) == 3
    kept = next(t for t in theorems if t.ref.endswith("broken.json#5"))
    assert kept.tactics[0].state_before == odd["traced_tactics"][0]["state_before"]  # odd Unicode kept exactly
    assert counts["read"] == 7 + 4 + 1 + 1


def test_broken_jsonl_lines_and_missing_file(tmp_path: Path) -> None:
    line = (LEAN / "minif2f_valid_8.jsonl").read_bytes().splitlines()[0]
    obj = json.loads(line)
    rows = [line, b"", b"{not json", json.dumps({**obj, "formal_proof": ""}).encode(), json.dumps({**obj, "name": 5}).encode(),
            b'{"name": "caf\xe9"}', json.dumps({**obj, "formal_proof": "  " + "x" * 3000}).encode(), b"[1, 2]"]
    (tmp_path / "broken.jsonl").write_bytes(b"\n".join(rows) + b"\n")
    theorems, dead, counts = read(tmp_path, [tmp_path / "broken.jsonl", tmp_path / "absent.jsonl"], max_record_bytes=2500)
    assert [t.full_name for t in theorems] == ["mathd_algebra_182"]
    assert [(d.ref.rsplit("/", 1)[1], d.reason) for d in dead] == [
        ("absent.jsonl", "missing_file"), ("broken.jsonl:3", "malformed_json"), ("broken.jsonl:4", "empty_proof"),
        ("broken.jsonl:5", "wrong_type"), ("broken.jsonl:6", "not_utf8"), ("broken.jsonl:7", "too_large"),
        ("broken.jsonl:8", "wrong_type")]
    assert counts["filtered"] == {"blank_line": 1}


def big_leandojo_file(path: Path, target_bytes: int = 20_000_000) -> int:
    """A generated LeanDojo JSON array of about ``target_bytes``, written piece by piece."""
    count, size = 0, 0
    with path.open("w", encoding="utf-8") as handle:
        handle.write("[")
        while size < target_bytes:
            theorem = {**TOY[0], "full_name": f"big_{count}"}
            theorem["traced_tactics"] = [{**t, "state_before": t["state_before"] + "\n" + "h : x = y\n" * 400}
                                         for t in TOY[0]["traced_tactics"]]
            piece = ("," if count else "") + json.dumps(theorem, ensure_ascii=False)
            handle.write(piece)
            size += len(piece.encode("utf-8"))
            count += 1
        handle.write("]")
    return count


def test_twenty_megabyte_file_is_streamed(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    count = big_leandojo_file(path)
    assert path.stat().st_size >= 20_000_000
    tracemalloc.start()
    seen = sum(1 for item in iter_json("s", 0, str(path)) if isinstance(item, tuple))
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seen == count
    assert peak < 2_000_000, f"peak {peak} bytes: the file was not streamed"  # < 10% of the file
    theorems, dead, counts = read(tmp_path, [path], limit=5)
    assert len(theorems) == 5 and dead == [] and counts["read"] == 5


def test_traced_repo_detection(tmp_path: Path) -> None:
    repo = tmp_path / "traced" / "Mathlib" / ".lake" / "build" / "ir"
    repo.mkdir(parents=True)
    (repo / "Basic.trace.xml").write_text("<TracedFile/>", encoding="utf-8")
    assert expand_lean_inputs([str(tmp_path / "traced")]) == [("traced", str(tmp_path / "traced"))]
    assert parse_repo_spec("https://github.com/o/r@abc123") == ("https://github.com/o/r", "abc123")
    with pytest.raises(ValueError, match="URL@COMMIT"):
        parse_repo_spec("https://github.com/o/r")


@pytest.mark.skipif(NO_TOOLCHAIN is None, reason="a Lean toolchain and lean_dojo are present: the refusal path does not apply")
def test_without_toolchain_traced_inputs_fail_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "traced").mkdir()
    (tmp_path / "traced" / "A.trace.xml").write_text("<TracedFile/>", encoding="utf-8")
    with pytest.raises(LeanUnavailable) as err:
        ReadLeanTheorems([str(tmp_path / "traced")])
    assert str(err.value) == NO_TOOLCHAIN and "\n" not in str(err.value)
    assert "pip install 'reverse-o1[lean]'" in str(err.value) or "elan" in str(err.value)
    with pytest.raises(LeanUnavailable):
        trace_repo("https://github.com/o/r@abc123", tmp_path / "out")


def test_traced_repo_read_through_lean_dojo(tmp_path: Path) -> None:
    if NO_TOOLCHAIN:
        pytest.skip(f"needs a Lean toolchain and lean_dojo to load a traced repo: {NO_TOOLCHAIN}")
    traced = os.environ.get("LEAN_TRACED_REPO")
    if not traced:
        pytest.skip("needs a repo traced by lean_dojo on disk, named by LEAN_TRACED_REPO; none is bundled")
    theorems, _dead, counts = read(tmp_path, [traced], limit=20)
    assert theorems and {t.shape for t in theorems} == {"traced_repo"} and all(t.tactics for t in theorems)


def test_lean_repo_tracing(tmp_path: Path) -> None:
    if NO_TOOLCHAIN:
        pytest.skip(f"--lean-repo tracing needs a Lean toolchain, lean_dojo and the network: {NO_TOOLCHAIN}")
    pytest.skip("tracing a real repo takes the network and up to an hour; not run in tests")  # pragma: no cover


def test_traced_theorem_conversion_with_a_stand_in() -> None:
    """The conversion of lean_dojo objects, on stand-ins with the attributes lean_dojo documents."""

    class Pos(tuple):
        line_nb = property(lambda self: self[0])
        column_nb = property(lambda self: self[1])

    class Tac:
        tactic, state_before, state_after = "simp [Nat.mul_comm]", "⊢ a * b = b * a", "no goals"

        def get_annotated_tactic(self):
            return "simp [<a>Nat.mul_comm</a>]", [{"full_name": "Nat.mul_comm", "def_path": "Init.lean"}]

    class Repo:
        url, commit = "https://github.com/o/r", "abc123"

    class Theorem:
        repo, file_path, full_name = Repo(), Path("R/Basic.lean"), "R.mul_comm'"

    class Traced:
        theorem, start, end = Theorem(), Pos((3, 1)), Pos((4, 20))

        def get_traced_tactics(self):
            return [Tac()]

    got = lean_traced.theorem_from_traced(Traced(), "repo#0")
    assert got.shape == "traced_repo" and got.full_name == "R.mul_comm'" and got.file_path == "R/Basic.lean"
    assert (got.url, got.commit, got.start, got.end) == ("https://github.com/o/r", "abc123", (3, 1), (4, 20))
    assert got.tactics[0].premises == ("Nat.mul_comm",) and got.tactics[0].state_after == "no goals"
    assert lean_read.SUFFIXES == (".json", ".jsonl")
