"""The studio's front door, as plain ASGI middleware: every request passes it before any route.

- a token, when one is set (required to bind anything but loopback), on every request: the
  ``Authorization: Bearer`` header, or the cookie set when the printed ``?token=`` address is
  opened (answered by a redirect to the same page without the token in its address);
- no request another site's page fired (``Sec-Fetch-Site``), except following a link to ``/``;
- on loopback, the Host header must name the address the studio serves (a DNS-rebinding page
  can't reach it); elsewhere the token does that job, whatever name the machine is reached by;
- a POST must be ``application/json`` from the studio's own origin (no cross-site form posts);
- request bodies are capped (413 beyond ``max_body``);
- responses say: no sniffing, no framing, no referrer, no caching, and a CSP with no inline script.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]
COOKIE = "reverse_o1_studio"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]


class BodyTooLarge(Exception):
    pass


class StudioGuard:
    def __init__(self, app: ASGIApp, hosts: set[str], token: str | None, max_body: int, port: int = 0):
        self.app, self.hosts, self.token, self.max_body = app, hosts, token, max_body
        self.cookie = f"{COOKIE}_{port}"  # cookies ignore ports: one studio's must not overwrite another's

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal:
            await _reply(send, *refusal)
            return
        if self.token is not None and scope["method"] == "GET" and self._query_token(scope) is not None:
            # the token leaves the address bar (history, screenshots) at once: the cookie carries it from here
            await send({"type": "http.response.start", "status": 303, "headers": [
                (b"location", (scope.get("path") or "/").encode("utf-8", "replace")), (b"content-length", b"0"),
                (b"set-cookie", f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode()), *HEADERS]})
            await send({"type": "http.response.body", "body": b""})
            return
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            await _reply(send, 413, f"request body over {self.max_body} bytes")
            return
        seen = 0

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge()
            return message

        started = False

        async def secured_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        try:
            await self.app(scope, limited_receive, secured_send)
        except BodyTooLarge:
            if not started:
                await _reply(send, 413, f"request body over {self.max_body} bytes")

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        if self.hosts and headers.get("host", "") not in self.hosts:
            return 421, "unexpected Host header: open the studio at the address it printed"
        if self.token is not None and not self._authorised(scope, headers):
            return 401, "this studio needs its token: open the address it printed (with ?token=...)"
        site = headers.get("sec-fetch-site", "")
        if site in ("cross-site", "same-site") and not (scope.get("path") == "/" and headers.get("sec-fetch-mode") == "navigate"):
            return 403, "cross-site request refused"  # another page firing requests here (reports cost CPU)
        if scope["method"] not in ("GET", "HEAD", "POST"):
            return 405, "method not allowed"
        if scope["method"] == "POST":
            if headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return 415, "POST bodies must be application/json"
            origin = headers.get("origin")
            if origin is not None and origin.split("://", 1)[-1] != headers.get("host"):
                return 403, "cross-origin request refused"
        return None

    def _authorised(self, scope: Scope, headers: dict[str, str]) -> bool:
        assert self.token is not None
        offered = []
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered.append(auth[7:].strip())
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie:
                offered.append(value)
        if scope["method"] == "GET":  # opening the printed address; answered with a redirect that sets the cookie
            offered.append(self._query_token(scope) or "")
        return any(hmac.compare_digest(o.encode(), self.token.encode()) for o in offered if o)

    @staticmethod
    def _query_token(scope: Scope) -> str | None:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        return values[0] if values else None


async def _reply(send: Callable, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *HEADERS]})
    await send({"type": "http.response.body", "body": body})
