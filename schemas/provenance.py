"""Provenance: one normal form for ``source.uri``, and licences recognised from their text.

``source_uri`` is the one function every reader names a source with:

- a URL (``https://``, ``ssh://``, ``git://``, ``s3://``, ``gs://``, ``memfs://``...) is kept, with any
  credentials taken out: for ``http(s)``/``git`` the whole user part goes (a token is often the
  user name: ``https://ghp_x@github.com/o/r``), and the query and fragment with it; for other schemes
  only a password (``ssh://git:pw@host/r`` → ``ssh://git@host/r``);
- the scp form of a git remote, ``[user@]host:path`` (``git@github.com:o/r.git``), is kept as it is:
  it holds no secret and is what ``git clone`` takes (turning it into ``https://`` would guess at the
  host's web address);
- a local path becomes ``file://`` + its absolute path: never a relative one, which would mean
  something else from another working directory.

A local git repository is named by its ``origin`` remote (``pipelines.sources.code.repos.repo_uri``), its
commit going to ``source.commit``. Pure functions only: no I/O but ``os.path`` (see
``pipelines.io.licenses`` for finding licence files).
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP = re.compile(r"^(?:[\w.+-]+@)?[\w.-]+:(?!//)")
_NO_USER = ("http", "https", "git")  # schemes where any user part is a credential, never needed to name the source


def is_uri(location: str) -> bool:
    return _SCHEME.match(location) is not None


def is_scp_remote(location: str) -> bool:
    """``[user@]host:path`` (git's scp-like syntax), and not an existing local path."""
    return not is_uri(location) and _SCP.match(location) is not None and not os.path.exists(location)


def strip_credentials(url: str) -> str:
    """``url`` without a password (and, for ``http(s)``/``git``, without any user part, query or fragment)."""
    if not is_uri(url):
        return url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = host if scheme in _NO_USER else f"{user.split(':', 1)[0]}@{host}"
    query, fragment = ("", "") if scheme in _NO_USER else (parts.query, parts.fragment)
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url  # untouched, byte for byte (row ids hash it)
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def source_uri(location: str) -> str:
    """The normal form of where a row came from (see the module docstring); ``""`` stays ``""``."""
    if not location:
        return location
    if is_uri(location):
        return strip_credentials(location)
    if is_scp_remote(location):
        return location
    return "file://" + os.path.abspath(location)


def repo_key(url: str) -> str | None:
    """``host/owner/name`` of a repository URL, lower-cased, without ``.git``: the key of ``KNOWN_REPOS``
    (``https://github.com/leanprover-community/mathlib4.git`` and ``git@github.com:leanprover-community/mathlib4``
    give the same key); None for what is not a remote repository."""
    url = url.strip()
    if is_uri(url):
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https", "git", "ssh") or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
    elif _SCP.match(url):
        host, _, path = url.split("@", 1)[-1].partition(":")
    else:
        return None
    path = path.strip("/").removesuffix(".git").strip("/")
    return f"{host}/{path}".lower() if path else None


# Repositories whose licence is known without reading them: the Lean repositories that LeanDojo and
# miniF2F data come from. Only licences stated in the project's data notes or by the repository itself.
KNOWN_REPOS: dict[str, str] = {
    "github.com/leanprover-community/mathlib4": "Apache-2.0",
    "github.com/leanprover-community/mathlib": "Apache-2.0",
    "github.com/leanprover/lean4": "Apache-2.0",
}


def known_repo_license(url: str | None) -> str | None:
    """The SPDX id of a repository in ``KNOWN_REPOS``, else None (unknown: not guessed)."""
    key = repo_key(url) if url else None
    return KNOWN_REPOS.get(key) if key else None


# --- licences from their text -------------------------------------------------------------------

_SPDX_LINE = re.compile(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+-]+)")
_CC = re.compile(r"creative ?commons[^.]{0,80}?attribution(?P<sa>[- ]share[- ]?alike)?(?P<nc>[- ]non[- ]?commercial)?"
                 r"(?P<nd>[- ]no[- ]?deriv\w*)?[^.]{0,40}?(?P<v>[1-4]\.0)")
_CC_URL = re.compile(r"creativecommons\.org/licenses/(?P<kind>by(?:-nc)?(?:-sa|-nd)?)/(?P<v>[1-4]\.0)")


def spdx_from_text(text: str) -> str | None:
    """The SPDX id of a licence text (a ``LICENSE`` file, a REUSE ``FILE.license`` sidecar), or None
    when it is not one of the common licences recognised here."""
    declared = _SPDX_LINE.search(text)
    if declared:
        return declared.group(1)
    t = " ".join(text.split()).lower()
    if "python software foundation license" in t:
        return "PSF-2.0"
    if "gnu lesser general public license" in t or "gnu library general public license" in t:
        return "LGPL-3.0" if "version 3" in t else "LGPL-2.1"
    if "gnu affero general public license" in t:
        return "AGPL-3.0"
    if "gnu general public license" in t:
        return "GPL-3.0" if "version 3" in t else "GPL-2.0" if "version 2" in t else None
    if "mozilla public license" in t and "2.0" in t:
        return "MPL-2.0"
    if "apache license" in t and "version 2.0" in t:
        return "Apache-2.0"
    cc = _creative_commons(t)
    if cc:
        return cc
    if "free and unencumbered software released into the public domain" in t:
        return "Unlicense"
    if "permission to use, copy, modify, and/or distribute this software for any purpose" in t:
        return "ISC"
    if "permission is hereby granted, free of charge" in t or t.startswith("mit license"):
        return "MIT"
    if "redistribution and use in source and binary forms" in t:
        return "BSD-3-Clause" if ("neither the name" in t or "endorse or promote" in t) else "BSD-2-Clause"
    return None


def _creative_commons(t: str) -> str | None:
    """``CC-BY-4.0``, ``CC-BY-SA-4.0``, ``CC-BY-2.0``... from a licence's name or its deed URL (lower-cased text)."""
    url = _CC_URL.search(t)
    if url:
        return f"CC-{url.group('kind').upper()}-{url.group('v')}"
    if "cc0" in t and "public domain" in t:
        return "CC0-1.0"
    named = _CC.search(t)
    if named:
        kind = "BY" + ("-NC" if named.group("nc") else "") + ("-SA" if named.group("sa") else "-ND" if named.group("nd") else "")
        return f"CC-{kind}-{named.group('v')}"
    return None
