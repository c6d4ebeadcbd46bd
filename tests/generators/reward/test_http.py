"""``HTTPReward`` against a stand-in vLLM reward server: not vLLM, an ``http.server`` thread on localhost that
answers ``GET /v1/models`` and ``POST /pooling`` in the format of vLLM's docs (0.11 to 0.18: ``"task":
"token_classify"``, per input one [wrong, right] pair per step tag under the STEP pooler) with fixed scores,
and fails, stalls or garbles the calls a test tells it to. Retries are counted, their waits recorded, never timed.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tenacity import wait_none

from generators.backends.base import PromptTooLong
from generators.reward.base import RewardError, ScoreRequest
from generators.reward.generative import shepherd_text
from generators.reward.http import HTTPReward
from generators.reward.http_url import QWEN_PRM_SYSTEM
from generators.reward.spec import RewardSpec, create_reward, parse_spec
from schemas.records import Step

MODEL = "stand-in-prm"


def fixed_score(text: str) -> float:
    """The stand-in's P(correct) of a step: 0.9 when its text says "good", else 0.2."""
    return 0.9 if "good" in text else 0.2


Answer = tuple[int, str, dict[str, str]]  # status, body, headers
Plan = Callable[[dict, int], Answer | None]  # (request body, number of this POST) -> an answer, or None: the fixed one


class StandInServer:
    """Not vLLM: a stand-in reward server with fixed answers in vLLM's documented Pooling API format."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.authorization: list[str | None] = []  # the Authorization header of each POST
        self.model_calls = 0
        self.plan: Plan = lambda body, n: None
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, body: dict) -> dict:
        if "messages" in body:
            sep = "<extra_0>"
            steps = body["messages"][-1]["content"].split(sep)[:-1]
            data = [[[round(1 - fixed_score(s), 6), fixed_score(s)] for s in steps]]
        else:  # Math-Shepherd texts: [+, -] at each "ки"
            data = [[[fixed_score(s), round(1 - fixed_score(s), 6)] for s in text.split(" ки")[:-1]] for text in body["input"]]
        return {"id": "pool-1", "object": "list", "created": 0, "model": body.get("model"),
                "data": [{"index": i, "object": "pooling", "data": d} for i, d in enumerate(data)],
                "usage": {"prompt_tokens": 1, "total_tokens": 1}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.model_calls += 1
                if self.path == "/v1/models":
                    self._send(200, json.dumps({"object": "list", "data": [{"id": MODEL, "max_model_len": 4096}]}))
                else:
                    self._send(404, json.dumps({"detail": "Not Found"}))

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/pooling":
                    self._send(404, json.dumps({"detail": "Not Found"}))
                    return
                server.bodies.append(body)
                server.authorization.append(self.headers.get("Authorization"))
                planned = server.plan(body, len(server.bodies))
                if planned is None:
                    self._send(200, json.dumps(server.answer(body)))
                else:
                    self._send(*planned)

        return Handler

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[StandInServer]:
    stand_in = StandInServer()
    yield stand_in
    stand_in.close()


def reward(url: str, waits: list[float] | None = None, max_retries: int = 3) -> HTTPReward:
    sleep = waits.append if waits is not None else (lambda seconds: None)
    return HTTPReward(parse_spec(url), retry_wait=wait_none(), sleep=sleep, max_retries=max_retries)


def request(problem: str, *steps: str) -> ScoreRequest:
    return ScoreRequest(problem, tuple(Step(text, None) for text in steps))


def error(status: int, message: str) -> Answer:
    """vLLM's ErrorResponse body."""
    return status, json.dumps({"error": {"message": message, "type": "BadRequestError", "param": None, "code": status}}), {}


def test_chat_requests_as_qwen_prm_documents(server: StandInServer) -> None:
    model = create_reward(parse_spec(server.url))
    assert isinstance(model, HTTPReward) and model.model == MODEL and server.model_calls == 1
    assert model.name == server.url
    out = model.score([request("What is 2 + 3?", "a good step", "a bad step"), request("Empty so far."),
                       request("Second problem", "good")])
    assert [s.scores for s in out] == [(0.9, 0.2), (), (0.9,)]
    assert len(server.bodies) == 2  # one per request with steps; none for the empty one
    first = next(b for b in server.bodies if b["messages"][1]["content"] == "What is 2 + 3?")
    assert first == {"model": MODEL, "task": "token_classify", "messages": [
        {"role": "system", "content": QWEN_PRM_SYSTEM},
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "a good step<extra_0>a bad step<extra_0>"}]}
    model.close()


def test_the_step_tag_is_taken_out_of_the_text(server: StandInServer) -> None:
    model = reward(f"{server.url}/v1/?system=#my-prm")
    assert model.model == "my-prm" and server.model_calls == 0  # named in the URL: no GET /v1/models
    out = model.score([request("p<extra_0>q", "good<extra_0> step", "Ünïcødé ∑ step")])
    assert out[0].scores == (0.9, 0.2)
    assert server.bodies[0]["messages"] == [{"role": "user", "content": "pq"},
                                            {"role": "assistant", "content": "good step<extra_0>Ünïcødé ∑ step<extra_0>"}]


def test_shepherd_format_batches_texts(server: StandInServer) -> None:
    model = reward(f"{server.url}?format=shepherd&task=#m")
    requests = [request("P1", "good one", "bad one"), request("P2"), request("P3", "bad\nsplit", "good")]
    out = model.score(requests)
    assert [s.scores for s in out] == [(0.9, 0.2), (), (0.2, 0.9)]  # label 0: [+, -]
    assert server.bodies == [{"model": "m", "input": [shepherd_text("P1", ["good one", "bad one"]),
                                                      shepherd_text("P3", ["bad\nsplit", "good"])]}]  # task= sends none


def test_retries_a_503_then_succeeds(server: StandInServer) -> None:
    server.plan = lambda body, n: error(503, "busy") if n == 1 else None
    waits: list[float] = []
    assert reward(f"{server.url}#m", waits).score([request("p", "good")])[0].scores == (0.9,)
    assert len(server.bodies) == 2 and waits == [0.0]


def test_honours_retry_after(server: StandInServer) -> None:
    server.plan = lambda body, n: (429, json.dumps({"error": {"message": "slow down"}}), {"Retry-After": "7"}) if n < 3 else None
    waits: list[float] = []
    assert reward(f"{server.url}#m", waits).score([request("p", "x")])[0].scores == (0.2,)
    assert waits == [7.0, 7.0]


def test_5xx_until_the_retries_are_spent(server: StandInServer) -> None:
    server.plan = lambda body, n: error(500, "engine dead")
    with pytest.raises(RewardError, match=r"HTTP 500: engine dead \(after 3 attempts\)"):
        reward(f"{server.url}#m", max_retries=2).score([request("p", "x")])
    assert len(server.bodies) == 3


def test_a_4xx_is_not_retried(server: StandInServer) -> None:
    server.plan = lambda body, n: error(400, "The model does not support Pooling API")
    with pytest.raises(RewardError) as caught:
        reward(f"{server.url}#m").score([request("p", "x")])
    assert "HTTP 400: The model does not support Pooling API" in str(caught.value) and "\n" not in str(caught.value)
    assert not isinstance(caught.value, PromptTooLong) and len(server.bodies) == 1


def test_context_exceeded_is_prompt_too_long(server: StandInServer) -> None:
    server.plan = lambda body, n: error(400, "This model's maximum context length is 4096 tokens. However, you "
                                             "requested 5000 tokens in the input.")
    with pytest.raises(PromptTooLong, match="maximum context length"):
        reward(f"{server.url}#m").score([request("p", "x")])
    assert len(server.bodies) == 1


@pytest.mark.parametrize("planned, match", [
    ((200, "<html>gateway</html>", {}), "not JSON"),
    ((200, json.dumps({"object": "list"}), {}), "no 'data' list"),
    ((200, json.dumps({"data": [{"index": 0, "data": [[0.5, 0.5]]}]}), {}), "1 step results for 2 steps"),
    ((200, json.dumps({"data": []}), {}), "0 results for 1 inputs"),
    ((200, json.dumps({"data": [{"index": 0, "data": [[0.1, 1.5], [0.5, 0.5]]}]}), {}), "not a probability"),
    ((200, json.dumps({"data": [{"index": 0, "data": [[0.1, -0.2], [0.5, 0.5]]}]}), {}), "not a probability"),
    ((200, json.dumps({"data": [{"index": 0, "data": [[0.1], [0.5]]}]}), {}), "label=1 wants more"),
    ((200, json.dumps({"data": [{"index": 0, "data": ["x", "y"]}]}), {}), "not a number"),
])
def test_bad_answers(server: StandInServer, planned: Answer, match: str) -> None:
    server.plan = lambda body, n: planned
    with pytest.raises(RewardError, match=match) as caught:
        reward(f"{server.url}#m").score([request("p", "a", "b")])
    assert "\n" not in str(caught.value) and len(server.bodies) == 1  # not retried


def test_bare_numbers_are_probabilities(server: StandInServer) -> None:
    server.plan = lambda body, n: (200, json.dumps({"data": [{"index": 0, "data": [0.25, 1]}]}), {})
    assert reward(f"{server.url}#m").score([request("p", "a", "b")])[0].scores == (0.25, 1.0)


def test_connection_refused() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits: list[float] = []
    model = reward(f"http://127.0.0.1:{port}#m", waits, max_retries=2)
    with pytest.raises(RewardError, match=rf"cannot reach the reward server at http://127.0.0.1:{port} after 3 attempts"):
        model.score([request("p", "x")])
    assert len(waits) == 2
    with pytest.raises(RewardError, match="after 1 attempt:"):  # known down: tried once
        model.score([request("p", "x")])
    assert len(waits) == 2
    with pytest.raises(RewardError, match="cannot get the model name from GET .*#MODEL"):
        reward(f"http://127.0.0.1:{port}")


@pytest.mark.parametrize("url, match", [
    ("http://127.0.0.1:1?colour=red#m", "unknown option 'colour'"),
    ("http://127.0.0.1:1?format=plain#m", "format='plain'"),
    ("http://127.0.0.1:1?format=shepherd&sep=x#m", "its own tag"),
    ("http://127.0.0.1:1?label=right#m", "not a column index"),
    ("http://127.0.0.1:1?sep=#m", "sep= is empty"),
])
def test_bad_options(url: str, match: str) -> None:
    with pytest.raises(RewardError, match=match):
        HTTPReward(RewardSpec("http", url))


def test_the_api_key_comes_from_the_environment_never_the_url(server: StandInServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # vllm serve --api-key: read on the worker, not in the graph
    model = create_reward(parse_spec(f"{server.url}#{MODEL}"))
    try:
        model.score([ScoreRequest("p", (Step("a"),))])
    finally:
        model.close()
    assert server.authorization == ["Bearer sk-test"]
    with pytest.raises(ValueError, match="no user or password in the URL") as caught:
        parse_spec("http://user:secret@127.0.0.1:8000#m")
    assert "secret" not in str(caught.value)
