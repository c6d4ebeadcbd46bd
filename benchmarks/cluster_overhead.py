"""cluster_overhead: ``tag`` on 20k rows, the portable runner with 2 workers ÷ the DirectRunner.

The same ``reverse-o1 tag`` command (rules tagger on GSM8K's ``answer`` column, 1,000 rows per
shard) on the same 20,000-row JSONL input, input and output on a real S3 API (``moto_server``:
the portable runner's workers cannot see local files) for both runs:

- the DirectRunner in multi-processing mode with 2 workers;
- Beam's portable runner (the cluster stand-in of ``tests/cluster``: Python job service plus an
  EXTERNAL pool of 2 SDK worker processes with private disks).

Each is timed as the wall time of the launcher subprocess (``python -m pipelines tag ...``), as a
user would see it, so job start-up and worker start-up count. The figure is
throughput(portable) ÷ throughput(direct) = wall(direct) ÷ wall(portable) (bar: >= 0.5). Both runs
must write all 20,000 SFT rows (counted in their manifests), else the benchmark fails.

The 20 rows of ``tests/fixtures/gsm8k_sample.jsonl`` are repeated 1,000 times, each copy with its
own ``id`` and a suffix on its question, so ``tag`` (which gives identical inputs one id and keeps
the first) sees 20,000 distinct records. Where the stand-in cannot run here (no ``moto_server``,
not root, no mount namespaces) the figure is reported as skipped, with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import Report
from pipelines.io import fs
from pipelines.runner import pipeline_options
from tests.cluster.standin import StandinUnavailable, portable_standin, s3_standin

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "gsm8k_sample.jsonl"
ROWS = 20_000
ROWS_PER_SHARD = 1_000
DIRECT_ARGS = ["--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
LAUNCH_TIMEOUT = 900.0


def synthetic_input(n: int = ROWS) -> bytes:
    """``n`` distinct GSM8K records: the sample's rows, each copy with its own id and question suffix."""
    base = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = []
    for i in range(n):
        row = dict(base[i % len(base)])
        row["id"] = f"gsm8k-bench-{i:06d}"
        row["question"] = f"{row['question']} (variant {i})"
        lines.append(json.dumps(row))
    return ("\n".join(lines) + "\n").encode()


def launch(argv: list[str], log: Path) -> float:
    """Wall seconds of ``python -m pipelines ARGV`` (its output in ``log``); raises if it fails.
    The launcher runs in its own process group, killed whole on a timeout or an error here."""
    env = dict(os.environ, REVERSE_O1_NO_PROGRESS="1")
    with open(log, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "pipelines", *argv], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=ROOT, start_new_session=True)
        try:
            rc = proc.wait(timeout=LAUNCH_TIMEOUT)
            wall = time.perf_counter() - started
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever it left behind (workers), also on a timeout
            proc.wait()
    if rc != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"'reverse-o1 {' '.join(argv[:1])}' exited {rc} after {wall:.1f}s:\n{tail}")
    return wall


def sft_rows(out: str) -> int:
    return int(fs.read_json(fs.join(out, "manifest.json"))["outputs"]["sft_rows"])


def run(report: Report) -> None:
    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    try:
        with contextlib.ExitStack() as stack:
            try:
                s3 = stack.enter_context(s3_standin(work / "moto"))
                cluster = stack.enter_context(portable_standin(work / "cluster"))
            except StandinUnavailable as exc:
                report.skip("cluster_overhead", ">=", 0.5, exc.reason)
                return
            pipeline_options(s3.beam_args)  # this process writes the input and reads the manifests there
            bucket = s3.make_bucket()
            source = f"{bucket}/in/gsm8k_{ROWS}.jsonl"
            fs.write_bytes(source, synthetic_input())
            common = ["tag", "--input", source, "--column", "answer", "--tagger", "rules", "--backend", "scripted",
                      "--rows-per-shard", str(ROWS_PER_SHARD)]
            walls, rates = {}, {}
            for name, runner_args in (("direct", DIRECT_ARGS), ("portable", cluster.beam_args)):
                out = f"{bucket}/{name}"
                try:
                    walls[name] = launch([*common, "--out", out, *runner_args, *s3.beam_args], work / f"{name}.log")
                except RuntimeError as exc:
                    extra = f"\n{cluster.logs()}" if name == "portable" else ""
                    raise RuntimeError(f"cluster_overhead: the {name} run failed: {exc}{extra}") from None
                written = sft_rows(out)
                if written != ROWS:
                    raise RuntimeError(f"cluster_overhead: the {name} run wrote {written} SFT rows, expected {ROWS}")
                rates[name] = ROWS / walls[name]
                print(f"  {name:>8}: tag of {ROWS:,} rows {walls[name]:.2f} s ({rates[name]:,.0f} rows/s)", flush=True)
            report.add("cluster_overhead", walls["direct"] / walls["portable"], ">=", 0.5,
                       direct_s=round(walls["direct"], 3), portable_s=round(walls["portable"], 3), rows=ROWS,
                       direct_rows_per_s=round(rates["direct"], 1), portable_rows_per_s=round(rates["portable"], 1),
                       rows_per_shard=ROWS_PER_SHARD, workers=cluster.workers)
    finally:
        shutil.rmtree(work, ignore_errors=True)
