"""The error that means "cannot run like this": a bad option, input or output."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration that cannot run; the message is one line for the CLI (exit 2)."""
