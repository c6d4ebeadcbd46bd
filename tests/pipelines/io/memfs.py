"""``memfs://``: a test-only Beam filesystem that keeps files in this process's memory.

Registered by importing this module (Beam finds ``FileSystem`` subclasses by scheme). A file
written there exists nowhere on disk, so any code that bypasses ``FileSystems`` (``open``,
``os``, ``glob``, pyarrow given a path) fails or writes a stray local ``memfs:`` folder, which
the guard tests look for. Only for the in-process DirectRunner (one address space).
"""

from __future__ import annotations

import io
import threading
import time

from apache_beam.io.filesystem import BeamIOError, CompressionTypes, FileMetadata, FileSystem

SCHEME = "memfs"
STORE: dict[str, bytes] = {}
_LOCK = threading.Lock()


class _Writer(io.BytesIO):
    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def close(self) -> None:
        if not self.closed:
            with _LOCK:
                STORE[self.path] = self.getvalue()
        super().close()


class MemoryFileSystem(FileSystem):
    @classmethod
    def scheme(cls) -> str:
        return SCHEME

    def join(self, basepath: str, *paths: str) -> str:
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path: str) -> tuple[str, str]:
        head, _, tail = path.rpartition("/")
        return head, tail

    def mkdirs(self, path: str) -> None:
        pass

    def has_dirs(self) -> bool:
        return False

    def _list(self, dir_or_prefix: str):
        with _LOCK:
            items = [(k, len(v)) for k, v in STORE.items() if k.startswith(dir_or_prefix)]
        for key, size in items:
            yield FileMetadata(key, size, time.time())

    def create(self, path: str, mime_type: str = "application/octet-stream",
               compression_type: str = CompressionTypes.AUTO) -> io.BytesIO:
        return _Writer(path)

    def open(self, path: str, mime_type: str = "application/octet-stream",
             compression_type: str = CompressionTypes.AUTO) -> io.BufferedReader:
        with _LOCK:
            if path not in STORE:
                raise FileNotFoundError(f"Not found: {path}")
            return io.BufferedReader(io.BytesIO(STORE[path]))

    def copy(self, source_file_names: list[str], destination_file_names: list[str]) -> None:
        with _LOCK:
            for src, dst in zip(source_file_names, destination_file_names, strict=True):
                STORE[dst] = STORE[src]

    def rename(self, source_file_names: list[str], destination_file_names: list[str]) -> None:
        with _LOCK:
            for src, dst in zip(source_file_names, destination_file_names, strict=True):
                STORE[dst] = STORE.pop(src)

    def exists(self, path: str) -> bool:
        with _LOCK:
            return path in STORE or any(k.startswith(path.rstrip("/") + "/") for k in STORE)

    def size(self, path: str) -> int:
        return len(STORE[path])

    def last_updated(self, path: str) -> float:
        return time.time()

    def checksum(self, path: str) -> str:
        return str(hash(STORE[path]))

    def metadata(self, path: str) -> FileMetadata:
        return FileMetadata(path, len(STORE[path]), time.time())

    def delete(self, paths: list[str]) -> None:
        missing = {}
        with _LOCK:
            for path in paths:
                if STORE.pop(path, None) is None:
                    missing[path] = FileNotFoundError(path)
        if missing:
            raise BeamIOError("Delete operation failed", missing)


def put(path: str, data: bytes) -> None:
    with _LOCK:
        STORE[path] = data


def under(prefix: str) -> dict[str, bytes]:
    with _LOCK:
        return {k: v for k, v in STORE.items() if k.startswith(prefix)}
