"""Every byte the pipelines read or write goes through Beam's ``FileSystems``.

So a local folder, ``gs://``, ``s3://`` (with ``--s3_endpoint_url`` and friends) and any
registered Beam filesystem behave the same, on the launcher and in workers. pyarrow is handed
open file objects, never a path or URI, and nothing here calls ``os``/``glob``/``open`` on a path.

Whole-or-absent writes: on a local disk a file is written under a temporary name and renamed
into place; on an object store an object becomes visible only when its upload completes, so it
is written under its final name (a rename there is a copy plus a delete, twice the traffic for
no extra safety). A killed writer leaves a temporary (local) or nothing (object store).
"""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes, FileSystem
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.value_provider import RuntimeValueProvider

TMP_DIR = ".tmp"
GLOB_CHARS = "*?["
RAW = CompressionTypes.UNCOMPRESSED
MIME = "application/octet-stream"
_SYSTEMS: dict[tuple[str | None, int], tuple[Any, FileSystem]] = {}


def _system(path: str) -> FileSystem:
    """The filesystem of ``path``, one instance per scheme and options. ``FileSystems`` makes a new
    one per call, and for S3 that is a new boto3 client (50-100 ms of CPU) per read or write."""
    options = FileSystems._pipeline_options or RuntimeValueProvider.runtime_options  # as FileSystems does
    key = (FileSystems.get_scheme(path), id(options))
    if key not in _SYSTEMS:  # the options are kept with it, so that their id is not reused
        _SYSTEMS[key] = (options, FileSystems.get_filesystem(path))
    return _SYSTEMS[key][1]


@dataclass(frozen=True)
class FileMeta:
    path: str
    size: int


def set_options(options: Any) -> None:
    """Give the launcher's ``FileSystems`` the pipeline's options (S3 endpoint, credentials, project)."""
    FileSystems.set_options(options)


def scheme(path: str) -> str | None:
    """``"s3"``, ``"gs"``, ... or None for a local path."""
    found = FileSystems.get_scheme(path)
    return None if found in (None, "file") else found


def is_local(path: str) -> bool:
    return scheme(path) is None


def uri_of(path: str) -> str:
    """A URI naming ``path`` wherever it lives: ``file://`` + the absolute path for a local one."""
    if is_local(path):
        import os.path

        return f"file://{os.path.abspath(path)}"
    return path


def join(base: str, *parts: str) -> str:
    return _system(base).join(base, *parts) if parts else base


def basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def has_glob(path: str) -> bool:
    return any(ch in path for ch in GLOB_CHARS)


def match(pattern: str) -> list[FileMeta]:
    """Files matching ``pattern`` (``*`` within a folder, ``**`` across folders), sorted by path."""
    found = _system(pattern).match([pattern])[0].metadata_list
    return sorted((FileMeta(m.path, m.size_in_bytes) for m in found), key=lambda m: m.path)


def list_files(folder: str, suffix: str = "", recursive: bool = False) -> list[FileMeta]:
    """Files directly in ``folder`` (or anywhere below it) whose names end with ``suffix``; none
    when the folder does not exist. Temporaries (names starting with ``.``) are left out."""
    found = match(join(folder, "**" if recursive else "*"))
    return [m for m in found if m.path.endswith(suffix) and not basename(m.path).startswith(".")
            and (recursive or "/" not in m.path[len(folder.rstrip("/")) + 1:])]


def exists(path: str) -> bool:
    return _system(path).exists(path)


def is_folder(path: str) -> bool:
    """A local directory, or an object-store prefix with objects below it."""
    if is_local(path):
        import os.path

        return os.path.isdir(path)
    return not has_glob(path) and bool(_system(path).match([join(path, "**")], limits=[1])[0].metadata_list)


class NotAFileError(OSError):
    """A local path that is a FIFO, socket, device or directory: never opened, since opening a FIFO
    blocks until some writer comes (a run would hang silently)."""


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"))


def check_regular(path: str) -> None:
    """Raise ``NotAFileError`` unless a local ``path`` is a regular file (after symlinks); the
    ``OSError`` of a missing file, a symlink loop or a refused permission comes out as is."""
    if not is_local(path):
        return
    import os

    mode = os.stat(path[len("file://"):] if path.startswith("file://") else path).st_mode
    for test, kind in _KINDS:
        if test(mode):
            raise NotAFileError(f"{path} is {kind}, not a regular file: skipped, never opened")


@contextmanager
def open_read(path: str) -> Iterator[BinaryIO]:
    """A seekable binary reader (``.gz`` and friends are *not* decompressed: bytes as stored).
    Only regular files are opened (see ``check_regular``)."""
    check_regular(path)
    handle = _system(path).open(path, MIME, RAW)
    try:
        yield handle
    finally:
        handle.close()


def read_bytes(path: str, limit: int | None = None) -> bytes:
    with open_read(path) as handle:
        return handle.read() if limit is None else handle.read(limit)


def read_json(path: str) -> Any:
    return json.loads(read_bytes(path).decode("utf-8"))


def write_bytes(path: str, data: bytes, tmp_root: str | None = None) -> None:
    """Write ``data`` so that ``path`` is whole or absent (see the module docstring).

    Locally the temporary lives in ``tmp_root/.tmp`` (default: beside the file, hidden), so that
    a run's ``prepare`` can sweep what a killed writer left."""
    if not is_local(path):
        _create(path, data)
        return
    parent = path.rsplit("/", 1)[0] if "/" in path else "."
    tmp = join(join(tmp_root, TMP_DIR) if tmp_root else parent, f".{uuid.uuid4().hex}-{basename(path)}.tmp")
    _create(tmp, data)
    if not exists(parent):
        try:
            _system(parent).mkdirs(parent)
        except OSError:
            pass  # made by another worker meanwhile
    try:
        _system(path).rename([tmp], [path])
    finally:
        if exists(tmp):
            _system(tmp).delete([tmp])


@contextmanager
def open_write(path: str) -> Iterator[BinaryIO]:
    """A streaming writer whose file appears whole when the block ends, and not at all when it raises."""
    remote = not is_local(path)
    target = path if remote else join(path.rsplit("/", 1)[0] if "/" in path else ".", f".{uuid.uuid4().hex}-{basename(path)}.tmp")
    handle = _system(target).create(target, MIME, RAW)
    try:
        yield handle
    except BaseException:
        if not remote:
            handle.close()
            delete([target])
        raise  # an object store never shows an upload that was not completed
    handle.close()
    if not remote:
        _system(path).rename([target], [path])


def write_text(path: str, text: str, tmp_root: str | None = None) -> None:
    write_bytes(path, text.encode("utf-8"), tmp_root)


def write_json(path: str, value: Any, tmp_root: str | None = None) -> None:
    write_text(path, json.dumps(value, indent=2, default=str, ensure_ascii=False), tmp_root)


def _create(path: str, data: bytes) -> None:
    handle = _system(path).create(path, MIME, RAW)
    try:
        handle.write(data)
    finally:
        handle.close()


def delete(paths: Iterable[str]) -> int:
    """Delete the files that exist among ``paths``; how many were deleted."""
    present = [p for p in paths if exists(p)]
    for path in present:
        _system(path).delete([path])
    return len(present)


def delete_tree(folder: str) -> int:
    """Everything below ``folder`` (a local directory with it); how many files were deleted."""
    files = [m.path for m in match(join(folder, "**"))]
    delete(files)
    if is_local(folder) and exists(folder):
        _system(folder).delete([folder])
    return len(files)


# --- Parquet ------------------------------------------------------------------------------------

def table_bytes(table: pa.Table, metadata: dict[str, str] | None = None) -> bytes:
    """A zstd Parquet file of ``table`` (with ``metadata`` in its footer) as bytes."""
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def write_parquet(path: str, table: pa.Table, tmp_root: str | None = None, metadata: dict[str, str] | None = None) -> None:
    write_bytes(path, table_bytes(table, metadata), tmp_root)


def read_parquet(path: str, columns: list[str] | None = None) -> pa.Table:
    with open_read(path) as handle:
        return pq.read_table(pa.PythonFile(handle, mode="r"), columns=columns)


def parquet_footer(path: str) -> pq.FileMetaData:
    """The footer only (row counts, schema, key-value metadata): a ranged read on object stores."""
    with open_read(path) as handle:
        return pq.ParquetFile(pa.PythonFile(handle, mode="r")).metadata


@contextmanager
def parquet_file(path: str) -> Iterator[pq.ParquetFile]:
    """An open ``ParquetFile`` to stream batches from."""
    with open_read(path) as handle:
        yield pq.ParquetFile(pa.PythonFile(handle, mode="r"))
