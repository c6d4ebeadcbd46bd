"""Server faults through the OpenAI-compatible backend, against a real local HTTP server that
misbehaves on purpose (``FaultServer``: 5xx, 429/503 with ``Retry-After``, a 200 with a broken,
cut-short or wrongly shaped body, a connection reset; a refused connection when it is not there).

Everything is checked by counting requests and recording the backoff the backend asked for,
never by time. ``FaultServer`` is shared with ``tests/pipelines/test_server_faults.py``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from tenacity import wait_fixed, wait_none

from generators.backends import BackendConfig, BackendError, GenerationParams, GenRequest
from generators.backends.openai_backend import OpenAIBackend
from generators.backends.openai_faults import retry_after

# 200s that are no chat completion, and a dropped connection: retried like a 5xx
BAD_BODIES = ("broken_json", "truncated", "no_choices", "choices_not_list", "wrong_types", "not_an_object", "reset")


@dataclass(frozen=True)
class Status:
    """An HTTP error answer: ``code``, the server's ``message`` and extra headers (``Retry-After``)."""

    code: int
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)


Action = str | Status  # "ok", one of BAD_BODIES, or a Status
Plan = Callable[[dict, int], Action]  # (request body, earlier attempts of the same body) -> action


def request_key(body: dict) -> str:
    """What identifies a request across its retries: the prompt and how it samples."""
    return json.dumps([body.get("messages"), body.get("seed"), body.get("n", 1)], sort_keys=True)


def fake_completion(body: dict, index: int) -> str:
    """A deterministic fake completion generator (not a model): the same prompt, seed and index
    always give the same text, ending in an answer the labeller checks ("42" or "7")."""
    digest = hashlib.sha256(f"{request_key(body)}|{index}".encode()).digest()
    return "We carry on from here. The answer is 42." if digest[0] % 2 else "We carry on. The answer is 7."


class FaultServer:
    """``POST /v1/chat/completions`` answered per ``plan`` (default: always "ok"), ``GET /v1/models``
    lists one model. Counts every request body and every action it took."""

    def __init__(self, plan: Plan | None = None, port: int = 0,
                 complete: Callable[[dict, int], str] = fake_completion) -> None:
        self.plan: Plan = plan or (lambda body, attempt: "ok")
        self.complete = complete
        self.bodies: list[dict] = []
        self.actions: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()  # request key -> requests seen
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def decide(self, body: dict) -> Action:
        key = request_key(body)
        with self.lock:
            self.bodies.append(body)
            attempt = self.attempts[key]
            self.attempts[key] += 1
        action = self.plan(body, attempt)
        with self.lock:
            self.actions[action if isinstance(action, str) else str(action.code)] += 1
        return action

    def completion(self, body: dict) -> dict:
        n = body.get("n", 1)
        choices = [{"index": i, "message": {"role": "assistant", "content": self.complete(body, i)},
                    "finish_reason": "stop"} for i in range(n)]
        return {"id": "x", "object": "chat.completion", "created": 0, "model": body.get("model"), "choices": choices,
                "usage": {"prompt_tokens": 5, "completion_tokens": 3 * n, "total_tokens": 5 + 3 * n}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def send(self, status: int, data: bytes, headers: dict[str, str] | None = None, cut: bool = False) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2] if cut else data)  # cut: the connection closes early
                except OSError:  # the client gave up
                    pass

            def do_GET(self) -> None:
                self.send(200, json.dumps({"object": "list", "data": [{"id": "fake-model", "object": "model",
                                                                       "created": 0, "owned_by": "me"}]}).encode())

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                action = server.decide(body)
                good = server.completion(body)
                if isinstance(action, Status):
                    error = {"error": {"message": action.message, "type": "server_error", "code": action.code}}
                    self.send(action.code, json.dumps(error).encode(), action.headers)
                elif action == "reset":  # RST instead of an answer
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                elif action == "broken_json":
                    self.send(200, json.dumps(good).encode()[:-9] + b"}")
                elif action == "truncated":
                    self.send(200, json.dumps(good).encode(), cut=True)
                elif action == "no_choices":
                    self.send(200, json.dumps({k: v for k, v in good.items() if k != "choices"}).encode())
                elif action == "choices_not_list":
                    self.send(200, json.dumps({**good, "choices": "none today"}).encode())
                elif action == "wrong_types":
                    choice = {"index": 0, "message": {"role": "assistant", "content": 42}, "finish_reason": "stop"}
                    self.send(200, json.dumps({**good, "choices": [choice]}).encode())
                elif action == "not_an_object":
                    self.send(200, b"[1, 2, 3]")
                else:
                    self.send(200, json.dumps(good).encode())

        return Handler


def scripted_plan(actions: list[Action], then: Action = "ok") -> Plan:
    """The first attempts of every request follow ``actions``; later ones get ``then``."""
    return lambda body, attempt: actions[attempt] if attempt < len(actions) else then


class Sleeps(list):
    """The backoff the backend asked for, recorded instead of slept."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def serve() -> Iterator[Callable[..., FaultServer]]:
    servers: list[FaultServer] = []

    def start(plan: Plan | None = None, **kwargs) -> FaultServer:
        servers.append(FaultServer(plan, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def backend(url: str, sleeps: Sleeps | None = None, **config) -> OpenAIBackend:
    config = {"model": "fake-model", "max_retries": 3, "request_timeout": 5.0, **config}
    return OpenAIBackend(BackendConfig(backend="openai", base_url=url, **config), retry_wait=wait_none(),
                         sleep=sleeps if sleeps is not None else Sleeps())


def request(text: str = "Say hi.", **params) -> GenRequest:
    return GenRequest.chat([{"role": "user", "content": text}], GenerationParams(**params))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("fault", BAD_BODIES)
def test_a_bad_body_or_a_dropped_connection_is_retried(serve, fault):
    server = serve(scripted_plan([fault, fault]))
    client = backend(server.url)
    [[first, second]] = client.generate([request(n=2)])
    assert (first.text, second.text) == (fake_completion(server.bodies[0], 0), fake_completion(server.bodies[0], 1))
    assert len(server.bodies) == 3 and server.actions == Counter({fault: 2, "ok": 1})
    client.close()


@pytest.mark.parametrize("fault", ["broken_json", "no_choices", "wrong_types", "truncated"])
def test_a_bad_body_every_time_fails_after_the_retries_in_one_line(serve, fault):
    server = serve(scripted_plan([], then=fault))
    client = backend(server.url, max_retries=2)
    with pytest.raises(BackendError) as info:
        client.generate([request()])
    message = str(info.value)
    assert len(server.bodies) == 3 and "3 attempts" in message and "\n" not in message
    expected = "cannot reach the server" if fault == "truncated" else "malformed chat completion"
    assert expected in message and server.url in message
    client.close()


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_seconds_is_honoured(serve, code):
    server = serve(scripted_plan([Status(code, "slow down", {"Retry-After": "1"}),
                                  Status(code, "slow down", {"Retry-After": "2.5"})]))
    sleeps = Sleeps()
    client = backend(server.url, sleeps)
    [[c]] = client.generate([request()])
    assert c.text and sleeps == [1.0, 2.5] and len(server.bodies) == 3
    client.close()


def test_retry_after_as_an_http_date_is_honoured(serve):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server = serve(scripted_plan([Status(503, "maintenance", {"Retry-After": when})]))
    sleeps = Sleeps()
    client = backend(server.url, sleeps)
    client.generate([request()])
    [slept] = sleeps
    assert 20 < slept <= 30  # the date has whole seconds and the request took a moment
    client.close()


def test_retry_after_is_capped_and_missing_one_falls_back_to_the_backoff(serve):
    server = serve(scripted_plan([Status(429, "later", {"Retry-After": "3600"}), Status(500), Status(429, "x")]))
    sleeps = Sleeps()
    client = OpenAIBackend(BackendConfig(backend="openai", base_url=server.url, model="m", max_retries=3),
                           retry_wait=wait_fixed(0.25), retry_after_max=7.0, sleep=sleeps)
    client.generate([request()])
    assert sleeps == [7.0, 0.25, 0.25]
    client.close()


def test_retry_after_parsing():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    http = importlib.import_module("httpx2" if importlib.util.find_spec("httpx2") else "httpx")  # openai's client

    def status_error(headers: dict[str, str]) -> Exception:
        response = http.Response(503, headers=headers, request=http.Request("POST", "http://x/v1/chat/completions"))
        return openai.InternalServerError("Error code: 503", response=response, body=None)

    assert retry_after(status_error({"Retry-After": "7"}), now) == 7.0
    assert retry_after(status_error({"Retry-After": "Thu, 01 Jan 2026 00:00:09 GMT"}), now) == 9.0
    assert retry_after(status_error({"Retry-After": "Wed, 31 Dec 2025 00:00:00 GMT"}), now) == 0.0  # past
    assert retry_after(status_error({"retry-after-ms": "1500"}), now) == 1.5
    assert retry_after(status_error({"Retry-After": "soon"}), now) is None
    assert retry_after(status_error({}), now) is None
    assert retry_after(ValueError("not an HTTP error"), now) is None


def test_the_servers_own_message_is_in_the_error(serve):
    server = serve(scripted_plan([], then=Status(404, "The model `nope` does not exist.")))
    client = backend(server.url, model="nope")
    with pytest.raises(BackendError) as info:
        client.generate([request()])
    assert str(info.value) == f"{server.url}: HTTP 404 after 1 attempt: The model `nope` does not exist."
    assert len(server.bodies) == 1  # a 4xx is not retried
    client.close()


def test_a_failed_request_stops_the_rest_of_its_batch(serve):
    """Once one request of a ``generate`` call has failed, the batch is lost: the others are not retried."""
    failed = threading.Event()

    def plan(body: dict, attempt: int) -> Action:
        if body["messages"][0]["content"] == "bad":
            failed.set()  # the 400 goes out right after this
            return Status(400, "bad request")
        failed.wait(10)  # answer the other one after the bad one failed...
        time.sleep(0.5)  # ...and after its 400 reached the client (on a loaded machine the 500 could overtake it)
        return Status(500, "overloaded")

    server = serve(plan)
    # a real backoff of 30 s between attempts, which the cancellation must cut short
    client = OpenAIBackend(BackendConfig(backend="openai", base_url=server.url, model="m", max_retries=3,
                                         max_concurrency=2), retry_wait=wait_fixed(30))
    with pytest.raises(BackendError, match="HTTP 400"):
        client.generate([request("bad"), request("slow")])
    client._pool.shutdown(wait=True)  # the other request's thread ends without another attempt
    prompts = Counter(b["messages"][0]["content"] for b in server.bodies)
    assert prompts == {"bad": 1, "slow": 1}
    client.close()


def test_queued_requests_of_a_failed_batch_are_never_sent(serve):
    server = serve(lambda body, attempt: Status(400, "no") if body["messages"][0]["content"] == "0" else "ok")
    client = backend(server.url, max_concurrency=1)
    with pytest.raises(BackendError, match="HTTP 400"):
        client.generate([request(str(i)) for i in range(6)])
    client._pool.shutdown(wait=True)
    assert [b["messages"][0]["content"] for b in server.bodies] == ["0"]
    client.close()


def test_a_server_that_is_down_fails_fast_after_the_first_call(serve):
    port = closed_port()
    sleeps = Sleeps()
    client = backend(f"http://127.0.0.1:{port}/v1", sleeps, max_retries=3)
    with pytest.raises(BackendError, match="cannot reach the server at http://127.0.0.1") as first:
        client.generate([request()])
    assert "4 attempts" in str(first.value) and len(sleeps) == 3
    with pytest.raises(BackendError, match="after 1 attempt") as second:
        client.generate([request()])  # known down: one try, no backoff
    assert len(sleeps) == 3 and "unreachable on earlier requests" in str(second.value)
    # the server comes up on that port: one success, and failures get their retries again
    server = serve(scripted_plan([Status(500), Status(500)]), port=port)
    [[c]] = client.generate([request("again")])
    assert c.text and len(server.bodies) == 3 and len(sleeps) == 5
    client.close()


def test_a_reset_connection_does_not_count_as_down(serve):
    server = serve(scripted_plan([], then="reset"))
    sleeps = Sleeps()
    client = backend(server.url, sleeps, max_retries=1)
    for _ in range(2):
        with pytest.raises(BackendError, match="cannot reach the server.*2 attempts"):
            client.generate([request()])
    assert len(server.bodies) == 4 and len(sleeps) == 2  # every call got its retry
    client.close()
