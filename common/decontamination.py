"""Benchmark decontamination: does a text overlap a benchmark's test set?

References are fingerprints, not texts (``common/decontamination/BENCH.json.gz``, built by
``tools/build_decontamination_refs.py`` from the benchmarks' public repositories, provenance and
licence in each file and in that folder's README): the hashed word 13-grams and 8-grams of every test
item after ``common.text_normal.normalise`` (case, whitespace, number formatting, LaTeX spacing), the
hash of each item's whole normalised text, and each item's MinHash signature.

A text is contaminated by a benchmark when (as datatrove and NeMo-Curator do with 13-grams, open-r1
with 8-grams) it shares at least ``MIN_SHARED_8`` 8-grams with it (one for a text of fewer than 20
words; a shared 13-gram is six shared 8-grams, so this covers the 13-gram rule), or its whole
normalised text, or (for the problem) its MinHash estimate against one item reaches ``NEAR_MATCH``
(a reworded copy whose n-grams a few edits broke).
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from common import minhash
from common.text_normal import gram_hash, ngrams, words

_blake = hashlib.blake2b  # gram_hash inlined in the hot loop: the same 16 hex characters
MIN_SHARED_8 = 3
SHORT_WORDS = 20
NEAR_MATCH = 0.6
SHINGLE = 3
DOMAINS = {"math": ("gsm8k", "math500", "minif2f"), "code": ("humaneval", "mbpp"), "lean": ("minif2f",)}
BUNDLED = ("gsm8k", "math500", "humaneval", "mbpp", "minif2f")


class ReferenceError(ValueError):
    """A reference file that cannot be read, or a benchmark name that is not bundled."""


@dataclass
class Reference:
    """One benchmark's fingerprints."""

    name: str
    domain: str = "user"
    grams13: set[str] = field(default_factory=set)
    grams8: set[str] = field(default_factory=set)
    whole: set[str] = field(default_factory=set)
    index: minhash.LSHIndex = field(default_factory=lambda: minhash.LSHIndex(NEAR_MATCH))
    meta: dict[str, Any] = field(default_factory=dict)

    def add_text(self, text: str, item: str) -> None:
        """Index one item of a benchmark given as text (``--decontaminate-file``, and the build)."""
        tokens = words(text)
        if not tokens:
            return
        self.grams13.update(gram_hash(g) for g in ngrams(tokens, 13))
        self.grams8.update(gram_hash(g) for g in ngrams(tokens, 8))
        self.whole.add(gram_hash(" ".join(tokens)))
        self.index.add(item, minhash.signature(minhash.shingles(tokens, SHINGLE)))

    def to_json(self) -> dict[str, Any]:
        sigs = np.stack([sig for _, sig in self.index.items]) if self.index.items else np.zeros((0, minhash.PERMUTATIONS))
        return {**self.meta, "name": self.name, "domain": self.domain, "items": len(self.index.items),
                "ngrams": {"13": sorted(self.grams13), "8": sorted(self.grams8)}, "whole": sorted(self.whole),
                "minhash": base64.b64encode(sigs.astype("<u4").tobytes()).decode("ascii"),
                "minhash_items": [name for name, _ in self.index.items]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reference:
        ref = cls(str(data["name"]), str(data.get("domain", "user")), set(data["ngrams"]["13"]), set(data["ngrams"]["8"]),
                  set(data.get("whole", ())), meta={k: data[k] for k in ("source", "license", "split", "items") if k in data})
        raw = base64.b64decode(data.get("minhash", ""))
        sigs = np.frombuffer(raw, dtype="<u4").reshape(-1, minhash.PERMUTATIONS) if raw else np.zeros((0, 0))
        for name, sig in zip(data.get("minhash_items", []), sigs, strict=False):
            ref.index.add(str(name), sig.astype(np.uint32))
        return ref


@functools.cache  # read once per process: every run of a worker (and of a test session) shares it
def load_bundled(name: str) -> Reference:
    path = resources.files("common") / "decontamination" / f"{name}.json.gz"
    if not path.is_file():
        raise ReferenceError(f"--decontaminate {name}: not a bundled benchmark (bundled: {', '.join(BUNDLED)})")
    with path.open("rb") as handle:
        return Reference.from_json(json.loads(gzip.decompress(handle.read())))


def benchmarks_for(setting: str, domain: str) -> tuple[str, ...]:
    """The bundled benchmarks a ``--decontaminate`` value names for rows of ``domain``."""
    value = setting.strip()
    if value == "none":
        return ()
    if value == "auto":
        return DOMAINS.get(domain, ())
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in BUNDLED]
    if unknown:
        raise ReferenceError(f"--decontaminate {value}: unknown benchmark {', '.join(unknown)}; bundled: "
                             f"{', '.join(BUNDLED)}, or auto, or none")
    return names


class Matcher:
    """Every reference a run checks against; ``check`` names the first benchmark a text overlaps.

    A text's 8-grams are hashed once and intersected with each benchmark's set (a shared 13-gram holds
    six shared 8-grams, so the 8-gram rule covers the 13-gram one); the MinHash near-match is asked of
    the first text (the problem) only, against one index of every benchmark's items.
    """

    def __init__(self, references: list[Reference]):
        self.references = references
        self.index = minhash.LSHIndex(NEAR_MATCH)
        for ref in references:
            for item, sig in ref.index.items:
                self.index.add(f"{ref.name}\t{item}", sig)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.references]

    def check(self, texts: list[str]) -> tuple[str, str] | None:
        """``(benchmark, why)`` for the first of ``texts`` that overlaps a reference, else None."""
        if not self.references:
            return None
        for position, text in enumerate(texts):
            tokens = words(text) if text else []
            if not tokens:
                continue
            whole = gram_hash(" ".join(tokens))
            grams = {_blake(g.encode(), digest_size=8).hexdigest() for g in set(ngrams(tokens, 8))} if len(tokens) >= 8 else set()
            need = 1 if len(tokens) < SHORT_WORDS else MIN_SHARED_8
            for ref in self.references:
                if whole in ref.whole:
                    return ref.name, "whole_text"
                shared = len(grams & ref.grams8)
                if shared >= need:
                    return ref.name, f"{shared} 8-grams"
            if position == 0 and len(tokens) >= 8:
                near = self.index.query(minhash.signature(minhash.shingles(tokens, SHINGLE)))
                if near is not None:
                    bench, item = near[0].split("\t", 1)
                    return bench, f"near {item} ({near[1]:.2f})"
        return None
