"""All five pipelines on Beam's portable runner whose 2 workers have a disk of their own (a
private tmpfs over ``/tmp``), inputs and outputs on a real S3 API: the same row ids as the
DirectRunner, a manifest that counts them, and a rerun that resumes. The launcher is a
subprocess, as a user's would be, with a time limit so a stuck job fails instead of hanging."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.runner import pipeline_options
from tests.cluster import cases
from tests.pipelines.io.test_filesystem_guard import git_repo

LAUNCH_TIMEOUT = 300


def launch(args: list[str], *beam_args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, REVERSE_O1_NO_PROGRESS="1")
    done = subprocess.run([sys.executable, "-m", "pipelines", *args, *beam_args], env=env, capture_output=True,
                          text=True, timeout=LAUNCH_TIMEOUT, cwd=cases.ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return git_repo(tmp_path_factory.mktemp("portable") / "tinytext")


@pytest.mark.parametrize("name", cases.PIPELINES)
def test_pipeline_on_portable_runner_matches_direct_runner(name: str, s3_server, portable_runner, repo: str,
                                                          tmp_path: Path) -> None:
    pipeline_options(s3_server.beam_args)  # this process reads the outputs from the same endpoint
    bucket = s3_server.make_bucket()
    inputs = cases.upload_inputs(f"{bucket}/in")
    code = name == "code-cot"
    direct_extra = ["--repo-cache", str(tmp_path / "cache")] if code else []
    # the workers' own cache (their /tmp is private): the launcher clones into its default cache
    portable_extra = ["--repo-cache", "/tmp/reverse-o1-worker-repos"] if code else []

    direct = f"{bucket}/direct"
    launch(cases.argv(name, inputs, direct, repo) + direct_extra, *s3_server.beam_args)
    portable = f"{bucket}/portable"
    argv = cases.argv(name, inputs, portable, repo) + portable_extra
    launch(argv, *portable_runner.beam_args, *s3_server.beam_args)

    expected = cases.ids(direct)
    assert sum(map(len, expected.values())) > 0
    assert cases.ids(portable) == expected
    data = cases.assert_counts_add_up(portable, name)
    run = data["runs"][name]
    assert run["counts_from"] == "metrics:committed" and run["runner"] == "PortableRunner"
    direct_stages = {k: {f: v for f, v in e.items() if f != "stats"} for k, e in cases.manifest(direct)["stages"].items()}
    portable_stages = {k: {f: v for f, v in e.items() if f != "stats"} for k, e in data["stages"].items()}
    assert portable_stages == direct_stages
    if code:
        assert any(key.startswith("portable/.staging/repos/") for key in s3_server.keys(bucket))

    launch(argv, *portable_runner.beam_args, *s3_server.beam_args)
    assert cases.ids(portable) == expected
    again = cases.assert_counts_add_up(portable, name)
    assert sum(e.get("resumed", 0) for k, e in again["stages"].items() if k.startswith(name + "/")) > 0


def test_local_input_with_private_worker_disks_is_refused_with_one_line(portable_runner, s3_server, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"id": "s1", "problem": "P?", "answer": "42", "steps": [{"text": "a"}]}\n')
    bucket = s3_server.make_bucket()
    done = subprocess.run([sys.executable, "-m", "pipelines", "label", "--input", str(seeds), "--out", f"{bucket}/o",
                           "--backend", "scripted", *portable_runner.beam_args, *s3_server.beam_args],
                          capture_output=True, text=True, timeout=120, cwd=cases.ROOT)
    assert done.returncode == 2
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "apitools" not in ln]
    assert len(lines) == 1 and "--input" in lines[0] and "local path" in lines[0], done.stderr
