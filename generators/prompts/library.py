"""Prompt templates as data: one YAML file, each template with a version rows record."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATES_FILE = Path(__file__).with_name("templates.yaml")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    system: str
    parts: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """``name/version``, the value written to ``generator.prompt_version``."""
        return f"{self.name}/{self.version}"

    def messages(self, part: str = "user", **values: Any) -> list[dict[str, str]]:
        """Chat messages: the system text, then the named user part filled with ``values``."""
        if part not in self.parts:
            raise KeyError(f"template {self.id} has no part {part!r} (has: {', '.join(self.parts)})")
        out = [{"role": "system", "content": self.system}] if self.system else []
        out.append({"role": "user", "content": self.parts[part].format(**values)})
        return out


@lru_cache(maxsize=8)
def load_templates(path: str = str(TEMPLATES_FILE)) -> dict[str, PromptTemplate]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    templates = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or "version" not in spec:
            raise ValueError(f"{path}: template {name!r} needs a mapping with a 'version'")
        parts = {k: v for k, v in spec.items() if k.startswith("user") and isinstance(v, str)}
        templates[name] = PromptTemplate(name, str(spec["version"]), str(spec.get("system") or ""), parts)
    return templates


def template(name: str) -> PromptTemplate:
    templates = load_templates()
    if name not in templates:
        raise KeyError(f"unknown prompt template {name!r}; known: {', '.join(sorted(templates))}")
    return templates[name]
