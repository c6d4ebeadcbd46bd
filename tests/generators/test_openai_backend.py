"""The OpenAI-compatible backend against a real ``transformers serve`` and a scripted local server.

The scripted server (http.server on 127.0.0.1) fails, rate-limits or stalls chosen requests, so
retries, give-ups and the fill-in of ignored ``n`` are checked by counting requests, never by time.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tenacity import wait_none

from generators.backends import BackendConfig, BackendError, GenerationParams, GenRequest, create_backend
from generators.backends.openai_backend import OpenAIBackend


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(text: str = "Say hi.", **params) -> GenRequest:
    return GenRequest.chat([{"role": "user", "content": text}], GenerationParams(**params))


# --- a real server: transformers serve on the embedded model (``real_server`` in tests/conftest.py)


@pytest.mark.server
def test_real_server_fills_in_ignored_n(real_server):
    base_url, model = real_server
    backend = create_backend(BackendConfig(backend="openai", base_url=base_url, model=model, max_concurrency=4))
    try:
        assert isinstance(backend, OpenAIBackend)
        first = [request("Name a fruit.", n=3, max_new_tokens=6), request("Name a color.", n=3, max_new_tokens=6)]
        second = [request("Name a fruit.", n=2, max_new_tokens=6)]
        # the first call learns that the server ignores n; the second sends one call per sample
        for prompts in (first, second):
            out = backend.generate(prompts)
            assert [len(row) for row in out] == [r.params.n for r in prompts]
            for c in (c for row in out for c in row):
                assert c.text.strip() and c.tokens > 0 and c.finish_reason in ("stop", "length")
                assert c.logprob is None
        assert backend.model_name == model
    finally:
        backend.close()


@pytest.mark.server
def test_real_server_stop_sequences_cut(real_server):
    base_url, model = real_server
    backend = OpenAIBackend(BackendConfig(backend="openai", base_url=base_url, model=model))
    try:
        [[c]] = backend.generate([request("Count from 1 to 10.", temperature=0.0, max_new_tokens=30, stop=("5",))])
        assert c.text.strip() and "5" not in c.text
        assert c.finish_reason == "stop" and c.tokens > 0
    finally:
        backend.close()


# --- a scripted server for faults ------------------------------------------------------------


class ScriptedServer:
    """Answers POST /v1/chat/completions per a script of actions, then ``default``.

    Actions: an HTTP status (int) to fail with, "stall" (hold the request until released),
    "garbage" (200 without choices) or "ok". ``max_choices`` caps the choices returned (a server that ignores n: 1).
    """

    def __init__(self) -> None:
        self.script: list[int | str] = []
        self.default: int | str = "ok"
        self.max_choices = 100
        self.content = "hello"
        self.barrier: threading.Barrier | None = None  # hold requests until this many are in flight
        self.bodies: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.models_status = 200
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def backend(self, **config) -> OpenAIBackend:
        config = {"model": "scripted", "max_retries": 3, "request_timeout": 5.0, **config}
        return OpenAIBackend(BackendConfig(backend="openai", base_url=self.url, **config), retry_wait=wait_none())

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, body: dict) -> tuple[int, dict]:
        with self.lock:
            self.bodies.append(body)
            action = self.script.pop(0) if self.script else self.default
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.barrier is not None:
                try:
                    self.barrier.wait(timeout=10)
                except threading.BrokenBarrierError:
                    return 400, {"error": {"message": "requests were not in flight together"}}
            if action == "stall":
                self.release.wait(timeout=30)
            if isinstance(action, int):
                return action, {"error": {"message": f"scripted {action}"}}
            if action == "garbage":
                return 200, {"unexpected": True}
            return 200, self.completion(body)
        finally:
            with self.lock:
                self.in_flight -= 1

    def completion(self, body: dict) -> dict:
        n = min(body.get("n", 1), self.max_choices)
        logprobs = {"content": [{"token": "hel", "logprob": -0.5}, {"token": "lo", "logprob": -0.25}]}
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": self.content},
                "finish_reason": "length",
                "logprobs": logprobs if body.get("logprobs") else None,
            }
            for i in range(n)
        ]
        usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
        return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"], "choices": choices,
                "usage": usage}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout)
                    pass

            def do_GET(self) -> None:
                if server.models_status != 200:
                    self.reply(server.models_status, {"error": {"message": "no models here"}})
                else:
                    self.reply(200, {"object": "list", "data": [{"id": "listed-model", "object": "model",
                                                                 "created": 0, "owned_by": "me"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                self.reply(*server.answer(body))

        return Handler


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.stop()


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_retries_server_errors_then_succeeds(scripted, status):
    scripted.script = [status, status]
    backend = scripted.backend()
    [[c]] = backend.generate([request()])
    assert c.text == "hello" and c.tokens == 7 and c.finish_reason == "length"
    assert len(scripted.bodies) == 3
    backend.close()


def test_failing_forever_raises_after_max_retries(scripted):
    scripted.default = 500
    backend = scripted.backend(max_retries=2)
    with pytest.raises(BackendError) as info:
        backend.generate([request()])
    assert len(scripted.bodies) == 3  # one try and two retries
    assert "HTTP 500" in str(info.value) and "3 attempts" in str(info.value) and "\n" not in str(info.value)
    backend.close()


@pytest.mark.parametrize("status", [400, 404])
def test_client_errors_are_not_retried(scripted, status):
    scripted.default = status
    backend = scripted.backend()
    with pytest.raises(BackendError, match=f"HTTP {status}"):
        backend.generate([request()])
    assert len(scripted.bodies) == 1
    backend.close()


def test_malformed_answer_is_retried_then_raises(scripted):
    scripted.default = "garbage"  # a 200 without choices: retried like a 5xx (tests/generators/test_openai_faults.py)
    backend = scripted.backend()
    with pytest.raises(BackendError, match="malformed chat completion after 4 attempts"):
        backend.generate([request()])
    assert len(scripted.bodies) == 4
    backend.close()


def test_stalled_request_times_out_and_is_retried(scripted):
    scripted.script = ["stall"]
    backend = scripted.backend(request_timeout=0.5)
    [[c]] = backend.generate([request()])
    assert c.text == "hello" and len(scripted.bodies) == 2
    backend.close()


def test_stalling_forever_raises(scripted):
    scripted.default = "stall"
    backend = scripted.backend(request_timeout=0.3, max_retries=1)
    with pytest.raises(BackendError, match="timed out"):
        backend.generate([request()])
    assert len(scripted.bodies) == 2
    backend.close()


def test_server_down_raises_clear_error():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    backend = OpenAIBackend(BackendConfig(backend="openai", base_url=url, model="m", max_retries=1), wait_none())
    with pytest.raises(BackendError, match="cannot reach the server at http://127.0.0.1") as info:
        backend.generate([request()])
    assert "2 attempts" in str(info.value) and "\n" not in str(info.value)
    backend.close()


def test_fills_in_samples_when_server_ignores_n(scripted):
    scripted.max_choices = 1
    backend = scripted.backend()
    out = backend.generate([request("a", n=3, seed=10), request("b", n=3, seed=20)])
    assert [len(row) for row in out] == [3, 3]
    seeds = {p: sorted(b["seed"] for b in scripted.bodies if b["messages"][0]["content"] == p) for p in "ab"}
    assert seeds == {"a": [10, 11, 12], "b": [20, 21, 22]}  # one ask for n, then one call per missing sample
    scripted.bodies.clear()
    out = backend.generate([request("a", n=3, seed=10)])  # now one call per sample from the start
    assert len(out[0]) == 3 and len(scripted.bodies) == 3 and all("n" not in b for b in scripted.bodies)
    backend.close()


def test_n_samples_in_one_call_when_server_honours_n(scripted):
    backend = scripted.backend()
    out = backend.generate([request("a", n=4), request("b", n=2)])
    assert [len(row) for row in out] == [4, 2] and len(scripted.bodies) == 2
    assert sorted(b["n"] for b in scripted.bodies) == [2, 4]
    assert sum(c.tokens for c in out[0]) == 7  # usage split across the choices
    backend.close()


def test_all_requests_in_flight_together(scripted):
    scripted.barrier = threading.Barrier(4)  # answers only once all four calls have arrived
    backend = scripted.backend(max_concurrency=8)
    out = backend.generate([request(str(i)) for i in range(4)])
    assert [len(row) for row in out] == [1, 1, 1, 1] and scripted.max_in_flight == 4
    backend.close()


def test_concurrency_is_bounded(scripted):
    scripted.max_choices = 1
    backend = scripted.backend(max_concurrency=2)
    backend._ignores_n = True  # one call per sample: 12 calls for 4 requests
    out = backend.generate([request(str(i), n=3) for i in range(4)])
    assert [len(row) for row in out] == [3] * 4 and len(scripted.bodies) == 12
    assert scripted.max_in_flight <= 2
    backend.close()


def test_stop_sequences_sent_and_applied(scripted):
    scripted.content = "abc STOP def"
    backend = scripted.backend()
    [[c]] = backend.generate([request(stop=("STOP", "x1", "x2", "x3", "x4"))])
    assert c.text == "abc " and c.finish_reason == "stop"
    assert scripted.bodies[0]["stop"] == ["STOP", "x1", "x2", "x3"]  # at most four go to the server
    backend.close()


def test_logprobs_summed_when_asked(scripted):
    backend = scripted.backend()
    [[with_lp], [without]] = backend.generate([request(logprobs=True), request()])
    assert with_lp.logprob == pytest.approx(-0.75) and without.logprob is None
    assert [b.get("logprobs") for b in scripted.bodies].count(True) == 1
    backend.close()


def test_model_name_from_models_endpoint(scripted):
    backend = scripted.backend(model=None)
    assert backend.model_name == "listed-model"
    backend.generate([request()])
    assert scripted.bodies[0]["model"] == "listed-model"
    backend.close()


def test_model_listing_failure_asks_for_model(scripted):
    scripted.models_status = 500
    with pytest.raises(BackendError, match="pass --model"):
        scripted.backend(model=None)
