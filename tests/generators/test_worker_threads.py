"""Torch threads decided on the worker when the launcher could not size them (a cluster runner)."""

from __future__ import annotations

import pytest

from generators.backends.transformers_backend import worker_threads


def test_worker_threads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    monkeypatch.delenv("REVERSE_O1_THREADS", raising=False)
    monkeypatch.delenv("REVERSE_O1_WORKER_PROCESSES", raising=False)
    assert worker_threads() == 1  # one SDK process per core, as Dataflow and Flink run by default
    monkeypatch.setenv("REVERSE_O1_WORKER_PROCESSES", "2")
    assert worker_threads() == 8
    monkeypatch.setenv("REVERSE_O1_THREADS", "3")
    assert worker_threads() == 3


def test_the_launcher_sizes_threads_only_for_runners_on_its_machine() -> None:
    from pipelines.config import build_config, with_worker_threads
    from pipelines.io.placement import runs_here
    from pipelines.runner import pipeline_options

    config = build_config({})
    assert with_worker_threads(config, ["--direct_num_workers=1"]).threads is not None
    assert not runs_here(pipeline_options(["--runner=DataflowRunner"]))
