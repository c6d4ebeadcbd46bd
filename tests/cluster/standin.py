"""A stand-in for a cluster: an S3 API and a portable Beam runner, started and stopped by context
managers so that the tests (``conftest.py``'s fixtures) and the benchmarks share them.

``s3_standin(workdir)`` -- a real S3 API (``moto_server``) on 127.0.0.1: an ``S3Server``.

``portable_standin(workdir)`` -- Beam's Python job service plus an EXTERNAL worker pool whose SDK
workers run in their own mount namespace, with a fresh tmpfs over ``/tmp`` and over
``private_dir``: a path a worker writes locally is invisible to the launcher, as on a cluster.
Pipelines reach it with ``PipelineOptions(cluster.beam_args + s3.beam_args)``: a
``PortableCluster``.

Where a stand-in cannot run here (no ``moto_server``, not root, no mount namespaces...) entering
it raises ``StandinUnavailable(reason)`` (the tests skip); where it should run but does not come
up, it calls ``fail(message)`` (by default raising ``StandinError``; the tests pass
``pytest.fail``). Leaving the ``with`` block stops every process it started, also on error.

Two stock-Beam gaps are filled here (see ``_sdk_boot.py`` and ``_job_service.py``):

* the stock pool starts bare ``SdkHarness`` workers that never get the pipeline options, so
  ``s3://`` fails on them; ours runs a ``boot`` stand-in that gives them the options, like the
  SDK container does on a real cluster;
* the stock Python job service always runs ONE SDK worker; ours honours
  ``--sdk_worker_parallelism`` (``beam_args`` asks for 2 worker processes).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
WORKERS = 2  # SDK worker processes per job (the runner splits each stage's input between them)
_START_TIMEOUT = 60.0


class StandinUnavailable(Exception):
    """The stand-in cannot run on this machine (the tests skip); ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class StandinError(RuntimeError):
    """The stand-in should run here but failed (did not start, a pipeline on it did not finish)."""


Fail = Callable[[str], NoReturn]


def _raise(message: str) -> NoReturn:
    raise StandinError(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def _stop(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL; always reaps (no zombies, no hangs)."""
    if proc is None or proc.poll() is not None:
        if proc is not None:
            proc.wait()
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,  # its own process group: teardown kills it and its children
        )


# --------------------------------------------------------------------------------------------
# S3


@dataclass
class S3Server:
    endpoint: str
    client: Any  # a boto3 S3 client on the endpoint
    access_key_id: str = "testing"
    secret_access_key: str = "testing"
    region: str = "us-east-1"
    beam_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # for child processes that use boto3 directly

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh ``rot-xxxxxxxx`` name by default); returns ``s3://name``."""
        name = name or f"rot-{uuid.uuid4().hex[:8]}"
        self.client.create_bucket(Bucket=name)
        return f"s3://{name}"

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """All object keys under ``prefix`` (``bucket`` as ``name`` or ``s3://name``), sorted."""
        bucket = bucket.removeprefix("s3://").rstrip("/")
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return sorted(keys)

    def read(self, url: str) -> bytes:
        """The bytes of ``s3://bucket/key``."""
        bucket, _, key = url.removeprefix("s3://").partition("/")
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()


@contextlib.contextmanager
def s3_standin(workdir: Path, fail: Fail = _raise) -> Iterator[S3Server]:
    """``moto_server`` on a free port of 127.0.0.1 (its logs under ``workdir``), stopped on exit."""
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        exe = Path(shutil.which("moto_server") or exe)
    if not exe.exists():
        raise StandinUnavailable("moto_server not installed (pip install 'moto[server]')")
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise StandinUnavailable(f"boto3 missing: {exc}") from exc

    log_dir = Path(workdir)
    log_dir.mkdir(parents=True, exist_ok=True)
    proc = None
    try:
        for attempt in range(3):  # a free port can be taken between the probe and the bind
            port = _free_port()
            log = log_dir / f"moto-{attempt}.log"
            proc = _spawn([str(exe), "-H", "127.0.0.1", "-p", str(port)], log)
            deadline = time.monotonic() + _START_TIMEOUT
            ready = False
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2):
                        ready = True
                except urllib.error.HTTPError:  # any HTTP answer: it is up
                    ready = True
                except OSError:
                    time.sleep(0.2)
                if ready:
                    break
            if ready:
                break
            _stop(proc)
            if time.monotonic() >= deadline:
                fail(f"moto_server not ready after {_START_TIMEOUT}s:\n{_tail(log)}")
        else:
            fail(f"moto_server failed to start:\n{_tail(log)}")

        endpoint = f"http://127.0.0.1:{port}"
        creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
            **creds,
        )
        yield S3Server(
            endpoint=endpoint,
            client=client,
            beam_args=[
                f"--s3_endpoint_url={endpoint}",
                "--s3_access_key_id=testing",
                "--s3_secret_access_key=testing",
                "--s3_region_name=us-east-1",
            ],
            env={
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ENDPOINT_URL_S3": endpoint,
            },
        )
    finally:
        _stop(proc)


# --------------------------------------------------------------------------------------------
# Portable runner


@dataclass
class PortableCluster:
    job_endpoint: str
    pool_endpoint: str
    private_dir: Path  # exists for the launcher; workers see an empty private tmpfs there
    workers: int
    beam_args: list[str]
    job_service_log: Path
    pool_log: Path
    fail: Fail = field(default=_raise, repr=False, compare=False)

    def options(self, *extra: str):
        """``PipelineOptions`` for this runner plus ``extra`` args (e.g. ``s3_server.beam_args``)."""
        from apache_beam.options.pipeline_options import PipelineOptions

        return PipelineOptions([*self.beam_args, *extra])

    def run(self, pipeline, timeout: float = 120.0):
        """Run ``pipeline`` and wait at most ``timeout`` s (``wait_until_finish()`` alone can block
        forever when a worker never connects); returns the finished result, re-raises its error."""
        result = pipeline.run()
        outcome: dict[str, Any] = {}

        def wait() -> None:
            try:
                outcome["state"] = result.wait_until_finish()
            except BaseException as exc:  # noqa: B036 -- handed to the caller's thread
                outcome["error"] = exc

        waiter = threading.Thread(target=wait, name="wait_until_finish", daemon=True)
        waiter.start()
        waiter.join(timeout)
        if waiter.is_alive():
            try:
                result.cancel()
            except Exception:  # noqa: BLE001 -- already failing
                pass
            self.fail(
                f"pipeline not finished after {timeout}s; worker pool log:\n{_tail(self.pool_log)}"
                f"\njob service log:\n{_tail(self.job_service_log)}"
            )
        if "error" in outcome:
            raise outcome["error"]
        return result

    def logs(self, n: int = 3000) -> str:
        """The ends of the job service's and the worker pool's logs (for an error message)."""
        return f"worker pool log:\n{_tail(self.pool_log, n)}\njob service log:\n{_tail(self.job_service_log, n)}"


def _kept_paths() -> list[str]:
    """Paths under /tmp that the workers still need (a checkout or venv there): bound back in."""
    cands = {REPO_ROOT, Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    cands |= {p.resolve() for p in list(cands)}
    under = sorted({str(p) for p in cands if p == Path("/tmp") or Path("/tmp") in p.parents})
    if "/tmp" in under:
        return under
    outer: list[str] = []
    for p in under:  # drop paths nested in another kept one
        if not any(p.startswith(o + "/") for o in outer):
            outer.append(p)
    return outer


def _namespace_script(private_dir: Path, kept: list[str], holder: str | None, then: str) -> str:
    """sh: fresh tmpfs over /tmp (kept paths bound back) and over private_dir, then ``then``."""
    q = shlex.quote
    lines = ["set -e"]
    if kept:
        assert holder is not None
        lines.append(f"mount -t tmpfs tmpfs {q(holder)}")
        for i, p in enumerate(kept):
            lines += [f"mkdir -p {q(holder)}/{i}", f"mount --rbind {q(p)} {q(holder)}/{i}"]
    lines.append("mount -t tmpfs tmpfs /tmp")
    for i, p in enumerate(kept):
        lines += [f"mkdir -p {q(p)}", f"mount --rbind {q(holder)}/{i} {q(p)}"]
    lines += [f"mkdir -p {q(str(private_dir))}", f"mount -t tmpfs tmpfs {q(str(private_dir))}"]
    # the pool's container_executable: a boot stand-in that hands the workers the pipeline options
    boot = f"{q(sys.executable)} {q(str(HERE / '_sdk_boot.py'))}"
    lines += [
        f"printf '#!/bin/sh\\nexec %s \"$@\"\\n' {q(boot)} > /tmp/.beam-sdk-boot",
        "chmod +x /tmp/.beam-sdk-boot",
        then,
    ]
    return "\n".join(lines)


def _wait_for(proc: subprocess.Popen, log: Path, what: str, ready, fail: Fail) -> Any:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        got = ready()
        if got:
            return got
        if proc.poll() is not None:
            fail(f"{what} exited {proc.returncode}:\n{_tail(log)}")
        time.sleep(0.2)
    fail(f"{what} not ready after {_START_TIMEOUT}s:\n{_tail(log)}")


@contextlib.contextmanager
def portable_standin(workdir: Path, fail: Fail = _raise) -> Iterator[PortableCluster]:
    """The job service and the worker pool (their logs and ``private_dir`` under ``workdir``),
    stopped on exit."""
    if not sys.platform.startswith("linux"):
        raise StandinUnavailable("needs Linux mount namespaces")
    if os.geteuid() != 0:
        raise StandinUnavailable("needs root: the worker pool runs under 'unshare -m' with tmpfs mounts")
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("mount") is None:
        raise StandinUnavailable("'unshare'/'mount' (util-linux) not found")

    base = Path(workdir)
    base.mkdir(parents=True, exist_ok=True)
    private_dir = base / "launcher-local"
    private_dir.mkdir()
    kept = _kept_paths()
    if "/tmp" in kept:
        raise StandinUnavailable("the interpreter or checkout IS /tmp: a private /tmp would hide it from the workers")
    holder = None
    if kept:  # an empty mount point outside /tmp where the kept paths wait while /tmp is replaced
        for parent in ("/var/tmp", "/dev/shm", str(Path.home())):
            if os.path.isdir(parent) and os.access(parent, os.W_OK) and not parent.startswith("/tmp"):
                holder = str(Path(parent) / f"rot-cluster-holder-{uuid.uuid4().hex[:8]}")
                os.mkdir(holder)
                break
        else:
            raise StandinUnavailable(f"checkout/venv under /tmp ({kept}) and no directory outside /tmp for a mount point")

    job = pool = None
    try:
        unshare_cmd = [unshare, "-m", "--propagation", "private", "sh", "-c"]
        # probe: can we build the namespace at all (gVisor, containers without CAP_SYS_ADMIN...)?
        try:
            probe = subprocess.run(
                [*unshare_cmd, _namespace_script(private_dir, kept, holder, "exec true")],
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise StandinUnavailable("'unshare -m' + tmpfs mounts timed out") from None
        if probe.returncode != 0:
            raise StandinUnavailable(
                f"'unshare -m' + tmpfs mounts failed (rc {probe.returncode}): {probe.stderr.strip()[-500:]}")

        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            PYTHONPATH=os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
            PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")]),
            PYTHONUNBUFFERED="1",
            # dummy credentials only: the S3 endpoint must reach the workers through pipeline options
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        )

        job_log, pool_log = base / "job_service.log", base / "worker_pool.log"
        port_file = base / "job_service.port"
        job = _spawn([sys.executable, str(HERE / "_job_service.py"), "--port=0", f"--port_file={port_file}"], job_log, env)
        pool_cmd = (
            f"exec {shlex.quote(sys.executable)} -m apache_beam.runners.worker.worker_pool_main"
            " --service_port=0 --container_executable=/tmp/.beam-sdk-boot"
        )
        pool = _spawn([*unshare_cmd, _namespace_script(private_dir, kept, holder, pool_cmd)], pool_log, env)

        job_port = int(_wait_for(job, job_log, "job service",
                                 lambda: port_file.exists() and port_file.read_text().strip(), fail))
        _wait_for(job, job_log, "job service", lambda: _port_open(job_port), fail)

        def pool_port() -> int | None:
            m = re.search(r"Started worker pool servicer at port: [^:\s]+:(\d+)", _tail(pool_log, 100_000))
            return int(m.group(1)) if m else None

        port = int(_wait_for(pool, pool_log, "worker pool", pool_port, fail))
        _wait_for(pool, pool_log, "worker pool", lambda: _port_open(port), fail)

        yield PortableCluster(
            job_endpoint=f"localhost:{job_port}",
            pool_endpoint=f"localhost:{port}",
            private_dir=private_dir,
            workers=WORKERS,
            beam_args=[
                "--runner=PortableRunner",
                f"--job_endpoint=localhost:{job_port}",
                "--environment_type=EXTERNAL",
                f"--environment_config=localhost:{port}",
                f"--sdk_worker_parallelism={WORKERS}",
                "--job_server_timeout=60",  # per job-service request, not the pipeline's run time
            ],
            job_service_log=job_log,
            pool_log=pool_log,
            fail=fail,
        )
    finally:
        _stop(pool)
        _stop(job)
        if holder is not None:
            shutil.rmtree(holder, ignore_errors=True)
