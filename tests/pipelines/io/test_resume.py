"""Resume state as units: existing ids read by a pipeline, this run's duplicates, footer counts."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.io import bookkeeping, footers, fs, resume
from pipelines.io.shards import write_rows
from pipelines.stage.counters import read_stage_counts


def sft(i: int, kind: str = "seed", factors: tuple[str | None, ...] = ("Compute",)) -> dict:
    return {"id": f"r{i}", "source_kind": kind, "steps": [{"text": "x", "factor": f} for f in factors]}


def prm(i: int) -> dict:
    return {"id": f"p{i}", "prompt": "P", "completions": ["a"], "labels": [True]}


def test_existing_ids_are_read_by_the_pipeline_and_a_corrupt_shard_is_set_aside(tmp_path: Path) -> None:
    out = str(tmp_path)
    write_rows([sft(1), sft(2)], "sft", f"{out}/sft/old-a.parquet")
    write_rows([sft(3)], "sft", f"{out}/sft/old-b.parquet")
    (tmp_path / "sft" / "cut.parquet").write_bytes(b"PAR1 truncated")
    with BeamTestPipeline() as p:
        ids = p | resume.ExistingIds(out, "sft", "run9")
        assert_that(ids, equal_to([frozenset({"r1", "r2", "r3"})]))
    assert sorted(f.name for f in (tmp_path / "sft").iterdir()) == ["old-a.parquet", "old-b.parquet"]
    assert (tmp_path / ".corrupt" / "sft" / "cut.parquet").read_bytes() == b"PAR1 truncated"
    [record] = resume.set_aside_records(out, "run9")
    assert record["shard"] == f"{out}/sft/cut.parquet" and "magic bytes" in str(record["reason"])
    assert resume.set_aside_records(out, "another-run") == []


def test_existing_ids_of_an_empty_output_is_an_empty_set(tmp_path: Path) -> None:
    with BeamTestPipeline() as p:
        assert_that(p | resume.ExistingIds(str(tmp_path / "none"), "prm"), equal_to([frozenset()]))


def test_only_this_runs_shards_are_deduplicated(tmp_path: Path) -> None:
    out = str(tmp_path)
    write_rows([prm(1), prm(2)], "prm", f"{out}/prm/run1-a.parquet")
    write_rows([prm(2), prm(3)], "prm", f"{out}/prm/run1-b.parquet")  # a retried bundle repeated p2
    write_rows([prm(1)], "prm", f"{out}/prm/old-a.parquet")  # an earlier run's: not this run's business
    write_rows([prm(2)], "prm", f"{out}/prm/run1-c.parquet")  # only a repeat: the shard goes
    assert resume.drop_duplicate_rows(out, "prm", "run1") == 2
    ids = sorted(i for p in resume.shard_files(out, "prm") for i in fs.read_parquet(p).column("id").to_pylist())
    assert ids == ["p1", "p1", "p2", "p3"]
    assert not (tmp_path / "prm" / "run1-c.parquet").exists()


def test_output_stats_sum_footers_and_read_old_shards_without_them(tmp_path: Path) -> None:
    out = str(tmp_path)
    write_rows([sft(1, "seed", ("Compute", None)), sft(2, "code", ("Verify",))], "sft", f"{out}/sft/a.parquet")
    legacy = [sft(3, "seed", ("Compute",))]
    import pyarrow as pa

    from schemas.arrow import SCHEMAS

    fs.write_parquet(f"{out}/sft/legacy.parquet", pa.Table.from_pylist(legacy, schema=SCHEMAS["sft"]))  # no footer counts
    write_rows([prm(1)], "prm", f"{out}/prm/b.parquet")
    stats = footers.output_stats(out)
    assert stats.rows == {"sft": 3, "prm": 1, "trees": 0, "difficulty": 0, "summaries": 0} and stats.shards == 3
    assert stats.factors == {"seed": {"Compute": 2, "(untagged)": 1}, "code": {"Verify": 1}}


def test_a_runner_without_metrics_still_gets_a_balanced_output_stage(tmp_path: Path) -> None:
    class NoMetrics:
        def metrics(self):
            raise NotImplementedError("this runner has no metrics API")

    stages, source = read_stage_counts(NoMetrics())
    assert stages == {} and source.startswith("unavailable: NotImplementedError")
    out = str(tmp_path)
    write_rows([prm(1), prm(2)], "prm", f"{out}/prm/run1-a.parquet")
    write_rows([prm(3)], "prm", f"{out}/prm/old-a.parquet")
    fs.write_text(f"{out}/dead_letter/run1-x.jsonl", '{"reason": "a"}\n{"reason": "b"}\n')
    fs.write_text(f"{out}/dead_letter/old-x.jsonl", '{"reason": "c"}\n')
    run = bookkeeping.account(out, "label", "run1", stages, source)
    stage = run.stages["output"]
    assert (stage["read"], stage["written"], stage["dead_lettered"]) == (4, 2, 2)
    assert run.run_rows == 2 and run.stats.rows["prm"] == 3 and run.counts_from.endswith("dead letters")


def test_stale_dead_letters_of_the_same_command_go(tmp_path: Path) -> None:
    out = str(tmp_path)
    for name in ("label-1-a", "label-2-b", "tag-1-c"):
        fs.write_text(f"{out}/dead_letter/{name}.jsonl", "{}\n")
    assert resume.remove_stale_dead_letters(out, "label", "label-2") == 1
    assert sorted(p.name for p in (tmp_path / "dead_letter").iterdir()) == ["label-2-b.jsonl", "tag-1-c.jsonl"]


def test_prepare_sweeps_a_killed_writers_temporaries(tmp_path: Path) -> None:
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / ".abc-x.parquet.tmp").write_bytes(b"half")
    resume.prepare(str(tmp_path))
    assert not (tmp_path / ".tmp").exists()


def test_side_input_membership_in_a_dofn(tmp_path: Path) -> None:
    out = str(tmp_path)
    write_rows([prm(1)], "prm", f"{out}/prm/old.parquet")
    with BeamTestPipeline() as p:
        done = beam.pvalue.AsSingleton(p | "Ids" >> resume.ExistingIds(out, "prm"))
        fresh = p | beam.Create(["p1", "p2"]) | beam.Filter(lambda i, ids: i not in ids, done)
        assert_that(fresh, equal_to(["p2"]))
