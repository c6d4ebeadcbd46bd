"""Every ``reverse-o1`` command: its name and the module whose ``COMMAND`` record it is.

The command line loops over this list; a module is imported only when its command is parsed or
run (``--help`` of all of them imports all), so starting the CLI for one command never loads the
others' dependencies. Adding a command: its module (with a ``COMMAND``) and one line here.
"""

from __future__ import annotations

import importlib

from pipelines.command import Command, PipelineCommand

COMMANDS: dict[str, str] = {
    "label": "pipelines.label",
    "expand": "pipelines.expand",
    "lean-cot": "pipelines.lean_cot",
    "code-cot": "pipelines.code_cot",
    "tag": "pipelines.tag",
    "difficulty": "pipelines.difficulty",
    "summarize": "pipelines.summarize",
    "export": "pipelines.export.command",
    "seeds": "pipelines.seeds_cli",
    "verify": "pipelines.verify_cli",
    "tokenizer": "pipelines.tokenizer_cli",
    "studio": "pipelines.studio.cli",
    "eval": "pipelines.eval_labels",
    "report": "pipelines.report.cli",
    "demo": "pipelines.demo",
}


def load(name: str) -> Command | PipelineCommand:
    """The record of command ``name`` (its module imported now)."""
    command = importlib.import_module(COMMANDS[name]).COMMAND
    if command.name != name:
        raise RuntimeError(f"{COMMANDS[name]}.COMMAND is named {command.name!r}, listed as {name!r}")
    return command
