"""A stand-in for a cluster, started by the tests themselves: an S3 API and a portable Beam runner.

``s3_server`` -- a real S3 API (``moto_server``) on 127.0.0.1 for the whole session.

``portable_runner`` -- Beam's Python job service plus an EXTERNAL worker pool whose SDK workers
run in their own mount namespace, with a fresh tmpfs over ``/tmp`` and over ``private_dir``: a
path a worker writes locally is invisible to the launcher (the test process), as on a cluster.
Pipelines reach it with ``PipelineOptions(portable_runner.beam_args + s3_server.beam_args)``.

Both are started and stopped by ``standin.py`` (shared with the benchmarks); here a stand-in that
cannot run on this machine skips the tests, one that does not come up fails them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.cluster.standin import (
    WORKERS,
    PortableCluster,
    S3Server,
    StandinUnavailable,
    portable_standin,
    s3_standin,
)

__all__ = ["WORKERS", "PortableCluster", "S3Server", "portable_runner", "s3_server"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(s3_standin(tmp_path_factory.mktemp("moto"), fail=pytest.fail))
        except StandinUnavailable as exc:
            pytest.skip(exc.reason)
        yield server


@pytest.fixture(scope="session")
def portable_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortableCluster]:
    with contextlib.ExitStack() as stack:
        try:
            cluster = stack.enter_context(portable_standin(tmp_path_factory.mktemp("cluster"), fail=pytest.fail))
        except StandinUnavailable as exc:
            pytest.skip(exc.reason)
        yield cluster
