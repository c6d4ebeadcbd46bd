"""gpu_model_efficiency_{label,expand} and server_concurrency: how full the pipelines keep one GPU.

Against ``benchmarks.gpu_standin`` on 127.0.0.1 (a scripted OpenAI-compatible server that costs
time like one accelerator running continuous batching: each decoding step of the batch in flight
costs a fixed time plus a small time per sequence, up to 256 sequences; what is measured is the
client, so a stand-in is the right tool): generated tokens/s through ``reverse-o1 label`` and
``reverse-o1 expand`` with ``--backend openai`` (one worker process, DirectRunner defaults, the
backend's default ``--max-concurrency``) ÷ that server's best tokens/s, measured in the same run
with 256 sequences in flight by a client that does nothing else. ``server_concurrency`` is the
peak number of requests in flight at the server during ``expand --max-concurrency 32``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time

from benchmarks.generation_efficiency import seeds_file, sizes_of, through
from benchmarks.gpu_standin import CostModel, standin, stats
from benchmarks.report import Report
from pipelines.config import RunConfig
from pipelines.expand import build_expand
from pipelines.label import build_label
from pipelines.runner import run_command

RULES = {"rules": [["Write the next step", "We add the two amounts together."],
                   ["Write the first step", "We add the two amounts together."]],
         "default": "So the total is 18.\nThe answer is 18."}


async def _client(port: int, body: bytes, stop: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop:
            writer.write(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                         + body)
            await writer.drain()
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            await reader.readexactly(int(head.split("content-length:", 1)[1].split("\r\n", 1)[0]))
    finally:
        writer.close()


def server_best(base_url: str, cost: CostModel, seconds: float = 6.0) -> float:
    """Tokens/s of the server with ``max_seqs`` single-sequence requests always in flight."""
    port = int(base_url.rsplit(":", 1)[1].split("/", 1)[0])
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": cost.gen_tokens}).encode()
    stats(base_url, reset=True)
    started = time.monotonic()

    async def saturate() -> None:
        await asyncio.gather(*(_client(port, body, started + seconds) for _ in range(cost.max_seqs)))

    asyncio.run(saturate())
    return stats(base_url)["tokens"] / (time.monotonic() - started)


def run(report: Report, label_seeds: int = 300, expand_seeds: int = 96, n: int = 8) -> None:
    work = tempfile.mkdtemp(prefix="bench-gpu-standin-")
    cost = CostModel()
    try:
        with standin(RULES, cost) as url:
            best = server_best(url, cost)
            print(f"  stand-in server: best {best:.0f} tok/s at {cost.max_seqs} sequences in flight "
                  f"(cost model {cost.best_tokens_per_s():.0f})", flush=True)
            common = dict(backend="openai", base_url=url, model="gpu-standin", n=n, max_new_tokens=cost.gen_tokens,
                          rows_per_shard=256, quiet=True)
            path, _ = seeds_file(work, label_seeds, "label.jsonl")
            stats(url, reset=True)
            summary = run_command("label", RunConfig(input=[path], out=os.path.join(work, "label"), **common),
                                  build_label, [])
            rate, wall_rate, stage = through(summary, "label/label")
            served = stats(url)
            print(f"  label: {stage['generated_tokens']} tokens, {rate:.0f} tok/s over the engine's span ({wall_rate:.0f} "
                  f"over {summary.wall_seconds:.1f} s wall); peak at the server: {served['peak_inflight']} requests, "
                  f"{served['peak_seqs']} sequences", flush=True)
            report.add("gpu_model_efficiency_label", rate / best, ">=", 0.6, pipeline_tok_s=round(rate), best_tok_s=round(best),
                       wall_tok_s=round(wall_rate), seeds=label_seeds, n=n, peak_requests=served["peak_inflight"],
                       peak_sequences=served["peak_seqs"], call_sequences=sizes_of(stage))

            path, _ = seeds_file(work, expand_seeds, "expand.jsonl")
            search = dict(cuts="all", simulations=8, branching=4, parallel_leaves=4)
            stats(url, reset=True)
            summary = run_command("expand", RunConfig(input=[path], out=os.path.join(work, "expand"), **common, **search),
                                  build_expand, [])
            rate, wall_rate, stage = through(summary, "expand/expand")
            served = stats(url)
            print(f"  expand: {stage['generated_tokens']} tokens, {rate:.0f} tok/s over the engine's span ({wall_rate:.0f} "
                  f"over {summary.wall_seconds:.1f} s wall); peak at the server: {served['peak_inflight']} requests, "
                  f"{served['peak_seqs']} sequences", flush=True)
            report.add("gpu_model_efficiency_expand", rate / best, ">=", 0.6, pipeline_tok_s=round(rate),
                       best_tok_s=round(best), wall_tok_s=round(wall_rate), seeds=expand_seeds, **search,
                       peak_requests=served["peak_inflight"], peak_sequences=served["peak_seqs"],
                       call_sequences=sizes_of(stage))

            stats(url, reset=True)
            config = RunConfig(input=[path], out=os.path.join(work, "expand32"), **{**common, "max_concurrency": 32},
                               **search, limit=48)
            run_command("expand", config, build_expand, [])
            peak = stats(url)["peak_inflight"]
            report.add("server_concurrency", peak, ">=", 28, max_concurrency=32, seeds=48)
    finally:
        shutil.rmtree(work, ignore_errors=True)
