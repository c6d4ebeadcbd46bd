"""Every prompt bounded: each backend's prompt budget (context minus max_new_tokens, or
``--prompt-budget``), checked before generation, and a server's own context-length refusal.

The transformers backend is the real embedded SmolLM2 with its own tokenizer (nothing generated:
an over-budget prompt never reaches the model); the OpenAI-compatible backend talks to a small
scripted HTTP server on 127.0.0.1 that words its refusals as vLLM does; the scripted backend (a
test double) counts words.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tenacity import wait_none

from generators.backends import BackendConfig, BackendError, GenerationParams, GenRequest, create_backend
from generators.backends.base import PromptTooLong, context_exceeded
from generators.backends.openai_backend import ASSUMED_CONTEXT, OpenAIBackend
from generators.backends.transformers_backend import TransformersBackend


def request(text: str, max_new_tokens: int = 16, system: str | None = None) -> GenRequest:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    return GenRequest.chat(messages, GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0))


# --- the scripted backend (a test double): words are its tokens --------------------------------


def scripted(prompt_budget: int | None = None, **script) -> object:
    model = json.dumps({"default": "ok", **script})
    return create_backend(BackendConfig(backend="scripted", model=model, prompt_budget=prompt_budget))


def test_scripted_budget_is_its_context_minus_max_new_tokens() -> None:
    backend = scripted(context=20)
    assert backend.prompt_budget(GenerationParams(max_new_tokens=8)) == 12
    assert backend.generate([request("one " * 12, max_new_tokens=8)])[0][0].text == "ok"  # exactly the budget
    with pytest.raises(PromptTooLong, match="13 tokens, over the budget of 12") as info:
        backend.generate([request("short", max_new_tokens=8), request("one " * 13, max_new_tokens=8)])
    assert info.value.tokens == 13 and info.value.budget == 12 and info.value.reason == "prompt_too_long"
    assert isinstance(info.value, BackendError)
    assert backend.calls == 1  # only the first call generated: the failing batch never reached it


def test_prompt_budget_overrides_the_context_and_none_means_unbounded() -> None:
    assert scripted(prompt_budget=3, context=1000).prompt_budget(GenerationParams(max_new_tokens=900)) == 3
    with pytest.raises(PromptTooLong, match="--prompt-budget"):
        scripted(prompt_budget=3).generate([request("a b c d")])
    assert scripted().prompt_budget(GenerationParams()) is None  # no context known, none given
    assert scripted().generate([request("word " * 100_000)])[0][0].text == "ok"


def test_server_messages_for_context_length() -> None:
    for message in ("This model's maximum context length is 8192 tokens. However, you requested 9000 tokens",
                    "The decoder prompt (length 9000) is longer than the maximum model length of 8192.",
                    "The input (9000 tokens) is longer than the model's context length (8192 tokens).",
                    "the request exceeds the available context size, try increasing it",
                    "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096"):
        assert context_exceeded(message), message
    assert not context_exceeded("temperature must be non-negative")


# --- the embedded model: its own tokenizer and context ------------------------------------------


@pytest.fixture(scope="module")
def smollm(embedded_model_dir) -> Iterator[TransformersBackend]:
    backend = create_backend(BackendConfig(threads=1))
    assert isinstance(backend, TransformersBackend)
    yield backend
    backend.close()


@pytest.mark.model
def test_transformers_budget_from_its_config_and_tokenizer(smollm: TransformersBackend) -> None:
    assert smollm.context_length == smollm.model.config.max_position_embeddings == 8192
    assert smollm.prompt_budget(GenerationParams(max_new_tokens=192)) == 8000
    text = "Count the words in this sentence, then say how many there are."
    asked = request(text, system="Be brief.")
    rendered = smollm.tokenizer.apply_chat_template(asked.message_dicts(), add_generation_prompt=True, tokenize=False)
    exact = len(smollm.tokenizer(rendered, add_special_tokens=False)["input_ids"])
    assert smollm.prompt_tokens(asked) == exact and exact > len(text.split())  # the template's tokens count too
    # the boundary, counted by the model's tokenizer: at the budget it passes, one over it is refused
    smollm.check_prompt(request(text, max_new_tokens=8192 - smollm.prompt_tokens(request(text))))
    with pytest.raises(PromptTooLong) as info:
        smollm.generate([request(text, max_new_tokens=8192 - smollm.prompt_tokens(request(text)) + 1)])
    assert info.value.tokens == smollm.prompt_tokens(request(text))


@pytest.mark.model
def test_transformers_refuses_an_800kb_prompt_from_its_length(smollm: TransformersBackend) -> None:
    """The issue's prompt: an 800 KB docstring, twice in the code prompt (286k tokens, hours of prefill).
    More characters than the budget's tokens could hold: refused without tokenizing it."""
    assert smollm.max_token_chars and smollm.max_token_chars < 200
    huge = request("Explain this docstring. " + "This paragraph is padding. " * 60_000)
    with pytest.raises(PromptTooLong, match="characters: at least"):
        smollm.generate([huge])
    near = request("word " * 9000)  # under the length bound, so tokenized: 9000+ tokens, still over 8176
    with pytest.raises(PromptTooLong, match=r"prompt of \d+ tokens"):
        smollm.check_prompt(near)


@pytest.mark.model
def test_transformers_prompt_budget_option(embedded_model_dir) -> None:
    backend = create_backend(BackendConfig(threads=1, prompt_budget=10))
    try:
        with pytest.raises(PromptTooLong, match="--prompt-budget"):
            backend.generate([request("Say hello.")])  # the chat template alone is more than 10 tokens
    finally:
        backend.close()


# --- the OpenAI-compatible backend: no tokenizer here, the server's word --------------------------


class ContextServer:
    """POST /v1/chat/completions: a 400 worded as vLLM's when the prompt has more than ``max_chars``
    characters (or ``status`` for every request); GET /v1/models lists one model, with
    ``max_model_len`` when ``context`` is set."""

    def __init__(self, context: int | None = None, max_chars: int = 10**9) -> None:
        self.context, self.max_chars = context, max_chars
        self.status: int | None = None
        self.message = ""
        self.posts = 0
        self.gets = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def backend(self, **config) -> OpenAIBackend:
        config = {"model": "m", "max_retries": 3, "request_timeout": 5.0, **config}
        return OpenAIBackend(BackendConfig(backend="openai", base_url=self.url, **config), retry_wait=wait_none())

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.gets += 1
                model = {"id": "m", "object": "model", "created": 0, "owned_by": "me"}
                if server.context is not None:
                    model["max_model_len"] = server.context
                self.reply(200, {"object": "list", "data": [model]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.posts += 1
                chars = sum(len(m["content"]) for m in body["messages"])
                if server.status is not None:
                    self.reply(server.status, {"error": {"message": server.message, "type": "BadRequestError"}})
                elif chars > server.max_chars:
                    message = (f"This model's maximum context length is {server.context} tokens. However, you "
                               f"requested {chars + body['max_tokens']} tokens ({chars} in the messages, "
                               f"{body['max_tokens']} in the completion). Please reduce the length of the messages "
                               "or completion.")
                    self.reply(400, {"object": "error", "message": message, "type": "BadRequestError",
                                     "param": None, "code": 400})
                else:
                    self.reply(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"},
                                                  "finish_reason": "stop"}],
                                     "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})

        return Handler


@pytest.fixture
def server() -> Iterator[ContextServer]:
    s = ContextServer(context=1000, max_chars=2000)
    yield s
    s.stop()


def test_openai_maps_the_servers_context_length_error_and_does_not_retry(server: ContextServer) -> None:
    backend = server.backend()
    try:
        assert backend.context_length == 1000 and server.gets == 1  # asked once, from GET /models
        assert backend.generate([request("x" * 1500)])[0][0].text == "fine"  # 1500 B: under its lenient estimate
        with pytest.raises(PromptTooLong, match="maximum context length is 1000 tokens") as info:
            backend.generate([request("x" * 2500)])  # fits the estimate; the server counts and refuses
        assert server.posts == 2  # a 400 for length is never retried (max_retries 3)
        assert "HTTP 400" in str(info.value) and "\n" not in str(info.value)
        server.posts = 0
        with pytest.raises(PromptTooLong, match="over the budget of 984"):
            backend.generate([request("x" * 7000)])  # far over even the lenient estimate: never sent
        assert server.posts == 0 and server.gets == 1
    finally:
        backend.close()


def test_openai_other_client_errors_stay_backend_errors(server: ContextServer) -> None:
    backend = server.backend()
    try:
        server.status, server.message = 400, "temperature must be non-negative"
        with pytest.raises(BackendError, match="HTTP 400") as info:
            backend.generate([request("hi")])
        assert not isinstance(info.value, PromptTooLong)
        server.status, server.message = 413, "Request Entity Too Large"  # a proxy's body limit
        with pytest.raises(PromptTooLong, match="HTTP 413"):
            backend.generate([request("hi")])
    finally:
        backend.close()


def test_openai_without_a_reported_context_assumes_one_and_counts_conservatively() -> None:
    s = ContextServer(context=None)
    backend = s.backend()
    try:
        assert backend.context_length == ASSUMED_CONTEXT
        budget = ASSUMED_CONTEXT - 16
        assert backend.generate([request("x" * (2 * budget))])[0][0].text == "fine"  # about 2/3 of the budget
        with pytest.raises(PromptTooLong, match="reports no context"):
            backend.generate([request("x" * (3 * budget))])  # 3 bytes a token: over, never sent
        assert s.posts == 1
    finally:
        backend.close()
        s.stop()


def test_openai_prompt_budget_option_asks_no_server(server: ContextServer) -> None:
    backend = create_backend(BackendConfig(backend="openai", base_url=server.url, model="m", prompt_budget=50))
    try:
        with pytest.raises(PromptTooLong, match="--prompt-budget"):
            backend.generate([request("x" * 300)])
        assert server.posts == 0 and server.gets == 0
    finally:
        backend.close()
