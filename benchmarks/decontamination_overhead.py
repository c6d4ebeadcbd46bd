"""decontamination_overhead: ``reverse-o1 tag`` wall time on 20,000 rows with decontamination (the
default: against the bundled math benchmarks) ÷ the same run with ``--decontaminate none``, the
near-duplicate check on in both; bar ≤ 1.3. Also, without a bar: ``screening_overhead``, the default
÷ ``--decontaminate none --no-near-duplicates`` (both checks), and the peak memory of the default run
at 5,000 and at 20,000 rows (the references are loaded once per worker; near-duplicate signatures
are 0.5 KB a problem).

The rows are distinct GSM8K-like solutions made of sentences of real GSM8K train problems and
solutions (``tests/fixtures/decontamination/gsm8k_train_500.jsonl``), shuffled with a seed, so the
near-duplicate stage keeps (almost) all of them and both sides tag the same rows. Each run is its own
process (``python -m pipelines tag``); the two sides alternate.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import Report
from common.local_disk import remove_tree

TRAIN = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "decontamination" / "gsm8k_train_500.jsonl"
NO_DECONTAMINATION = ["--decontaminate", "none"]
OFF = [*NO_DECONTAMINATION, "--no-near-duplicates"]


def rows_file(directory: str, count: int) -> str:
    items = [json.loads(line) for line in TRAIN.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [s.strip() + "." for item in items for s in item["question"].split(".") if len(s.split()) > 3]
    steps = [line for item in items for line in item["answer"].splitlines()[:-1] if line.strip()]
    rng = random.Random(2026)
    path = os.path.join(directory, f"rows-{count}.jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            problem = " ".join(rng.sample(questions, 3))
            solution = "\n".join(rng.sample(steps, 4)) + f"\n#### {rng.randint(1, 999)}"
            handle.write(json.dumps({"id": f"r{i}", "question": problem, "answer": solution}) + "\n")
    return path


def one_run(work: str, rows: str, extra: list[str], name: str) -> tuple[float, int, dict]:
    out = os.path.join(work, name)
    cmd = [sys.executable, "-m", "pipelines", "tag", "--input", rows, "--column", "answer", "--out", out, "--quiet", *extra]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - started
    if status != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
    manifest = json.loads(Path(out, "manifest.json").read_text(encoding="utf-8"))
    remove_tree(out)
    return elapsed, usage.ru_maxrss // 1024, manifest


def run(report: Report, count: int = 20_000) -> None:
    work = tempfile.mkdtemp(prefix="bench-decontam-")
    times: dict[str, list[float]] = {"on": [], "no_decontamination": [], "off": []}
    try:
        big, small = rows_file(work, count), rows_file(work, count // 4)
        for i in range(2):  # the three sides alternate; each side's best of two
            t, on_rss, on_manifest = one_run(work, big, [], f"on{i}")
            times["on"].append(t)
            times["no_decontamination"].append(one_run(work, big, NO_DECONTAMINATION, f"nd{i}")[0])
            times["off"].append(one_run(work, big, OFF, f"off{i}")[0])
        _, small_rss, _ = one_run(work, small, [], "small")
    finally:
        remove_tree(work)
    on, bare, off = (min(times[k]) for k in ("on", "no_decontamination", "off"))
    screen = on_manifest["stages"].get("tag/screen", {})
    near = on_manifest["stages"].get("tag/near_duplicates", {})
    print(f"  {count} rows: default {on:.1f} s ({on_manifest['outputs']['sft_rows']} rows written, filtered "
          f"{screen.get('filtered')}, near-duplicates {near.get('filtered')}); --decontaminate none {bare:.1f} s; "
          f"both checks off {off:.1f} s; peak RSS {small_rss} MB at {count // 4} rows, {on_rss} MB at {count}")
    report.add("decontamination_overhead", on / bare, "<=", 1.3, rows=count, with_s=round(on, 2), without_s=round(bare, 2))
    report.info("screening_overhead", on / off, both_off_s=round(off, 2))
    report.info("decontamination_peak_rss_ratio", on_rss / max(small_rss, 1), rss_mb_quarter=small_rss, rss_mb_full=on_rss)
