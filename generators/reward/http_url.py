"""What a reward server's SPEC says, ``http://[USER@]HOST:PORT[/v1][?OPTIONS][#MODEL]``, checked without a
network call: the launcher refuses a bad URL in one line before any work (``generators.reward.spec``), and
``generators.reward.http`` talks to what it describes. Options are documented there."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

QWEN_PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
DEFAULTS = {"chat": {"sep": "<extra_0>", "label": "1", "system": QWEN_PRM_SYSTEM},
            "shepherd": {"label": "0"}}
OPTIONS = ("format", "sep", "label", "system", "task")
DEFAULT_TASK = "token_classify"


@dataclass(frozen=True)
class ServerSpec:
    root: str  # scheme://host:port[/path], without /v1, query or fragment
    format: str
    sep: str
    system: str
    task: str
    label: int
    model: str  # "" : the first model the server lists
    options: tuple[tuple[str, str], ...]  # the options given, sorted: part of the model's identity

    @property
    def identity(self) -> str:
        """What names the scoring, whatever host or port serves it: the model and the options."""
        query = f"?{urlencode(self.options)}" if self.options else ""
        return f"http:{self.model or 'first-served'}{query}"


def server_spec(location: str) -> ServerSpec:
    """The parsed URL; ValueError with a one-line reason for a URL that cannot be a reward server."""
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--value-model {without_credentials(location)}: expected http(s)://HOST:PORT[/v1][?OPTIONS][#MODEL]")
    if parts.username or parts.password:
        raise ValueError(f"--value-model {without_credentials(location)}: no user or password in the URL (the run's "
                         "manifest records its options); set OPENAI_API_KEY where the workers run (vllm serve --api-key)")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"--value-model {location}: the port is not a number") from None
    path = parts.path.rstrip("/")
    path = path[: -len("/v1")] if path.endswith("/v1") else path
    options = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"--value-model {location}: unknown option {unknown[0]!r} (options: {', '.join(OPTIONS)})")
    fmt = options.get("format", "chat")
    if fmt not in DEFAULTS:
        raise ValueError(f"--value-model {location}: format={fmt!r}; expected chat or shepherd")
    if fmt == "shepherd" and ("sep" in options or "system" in options):
        raise ValueError(f"--value-model {location}: format=shepherd has its own tag (ки) and no system message")
    settings = {**DEFAULTS[fmt], **options}
    try:
        label = int(settings["label"])
    except ValueError:
        raise ValueError(f"--value-model {location}: label={settings['label']!r} is not a column index") from None
    if fmt == "chat" and not settings.get("sep", ""):
        raise ValueError(f"--value-model {location}: sep= is empty; the server pools at a step tag token")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return ServerSpec(f"{parts.scheme}://{host}{path}", fmt, settings.get("sep", ""), settings.get("system", ""),
                      settings.get("task", DEFAULT_TASK), label, parts.fragment, tuple(sorted(options.items())))


def without_credentials(location: str) -> str:
    """The URL as rows and logs may show it: no user or password."""
    parts = urlsplit(location)
    if not (parts.username or parts.password):
        return location
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=host).geturl()
