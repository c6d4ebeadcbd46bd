"""A stand-in for the Beam Python SDK container's ``boot`` executable (``/opt/apache/beam/boot``).

The stock ``worker_pool_main`` without ``--container_executable`` starts each SDK worker as a bare
``SdkHarness(...).run()``: the worker never receives the pipeline options, so ``FileSystems`` on it
has no options and every ``s3://`` access fails with ``ValueError: Must provide one of client or
options``. A real cluster (the SDK container started with ``--worker_pool``) runs ``boot`` instead,
which asks the runner's provision service for the pipeline options and endpoints and then execs
``python -m apache_beam.runners.worker.sdk_worker_main`` with them in the environment. This file
does the same (without staging artifacts: the worker shares the launcher's virtual environment).

Called by the worker pool as ``boot --id=ID --provision_endpoint=HOST:PORT ...``.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", required=True)
    parser.add_argument("--provision_endpoint", required=True)
    parser.add_argument("--control_endpoint")
    parser.add_argument("--logging_endpoint")
    parser.add_argument("--artifact_endpoint")
    args, _ = parser.parse_known_args(argv)

    # The pool starts us with stdout=PIPE and never reads it: a chatty worker would block once
    # the pipe buffer fills, so send our stdout to stderr (the pool's log) instead.
    os.dup2(2, 1)

    import grpc
    from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc
    from google.protobuf import json_format, text_format

    with grpc.insecure_channel(args.provision_endpoint) as channel:
        grpc.channel_ready_future(channel).result(timeout=60)
        stub = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
        info = stub.GetProvisionInfo(
            beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=[("worker_id", args.id)], timeout=60
        ).info

    env = dict(os.environ)
    env["WORKER_ID"] = args.id
    env["PIPELINE_OPTIONS"] = json_format.MessageToJson(info.pipeline_options)
    env["CONTROL_API_SERVICE_DESCRIPTOR"] = text_format.MessageToString(info.control_endpoint)
    env["LOGGING_API_SERVICE_DESCRIPTOR"] = text_format.MessageToString(info.logging_endpoint)
    if info.HasField("status_endpoint"):
        env["STATUS_API_SERVICE_DESCRIPTOR"] = text_format.MessageToString(info.status_endpoint)
    if info.runner_capabilities:
        env["RUNNER_CAPABILITIES"] = " ".join(info.runner_capabilities)
    semi = os.path.join("/tmp", "beam-semi-persistent", args.id)
    os.makedirs(semi, exist_ok=True)
    env["SEMI_PERSISTENT_DIRECTORY"] = semi

    cmd = [sys.executable, "-m", "apache_beam.runners.worker.sdk_worker_main"]
    os.execve(sys.executable, cmd, env)


if __name__ == "__main__":
    main(sys.argv[1:])
