"""The thought-factor vocabulary (SPEC "Thought factors"): a YAML file, replaceable with ``--factors``.

A custom file is checked field by field, and every problem is reported as ``FILE: where: message``
so that an annotator can fix it without reading code.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FILE = Path(__file__).with_name("factors.yaml")
NAME_RE = re.compile(r"[A-Z][A-Za-z0-9]*\Z")
SIGNALS = ("arithmetic", "code", "plan", "first_step", "last_step")
MAX_FILE_BYTES = 1_000_000


class FactorFileError(ValueError):
    """A vocabulary file that cannot be used; ``problems`` holds one line per fault."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclass(frozen=True)
class Factor:
    name: str
    description: str
    cues: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()

    @property
    def start_tag(self) -> str:
        return f"<ACT_{self.name}-Start>"


@dataclass(frozen=True)
class FactorVocabulary:
    """The factors in file order, the default one, and a fingerprint that row ids can include."""

    factors: tuple[Factor, ...]
    default: str
    version: str
    source: str
    fingerprint: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)

    def get(self, name: str) -> Factor:
        for factor in self.factors:
            if factor.name == name:
                return factor
        raise KeyError(f"unknown thought factor {name!r}; known: {', '.join(self.names)}")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(f.name == name for f in self.factors)

    def __len__(self) -> int:
        return len(self.factors)


def _strings(value: Any, where: str, problems: list[str], required: bool = False) -> tuple[str, ...]:
    if value is None:
        if required:
            problems.append(f"{where}: missing (a list of strings)")
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{where}: must be a list of non-empty strings")
        return ()
    return tuple(value)


def _check_cues(cues: tuple[str, ...], where: str, problems: list[str]) -> None:
    for i, cue in enumerate(cues):
        if cue.startswith("re:"):
            try:
                re.compile(cue[3:])
            except re.error as exc:
                problems.append(f"{where}[{i}]: bad regular expression {cue[3:]!r} ({exc})")


def _factor(raw: Any, where: str, problems: list[str]) -> Factor | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping with name, description, cues, examples")
        return None
    before = len(problems)
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append(f"{where}.name: {name!r} is not a factor name (a capital letter, then letters and digits)")
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append(f"{where}.description: missing or empty")
    cues = _strings(raw.get("cues"), f"{where}.cues", problems)
    _check_cues(cues, f"{where}.cues", problems)
    examples = _strings(raw.get("examples"), f"{where}.examples", problems)
    signals = _strings(raw.get("signals"), f"{where}.signals", problems)
    for signal in signals:
        if signal not in SIGNALS:
            problems.append(f"{where}.signals: unknown signal {signal!r} (known: {', '.join(SIGNALS)})")
    for key in sorted(set(raw) - {"name", "description", "cues", "examples", "signals"}, key=str):
        problems.append(f"{where}: unknown field {key!r}")
    if len(problems) > before:
        return None
    return Factor(name, description.strip(), cues, examples, signals)


def parse_factors(data: Any, source: str = "<factors>") -> FactorVocabulary:
    """A vocabulary from already-loaded YAML data; raises ``FactorFileError`` listing every fault."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise FactorFileError(source, ["expected a mapping with 'factors:' (a list) at the top"])
    raw_factors = data.get("factors")
    if not isinstance(raw_factors, list) or not raw_factors:
        raise FactorFileError(source, ["factors: missing or not a non-empty list"])
    factors: list[Factor] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_factors):
        factor = _factor(raw, f"factors[{i}]", problems)
        if factor is None:
            continue
        if factor.name in seen:
            problems.append(f"factors[{i}].name: duplicate factor {factor.name!r} (first at factors[{seen[factor.name]}])")
            continue
        seen[factor.name] = i
        factors.append(factor)
    named = [raw.get("name") for raw in raw_factors if isinstance(raw, dict) and isinstance(raw.get("name"), str)]
    default = data.get("default", named[0] if named else None)
    if default not in named:
        problems.append(f"default: {default!r} is not one of the factors ({', '.join(named)})")
    version = data.get("version", "v1")
    if not isinstance(version, (str, int)) or not str(version).strip():
        problems.append("version: must be a short string")
    for key in sorted(set(data) - {"factors", "default", "version"}, key=str):
        problems.append(f"unknown top-level field {key!r}")
    if problems:
        raise FactorFileError(source, problems)
    fingerprint = hashlib.sha256(yaml.safe_dump(data, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return FactorVocabulary(tuple(factors), str(default), str(version), source, fingerprint)


_CACHE: dict[str, FactorVocabulary] = {}


def load_factors(path: str | None = None) -> FactorVocabulary:
    """The built-in vocabulary, or the one in ``path``; raises ``FactorFileError`` with every fault."""
    source = str(path) if path else str(DEFAULT_FILE)
    if source in _CACHE and not path:
        return _CACHE[source]
    try:
        raw = Path(source).read_bytes()
    except OSError as exc:
        raise FactorFileError(source, [f"cannot read the file ({exc.strerror or exc})"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise FactorFileError(source, [f"file of {len(raw)} bytes is too large for a vocabulary"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FactorFileError(source, [f"not UTF-8 (byte {exc.start})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FactorFileError(source, [f"not valid YAML ({where}{problem})"]) from None
    vocabulary = parse_factors(data, source)
    if not path:
        _CACHE[source] = vocabulary
    return vocabulary
