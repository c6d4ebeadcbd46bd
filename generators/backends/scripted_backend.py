"""A scripted policy for tests of search and labelling logic: not a language model.

``--backend scripted --model RULES`` where RULES is a JSON file (or inline JSON) of
``{"rules": [[SUBSTRING, REPLY], ...], "default": REPLY, "delay": SECONDS, "load_log": DIR, "context": TOKENS,
"length_cap": true}``.
The reply of a request is that of the first rule whose substring occurs in its last message;
a reply of ``"__FAIL__"`` raises ``BackendError`` (a failing server). A reply may be a list: the
i-th completion of a request gets item i (cycling), so that ``n`` samples can differ. Each load leaves a
marker file in ``load_log`` so tests can count model copies per worker process.

Its "tokens" are whitespace-separated words (of every message of a prompt, as of a completion), so
that prompt budgets can be tested by counting: ``context`` is its context length (none by default),
and ``--prompt-budget`` applies as to every backend. With ``"length_cap": true`` it stops as a model
does at its token cap: a reply of more words than the request's ``max_new_tokens`` is cut to that
many and finishes with ``finish_reason="length"`` (off by default: every reply whole, ``"stop"``).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from generators.backends.base import BackendError, Completion, GenRequest, LLMBackend
from generators.backends.registry import BackendConfig

FAIL = "__FAIL__"


class ScriptedBackend(LLMBackend):
    name = "scripted"

    def __init__(self, config: BackendConfig):
        spec = config.model or "{}"
        text = Path(spec).read_text(encoding="utf-8") if not spec.lstrip().startswith("{") else spec
        script = json.loads(text)
        self.rules: list[tuple[str, str | list[str]]] = [(str(a), b if isinstance(b, list) else str(b))
                                                          for a, b in script.get("rules", [])]
        self.default: str | list[str] = script.get("default", "I do not know.")
        self.delay: float = float(script.get("delay", 0.0))
        self.context: int | None = int(script["context"]) if script.get("context") is not None else None
        self.length_cap = bool(script.get("length_cap", False))
        self.prompt_budget_override = config.prompt_budget
        self.calls = 0
        if script.get("load_log"):
            os.makedirs(script["load_log"], exist_ok=True)
            Path(script["load_log"], f"{os.getpid()}-{uuid.uuid4().hex[:8]}").touch()

    @property
    def model_name(self) -> str:
        return "scripted"

    @property
    def context_length(self) -> int | None:
        return self.context

    def prompt_tokens(self, request: GenRequest) -> int:
        return sum(len(content.split()) for _, content in request.messages)

    def reply(self, request: GenRequest, index: int = 0) -> str:
        last = request.messages[-1][1] if request.messages else ""
        reply = next((reply for needle, reply in self.rules if needle in last), self.default)
        return str(reply[index % len(reply)]) if isinstance(reply, list) else reply

    def _generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        self.calls += 1
        out = []
        for request in requests:
            if self.delay:
                time.sleep(self.delay)
            texts = [self.reply(request, i) for i in range(request.params.n)]
            if FAIL in texts:
                raise BackendError("scripted failure")
            out.append([self._complete(text, request.params.max_new_tokens, i) for i, text in enumerate(texts)])
        return out

    def _complete(self, text: str, cap: int, index: int) -> Completion:
        """The reply as a completion: whole (``stop``), or cut at ``cap`` words (``length``) under ``length_cap``."""
        words = list(re.finditer(r"\S+", text))
        if self.length_cap and len(words) > cap:  # cut after its cap-th word, the text's own spacing kept
            return Completion(text[: words[cap - 1].end()] if cap else "", cap, "length", logprob=-float(index + 1))
        return Completion(text, len(words), "stop", logprob=-float(index + 1))
