"""Fixtures shared by every test folder: the embedded model's converted dir and a real server.

``real_server`` starts one ``transformers serve`` (CPU) on the converted SmolLM2 directory for
the whole session; tests in ``tests/generators`` and ``tests/pipelines`` share it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def embedded_model_dir() -> Path:
    """The converted SmolLM2 directory (converted once, then cached); skips without the wheel."""
    from generators.backends.smollm import converted_model_dir

    try:
        return converted_model_dir()
    except FileNotFoundError as exc:
        pytest.skip(f"embedded model missing: {exc}")


@pytest.fixture(scope="session")
def real_server(embedded_model_dir, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """``transformers serve`` on the converted SmolLM2 dir; yields (base_url, model)."""
    model_dir = str(embedded_model_dir)
    port = _free_port()
    exe = Path(sys.executable).with_name("transformers")
    if not exe.exists():
        exe = Path(shutil.which("transformers") or exe)
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    # one torch thread: tests share two cores, and oversubscribed threads spin (far slower)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [str(exe), "serve", model_dir, "--port", str(port), "--host", "127.0.0.1", "--device", "cpu"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited {proc.returncode}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not ready:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", model_dir
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
