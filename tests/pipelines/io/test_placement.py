"""Which runners share the launcher's disk, and the one-line refusal of local paths."""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.io.placement import PlacementError, check_paths, runs_here, workers_share_disk


@pytest.mark.parametrize("args,here", [
    ([], True),
    (["--runner=DirectRunner", "--direct_running_mode=multi_processing"], True),
    (["--runner=PortableRunner", "--environment_type=LOOPBACK"], True),
    (["--runner=PortableRunner", "--environment_type=EXTERNAL"], False),
    (["--runner=FlinkRunner"], False),
    (["--runner=DataflowRunner"], False),
    (["--runner=apache_beam.runners.portability.spark_runner.SparkRunner"], False),
])
def test_runs_here(args: list[str], here: bool) -> None:
    assert runs_here(PipelineOptions(args)) is here


def test_local_paths_are_refused_only_where_workers_have_their_own_disk() -> None:
    remote = PipelineOptions(["--runner=DataflowRunner"])
    with pytest.raises(PlacementError, match=r"--out out/run is a local path, but the DataflowRunner workers"):
        check_paths(remote, {"--out": ["out/run"], "--input": ["gs://b/in.jsonl"]})
    with pytest.raises(PlacementError, match="--input /data/in.jsonl"):
        check_paths(remote, {"--out": ["gs://b/run"], "--input": ["gs://b/a.jsonl", "/data/in.jsonl"]})
    check_paths(remote, {"--out": ["gs://b/run"], "--input": ["s3://b/a.jsonl"]})
    check_paths(remote, {"--out": ["out/run"]}, shared_filesystem=True)
    assert workers_share_disk(remote, shared_filesystem=True)
    check_paths(PipelineOptions([]), {"--out": ["out/run"]})
