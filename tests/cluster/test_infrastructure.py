"""The cluster stand-in itself: portable runner with 2 private-disk SDK workers, plus a real S3 API.

Each pipeline is kept to few stages: every stage is a bundle round trip to both workers, and each
job starts its own 2 worker processes (a few seconds of the runtime)."""

from __future__ import annotations

import json
import os
import uuid

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter


def _write(path: str, data: bytes) -> None:
    with FileSystems.create(path) as f:
        f.write(data)


class _S3RoundTrip(beam.DoFn):
    """On the worker: writes, reads back and matches an s3:// object through FileSystems."""

    def __init__(self, bucket: str):
        self.bucket = bucket

    def process(self, x: int):
        path = f"{self.bucket}/direct/{x}.txt"
        _write(path, b"value-%d" % x)
        with FileSystems.open(path) as f:
            back = f.read().decode()
        matched = [m.path for m in FileSystems.match([path])[0].metadata_list]
        yield json.dumps({"x": x, "pid": os.getpid(), "back": back, "matched": matched})


class _LocalDisk(beam.DoFn):
    """On the worker: what it sees of the launcher's files; writes files of its own; reports to S3."""

    def __init__(self, launcher_files: list[str], private_dir: str, token: str, report: str):
        self.launcher_files = launcher_files
        self.private_dir = private_dir
        self.token = token
        self.report = report

    def process(self, x: int):
        mine = [os.path.join(self.private_dir, f"worker-{self.token}-{x}"), f"/tmp/rot-worker-{self.token}-{x}"]
        for path in mine:
            with open(path, "w") as f:
                f.write(str(x))
        row = {
            "x": x,
            "sees_launcher": [os.path.exists(p) for p in self.launcher_files],
            "reads_own": [open(p).read() == str(x) for p in mine],
            "mine": mine,
        }
        _write(f"{self.report}/{x}.json", json.dumps(row).encode())
        yield str(x)


class _Count(beam.DoFn):
    def __init__(self):
        self.seen = Metrics.counter("cluster", "seen")
        self.evens = Metrics.counter("cluster", "evens")

    def process(self, x: int):
        self.seen.inc()
        if x % 2 == 0:
            self.evens.inc()
        yield x


class _Route(beam.DoFn):
    def process(self, x: int, names: list[str], labels: dict[int, str]):
        tag = "even" if x % 2 == 0 else "odd"
        yield beam.pvalue.TaggedOutput(tag, f"{x}:{len(names)}:{labels.get(x, '-')}")
        if x == 0:
            yield "main-0"


def test_workers_read_and_write_s3_that_the_launcher_sees(portable_runner, s3_server):
    bucket = s3_server.make_bucket()
    p = beam.Pipeline(options=portable_runner.options(*s3_server.beam_args))
    _ = (
        p
        | beam.Create(list(range(6)))
        | beam.ParDo(_S3RoundTrip(bucket))
        | beam.io.WriteToText(f"{bucket}/out/part", file_name_suffix=".jsonl")
    )
    portable_runner.run(p)

    keys = s3_server.keys(bucket, "out/")
    assert keys and all(k.endswith(".jsonl") for k in keys)
    rows = [json.loads(line) for k in keys for line in s3_server.read(f"{bucket}/{k}").decode().splitlines()]
    assert sorted(r["x"] for r in rows) == list(range(6))
    assert all(r["back"] == f"value-{r['x']}" and r["matched"] == [f"{bucket}/direct/{r['x']}.txt"] for r in rows)
    assert s3_server.read(f"{bucket}/direct/5.txt") == b"value-5"
    pids = {r["pid"] for r in rows}
    assert os.getpid() not in pids
    assert len(pids) == portable_runner.workers, f"expected {portable_runner.workers} worker processes, got {pids}"


def test_worker_local_disk_is_private(portable_runner, s3_server, tmp_path):
    bucket = s3_server.make_bucket()
    token = uuid.uuid4().hex[:8]
    private = portable_runner.private_dir
    launcher_files = [tmp_path / "launcher-marker", private / f"launcher-{token}", f"/tmp/rot-launcher-{token}"]
    for path in launcher_files:
        with open(path, "w") as f:
            f.write("launcher")
    local_out = private / f"out-{token}"
    try:
        p = beam.Pipeline(options=portable_runner.options(*s3_server.beam_args))
        _ = (
            p
            | beam.Create([1, 2, 3])
            | beam.ParDo(_LocalDisk([str(f) for f in launcher_files], str(private), token, f"{bucket}/report"))
            | beam.io.WriteToText(str(local_out))  # a launcher-local path, written by the workers
        )
        portable_runner.run(p)

        keys = s3_server.keys(bucket, "report/")
        rows = [json.loads(s3_server.read(f"{bucket}/{k}")) for k in keys]
        assert sorted(r["x"] for r in rows) == [1, 2, 3]
        for r in rows:
            assert r["sees_launcher"] == [False] * len(launcher_files), r
            assert r["reads_own"] == [True, True], r
            assert not any(os.path.exists(m) for m in r["mine"]), r  # the workers' files stay on the workers
        # WriteToText to a local path "succeeds", but its shards live (and die) on the workers' disks
        assert not list(private.glob(f"out-{token}*"))
    finally:
        for path in launcher_files:
            os.unlink(path)


def test_user_counters_come_back_summed_over_workers(portable_runner):
    p = beam.Pipeline(options=portable_runner.options())
    _ = p | beam.Create(list(range(50))) | beam.ParDo(_Count())
    result = portable_runner.run(p)

    query = result.metrics().query(MetricsFilter().with_namespace("cluster"))
    counters = {c.key.metric.name: c for c in query["counters"]}
    assert set(counters) == {"seen", "evens"}
    # the Python job service reports user metrics as COMMITTED only (attempted is None)
    assert counters["seen"].committed == 50 and counters["evens"].committed == 25
    assert counters["seen"].result == 50  # .result: committed, falling back to attempted


def test_side_inputs_and_tagged_outputs(portable_runner, s3_server):
    bucket = s3_server.make_bucket()
    p = beam.Pipeline(options=portable_runner.options(*s3_server.beam_args))
    nums = p | "Nums" >> beam.Create(list(range(6)))
    names = p | "Names" >> beam.Create(["a", "b", "c"])
    labels = p | "Labels" >> beam.Create([(0, "zero"), (3, "three")])
    routed = nums | beam.ParDo(_Route(), beam.pvalue.AsList(names), beam.pvalue.AsDict(labels)).with_outputs(
        "even", "odd", main="main"
    )
    tagged = [routed[tag] | f"Tag{tag}" >> beam.Map(lambda v, t=tag: f"{t}={v}") for tag in ("even", "odd", "main")]
    _ = tagged | beam.Flatten() | beam.io.WriteToText(f"{bucket}/routed", shard_name_template="")
    portable_runner.run(p)

    got = sorted(s3_server.read(f"{bucket}/routed").decode().split())
    assert got == sorted(["even=0:3:zero", "even=2:3:-", "even=4:3:-", "odd=1:3:-", "odd=3:3:three", "odd=5:3:-", "main=main-0"])
