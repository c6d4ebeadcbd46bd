"""Beam's Python job service (``local_job_service_main``) that honours ``--sdk_worker_parallelism``.

The stock Python job service runs each job with ``FnApiRunner.run_via_runner_api``, which never
reads the worker-count options (only ``FnApiRunner.run_pipeline`` does, for the direct runner):
every job gets exactly ONE SDK worker per environment, whatever ``--sdk_worker_parallelism`` or
``--direct_num_workers`` says. A real cluster runs several SDK workers, so this wrapper sets the
runner's worker count from ``--sdk_worker_parallelism`` (the portable option a Flink/Spark job
server reads; falling back to ``--direct_num_workers``) before each job runs. With N > 1 the runner
asks the EXTERNAL pool for N workers (N processes) and splits each non-stateful stage's input
between them.

Run as ``python _job_service.py --port=PORT`` (the same flags as ``local_job_service_main``).
"""

from __future__ import annotations

import multiprocessing
import sys

from apache_beam.options import pipeline_options
from apache_beam.runners.portability import local_job_service_main
from apache_beam.runners.portability.fn_api_runner import fn_runner

_original = fn_runner.FnApiRunner.run_via_runner_api


def _as_int(value, default: int) -> int:
    # options reach the job service through a protobuf Struct: numbers as floats or strings
    try:
        return int(float(value)) if value is not None else default
    except (TypeError, ValueError):
        return default


def _workers_from(options: pipeline_options.PipelineOptions) -> int:
    n = _as_int(options.view_as(pipeline_options.PortableOptions).sdk_worker_parallelism, 1)
    if n == 1:  # the default: see whether the direct runner's option asks for more
        n = _as_int(options.view_as(pipeline_options.DirectOptions).direct_num_workers, 1)
    if n == 0:
        n = multiprocessing.cpu_count()
    return max(1, n)


def _run_via_runner_api(self, pipeline_proto, options):
    self._num_workers = _workers_from(options)
    return _original(self, pipeline_proto, options)


fn_runner.FnApiRunner.run_via_runner_api = _run_via_runner_api

if __name__ == "__main__":
    local_job_service_main.run(sys.argv[1:])
