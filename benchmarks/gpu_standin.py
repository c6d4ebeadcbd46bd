"""A stand-in for one GPU behind an OpenAI-compatible server: a scripted server with a cost model.

Not a language model and not a real GPU: what it measures is the *client* (how full reverse-o1
keeps a server). It behaves like one accelerator running continuous batching, as vLLM does:

- every sequence in flight (each of a request's ``n`` choices is one) occupies one of ``max_seqs``
  slots (256); sequences beyond that wait for a free slot, first come first served;
- each decoding step of the whole batch in flight costs ``step_ms + per_seq_ms × sequences`` and
  gives every running sequence one token; a sequence ends after its length in tokens (its
  ``max_tokens``, at most ``gen_tokens``), then its slot is free at the next step;
- the text of a choice is the scripted backend's reply to the prompt (``--rules``, the scripted
  backend's JSON: first matching substring, lists cycled over choices), its ``usage`` the simulated
  tokens; ``GET /v1/models`` lists the model with its ``max_model_len``; ``GET /stats`` gives the
  peak number of requests and sequences in flight and the tokens made.

Run it as ``python -m benchmarks.gpu_standin --port P --rules JSON`` or through ``standin()``,
which starts it on 127.0.0.1 in its own process (it must not share the client's interpreter) and
stops it. Bounded: it serves only loopback and stops with its parent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

MODEL = "gpu-standin"


@dataclass(frozen=True)
class CostModel:
    step_ms: float = 10.0
    per_seq_ms: float = 0.14
    max_seqs: int = 256
    gen_tokens: int = 48

    def best_tokens_per_s(self) -> float:
        """Tokens/s with every slot busy: the accelerator's best."""
        return self.max_seqs / ((self.step_ms + self.per_seq_ms * self.max_seqs) / 1000)


class _Sequence:
    __slots__ = ("left", "done")

    def __init__(self, tokens: int, done: asyncio.Future):
        self.left, self.done = tokens, done


class Accelerator:
    """The decoding loop: one step at a time over every running sequence."""

    def __init__(self, cost: CostModel):
        self.cost = cost
        self.waiting: deque[_Sequence] = deque()
        self.running: list[_Sequence] = []
        self.wake = asyncio.Event()
        self.tokens = 0
        self.peak_seqs = 0
        self.busy = 0.0

    def add(self, tokens: int) -> asyncio.Future:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append(_Sequence(max(1, tokens), done))
        self.wake.set()
        return done

    async def loop(self) -> None:
        while True:
            while len(self.running) < self.cost.max_seqs and self.waiting:
                self.running.append(self.waiting.popleft())
            if not self.running:
                self.wake.clear()
                await self.wake.wait()
                continue
            self.peak_seqs = max(self.peak_seqs, len(self.running))
            step = (self.cost.step_ms + self.cost.per_seq_ms * len(self.running)) / 1000
            started = time.perf_counter()
            await asyncio.sleep(step)
            self.busy += time.perf_counter() - started
            self.tokens += len(self.running)
            still = []
            for seq in self.running:
                seq.left -= 1
                if seq.left > 0:
                    still.append(seq)
                elif not seq.done.done():
                    seq.done.set_result(None)
            self.running = still


class Server:
    def __init__(self, rules: dict, cost: CostModel):
        from generators.backends.registry import BackendConfig
        from generators.backends.scripted_backend import ScriptedBackend

        self.script = ScriptedBackend(BackendConfig(backend="scripted", model=json.dumps(rules)))
        self.cost = cost
        self.gpu = Accelerator(cost)
        self.inflight = 0
        self.peak_inflight = 0
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, payload = await self.route(method, path, body)
                data = json.dumps(payload).encode()
                writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                             f"Connection: keep-alive\r\n\r\n".encode() + data)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def route(self, method: str, path: str, body: bytes) -> tuple[str, dict]:
        if method == "GET" and path.endswith("/models"):
            return "200 OK", {"object": "list", "data": [{"id": MODEL, "object": "model", "max_model_len": 8192}]}
        if method == "GET" and path.endswith("/stats"):
            return "200 OK", {"peak_inflight": self.peak_inflight, "peak_seqs": self.gpu.peak_seqs,
                              "tokens": self.gpu.tokens, "requests": self.requests, "busy_s": self.gpu.busy}
        if method == "POST" and path.endswith("/stats/reset"):
            self.peak_inflight, self.gpu.peak_seqs, self.gpu.tokens, self.requests, self.gpu.busy = 0, 0, 0, 0, 0.0
            return "200 OK", {}
        if method == "POST" and path.endswith("/chat/completions"):
            return "200 OK", await self.complete(json.loads(body))
        return "404 Not Found", {"error": {"message": f"no route {method} {path}"}}

    async def complete(self, request: dict) -> dict:
        from generators.backends.base import GenerationParams, GenRequest

        self.requests += 1
        self.inflight += 1
        self.peak_inflight = max(self.peak_inflight, self.inflight)
        try:
            n = int(request.get("n") or 1)
            tokens = min(int(request.get("max_tokens") or self.cost.gen_tokens), self.cost.gen_tokens)
            chat = GenRequest.chat(request["messages"], GenerationParams(n=n))
            await asyncio.gather(*(self.gpu.add(tokens) for _ in range(n)))
            choices = [{"index": i, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": self.script.reply(chat, i)}} for i in range(n)]
            return {"id": "standin", "object": "chat.completion", "created": int(time.time()), "model": MODEL,
                    "choices": choices, "usage": {"prompt_tokens": 1, "completion_tokens": tokens * n,
                                                  "total_tokens": tokens * n + 1}}
        finally:
            self.inflight -= 1

    async def serve(self, port: int) -> None:
        asyncio.get_running_loop().create_task(self.gpu.loop())
        server = await asyncio.start_server(self.handle, "127.0.0.1", port, backlog=1024)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def standin(rules: dict, cost: CostModel = CostModel()) -> Iterator[str]:  # noqa: B008 - frozen
    """The stand-in server in its own process on 127.0.0.1; yields its base URL (``.../v1``)."""
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.gpu_standin", "--port", str(port), "--rules", json.dumps(rules),
            "--step-ms", str(cost.step_ms), "--per-seq-ms", str(cost.per_seq_ms), "--max-seqs", str(cost.max_seqs),
            "--gen-tokens", str(cost.gen_tokens)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the GPU stand-in server did not start")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def stats(base_url: str, reset: bool = False) -> dict:
    if reset:
        urllib.request.urlopen(urllib.request.Request(f"{base_url}/stats/reset", data=b"{}", method="POST"), timeout=10)
        return {}
    with urllib.request.urlopen(f"{base_url}/stats", timeout=10) as response:
        return json.loads(response.read())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rules", default="{}")
    parser.add_argument("--step-ms", type=float, default=CostModel.step_ms)
    parser.add_argument("--per-seq-ms", type=float, default=CostModel.per_seq_ms)
    parser.add_argument("--max-seqs", type=int, default=CostModel.max_seqs)
    parser.add_argument("--gen-tokens", type=int, default=CostModel.gen_tokens)
    args = parser.parse_args(argv)
    cost = CostModel(args.step_ms, args.per_seq_ms, args.max_seqs, args.gen_tokens)
    asyncio.run(Server(json.loads(args.rules), cost).serve(args.port))


if __name__ == "__main__":
    main()
