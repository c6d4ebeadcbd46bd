"""``BackendHandle``: the one way a pipeline reaches its LLM backend.

Built once per run (the run context holds it) and pickled into every DoFn that needs a model.
It carries only a ``BackendConfig``, which holds no secret: the OpenAI-compatible backend reads
``OPENAI_API_KEY`` from the environment of the process it runs in (the worker's, on a cluster),
so no key is ever part of the pipeline graph. ``get()`` returns this process's one backend for the
config through ``shared.Shared`` (one model copy per worker process, whatever the number of
DoFns, threads or elements); ``release()``, called from each DoFn's ``teardown``, closes it when
the last user in the process lets go, and the next ``get()`` builds a fresh one. ``engine()``
returns this process's one generation engine (``generators.engine``) over that backend, closed
with it.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from apache_beam.utils import shared

from generators.backends.base import LLMBackend
from generators.backends.console import show_progress
from generators.backends.registry import BackendConfig, create_backend

_lock = threading.Lock()
_users: dict[str, int] = {}  # tag → DoFns of this process holding the backend
_generation: dict[str, int] = {}  # tag → how many times it was closed (a closed backend is never handed out)
_engines: dict[tuple[int, Any], Any] = {}  # (id of a backend, settings) → its Engine in this process


def _loaded(config: BackendConfig) -> LLMBackend:
    """``create_backend``, saying so on a terminal: the first load of the embedded model converts
    it (about 30 s), a silent wait a user would take for a hang."""
    if not show_progress():
        return create_backend(config)
    started = time.monotonic()
    print(f"reverse-o1: loading the {config.backend} backend ({config.model or 'default model'})...", file=sys.stderr,
          flush=True)
    backend = create_backend(config)
    print(f"reverse-o1: backend ready in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return backend


class BackendHandle:
    def __init__(self, config: BackendConfig):
        self.config = config
        self._shared = shared.Shared()
        self._backend: LLMBackend | None = None

    def _tag(self) -> str:
        return repr(self.config)

    def get(self) -> LLMBackend:
        if self._backend is None:
            tag = self._tag()
            with _lock:
                generation = _generation.get(tag, 0)
                _users[tag] = _users.get(tag, 0) + 1
            self._backend = self._shared.acquire(lambda: _loaded(self.config), tag=f"{tag}#{generation}")
        return self._backend

    def engine(self) -> Any:
        """This process's ``Engine`` over this handle's backend, sized to the backend
        (``generators.engine.engine.engine_settings``) but for ``--inflight``/``--max-batch-sequences``."""
        from generators.engine.engine import Engine, engine_settings

        backend = self.get()
        settings = engine_settings(backend, self.config.inflight, self.config.max_batch_sequences)
        with _lock:
            key = (id(backend), settings)
            if key not in _engines:
                _engines[key] = Engine(backend, settings)
            return _engines[key]

    def release(self) -> None:
        """This DoFn is done with the backend; the process's last user closes it."""
        if self._backend is None:
            return
        backend, self._backend = self._backend, None
        tag = self._tag()
        with _lock:
            _users[tag] -= 1
            last = _users[tag] == 0
            if last:
                _generation[tag] = _generation.get(tag, 0) + 1
        if last:
            with _lock:
                engines = [k for k in _engines if k[0] == id(backend)]
                for k in engines:
                    _engines.pop(k).close()
            backend.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "_shared": self._shared, "_backend": None}
