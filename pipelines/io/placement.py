"""Where the work runs: do the workers see the launcher's local disk?

The DirectRunner (in memory, multi-threading or multi-processing) and any portable runner with
``--environment_type=LOOPBACK`` run the workers on the launcher's machine, so local paths mean the
same thing there. Every other runner (Dataflow, Flink, Spark, a portable job server with DOCKER,
PROCESS or EXTERNAL workers) may run its workers on machines, or in containers, with a disk of
their own: there a local ``--out`` or ``--input`` would be written or read on the wrong disk, so
the launcher refuses it with one line unless ``--shared-filesystem`` says the workers do see it
(an NFS mount, a one-machine Flink).
"""

from __future__ import annotations

from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, StandardOptions

LOCAL_RUNNERS = frozenset({None, "", "direct", "directrunner", "bundlebasedirectrunner", "switchingdirectrunner",
                           "interactiverunner"})


class PlacementError(Exception):
    """A path the workers cannot reach; the message is one line."""


def runner_name(options: PipelineOptions) -> str:
    runner = options.view_as(StandardOptions).runner
    if runner is None:
        return "DirectRunner"
    return runner if isinstance(runner, str) else type(runner).__name__


def runs_here(options: PipelineOptions) -> bool:
    """The workers run on the launcher's machine (the DirectRunner, or a LOOPBACK environment)."""
    runner = runner_name(options).rsplit(".", 1)[-1].lower()
    if runner in LOCAL_RUNNERS:
        return True
    env = (options.view_as(PortableOptions).environment_type or "").upper()
    return env == "LOOPBACK"


def workers_share_disk(options: PipelineOptions, shared_filesystem: bool = False) -> bool:
    """True where local paths name the same files on the launcher and on every worker."""
    return shared_filesystem or runs_here(options)


def check_paths(options: PipelineOptions, paths: dict[str, list[str]], shared_filesystem: bool = False) -> None:
    """Refuse local paths (``{flag: [path, ...]}``) when the workers have a disk of their own."""
    if workers_share_disk(options, shared_filesystem):
        return
    from pipelines.io.fs import is_local

    for flag, values in paths.items():
        local = [p for p in values if p and is_local(p)]
        if local:
            raise PlacementError(
                f"{flag} {local[0]} is a local path, but the {runner_name(options)} workers do not share this machine's "
                f"disk: use gs://, s3:// or another shared filesystem (or pass --shared-filesystem if they do see it)")


def describe(options: Any) -> dict[str, Any]:
    """The runner facts recorded in the manifest."""
    return {"runner": runner_name(options), "environment_type": options.view_as(PortableOptions).environment_type}
