"""The GPU check: ``make bench-gpu`` (``python -m benchmarks gpu``) on a machine with vLLM and a GPU.

It runs ``reverse-o1 label`` (Math-Shepherd) and ``reverse-o1 expand`` with ``--backend vllm`` on
the embedded model's converted folder (vLLM loads it as any Hugging Face model), then gives
``vllm.LLM`` the same kind of prompts all at once (the merged prompts: every rollout prompt of
the label run, and as many expand-kind prompts as the expand run sent) and prints
``gpu_engine_efficiency_{label,expand}``: the pipeline's generated tokens/s over its engine's span
÷ those of ``LLM.chat`` on the whole list. It never runs in CI: without vllm or a GPU it stops at
once with one line (exit 2). Figures go to ``out/bench.json`` like every bench.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

from benchmarks.report import Report

GPU_MEMORY = 0.35  # of the GPU for each vLLM engine: the pipeline's and the direct one share the card


def missing() -> str | None:
    """Why the GPU check cannot run here, or None."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        return "vllm is not installed (pip install 'reverse-o1[vllm]' on a GPU machine)"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible (torch.cuda.is_available() is False)"
    return None


def direct_rate(model: str, requests: list, max_tokens: int) -> tuple[float, int]:
    """Tokens/s of one ``LLM.chat`` call on every prompt at once (each with its n and seed)."""
    import vllm

    llm = vllm.LLM(model=model, enable_prefix_caching=True, gpu_memory_utilization=GPU_MEMORY)
    params = [vllm.SamplingParams(n=r.params.n, temperature=r.params.temperature, max_tokens=max_tokens,
                                  seed=r.params.seed) for r in requests]
    llm.chat([r.message_dicts() for r in requests[:4]], params[:4], use_tqdm=False)  # warm-up
    started = time.monotonic()
    outputs = llm.chat([r.message_dicts() for r in requests], params, use_tqdm=False)
    seconds = time.monotonic() - started
    tokens = sum(len(c.token_ids) for out in outputs for c in out.outputs)
    return tokens / seconds, tokens


def run(report: Report, label_seeds: int = 300, expand_seeds: int = 96, n: int = 8, max_new_tokens: int = 128) -> None:
    why = missing()
    if why:
        print(f"bench gpu: cannot run here: {why}", file=sys.stderr)
        raise SystemExit(2)
    from benchmarks.generation_efficiency import rollout_requests, seeds_file, sizes_of, through
    from generators.backends.smollm import resolve_model
    from pipelines.config import RunConfig
    from pipelines.expand import build_expand
    from pipelines.label import build_label
    from pipelines.runner import run_command

    model = str(resolve_model(None))  # the embedded model, converted to a Hugging Face folder once
    work = tempfile.mkdtemp(prefix="bench-gpu-")
    try:
        path, trajectories = seeds_file(work, label_seeds, "label.jsonl")
        common = dict(backend="vllm", model=model, n=n, max_new_tokens=max_new_tokens, rows_per_shard=512, quiet=True,
                      vllm={"gpu_memory_utilization": GPU_MEMORY})
        base = RunConfig(input=[path], out=os.path.join(work, "label"), **common)
        best, direct_tokens = direct_rate(model, rollout_requests(trajectories, n, base), max_new_tokens)
        summary = run_command("label", base, build_label, [])
        rate, wall, stats = through(summary, "label/label")
        print(f"  label: pipeline {rate:.0f} tok/s ({wall:.0f} over the wall), LLM.chat on the merged prompts "
              f"{best:.0f} tok/s ({direct_tokens} tokens); calls by sequences {sizes_of(stats)}", flush=True)
        report.info("gpu_engine_efficiency_label", rate / best, pipeline_tok_s=round(rate), direct_tok_s=round(best),
                    call_sequences=sizes_of(stats))

        path, trajectories = seeds_file(work, expand_seeds, "expand.jsonl")
        search = dict(cuts="all", simulations=16, branching=4, parallel_leaves=4)
        config = RunConfig(input=[path], out=os.path.join(work, "expand"), **common, **search)
        summary = run_command("expand", config, build_expand, [])
        rate, wall, stats = through(summary, "expand/expand")
        sent = stats.get("completions", 0) or len(trajectories)
        prompts = rollout_requests(trajectories, 1, config)
        best, direct_tokens = direct_rate(model, (prompts * (sent // max(1, len(prompts)) + 1))[:sent], max_new_tokens)
        print(f"  expand: pipeline {rate:.0f} tok/s ({wall:.0f} over the wall), LLM.chat on {sent} expand-kind prompts "
              f"{best:.0f} tok/s; calls by sequences {sizes_of(stats)}", flush=True)
        report.info("gpu_engine_efficiency_expand", rate / best, pipeline_tok_s=round(rate), direct_tok_s=round(best),
                    call_sequences=sizes_of(stats), **search)
    finally:
        shutil.rmtree(work, ignore_errors=True)
