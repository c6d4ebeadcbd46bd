"""What a command is: one record per command, which the command line loops over.

A ``Command`` parses its own arguments and runs (the tools: ``seeds``, ``verify``, ``export``...).
A ``PipelineCommand`` is a Beam pipeline: its record holds everything the CLI, the runner and the
card need to know of it (its arguments, what it requires, its builder, whether an LLM made its
rows, which errors mean "cannot run here"), so that adding one touches its own module and the
list in ``pipelines.commands``. Nothing heavy is imported here: a record costs nothing to load.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from common.errors import ConfigError
from pipelines.config import PLUMBING, RunConfig, build_config, with_worker_threads

if TYPE_CHECKING:
    from pipelines.runner import Builder, RunSummary

# Settings of the LLM: shown only for a run where an LLM wrote (or tagged) the rows.
LLM_SETTINGS = frozenset({"backend", "model", "temperature", "max_new_tokens", "seed"})
CONFIG_KEYS = set(RunConfig.model_fields) | {"vllm_arg"}  # --vllm-arg: merged into the vllm: mapping


@dataclass(frozen=True)
class Command:
    """A command that parses its arguments and runs in this process."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, list[str]], int]
    beam_options: bool = False  # flags it does not know go to Beam's PipelineOptions (else they are errors)


@dataclass(frozen=True)
class Requirement:
    """An option a pipeline cannot run without, and the one line that says so."""

    holds: Callable[[RunConfig], bool]
    message: str


def _always(config: RunConfig) -> bool:
    return True


def _no_errors() -> tuple[type[Exception], ...]:
    return ()


@dataclass(frozen=True)
class PipelineCommand:
    """A Beam pipeline command: arguments → one ``RunConfig`` → the builder, run by ``run_command``."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    build: Builder
    required: tuple[Requirement, ...] = ()
    uses_llm: Callable[[RunConfig], bool] = _always  # did an LLM make (or tag) the rows?
    run_name: Callable[[RunConfig], str] | None = None  # the manifest's name for a run (default: the command's)
    model_name: Callable[[RunConfig], str | None] | None = None  # the manifest's model (default: the configured)
    check: Callable[[RunConfig], None] | None = None  # more checks of the config; raises ConfigError
    cannot_run: Callable[[], tuple[type[Exception], ...]] = _no_errors  # errors that mean "can't run here"
    beam_options: bool = field(default=True, init=False)

    def require(self, config: RunConfig) -> RunConfig:
        """``config`` if it names what this command needs (else one ``ConfigError`` line)."""
        if not config.out:
            raise ConfigError(f"{self.name} needs --out DIR, the output folder (or out: in --config)")
        for requirement in self.required:
            if not requirement.holds(config):
                raise ConfigError(requirement.message)
        if self.check is not None:
            self.check(config)
        return config

    def options(self) -> list[str]:
        """The ``RunConfig`` fields of this command's options, in the order its parser has them."""
        parser = argparse.ArgumentParser(add_help=False)
        self.add_arguments(parser)
        return [a.dest for a in parser._actions if a.option_strings and a.dest in RunConfig.model_fields]

    def settings(self, config: RunConfig) -> dict[str, Any]:
        """What this run's rows were made with, as the manifest and the card show it: the command's
        own options (not plumbing nor the model, which has its own place), the LLM's only where an
        LLM made the rows, unset ones (None) left out."""
        values = config.model_dump(mode="json")
        llm = self.uses_llm(config)
        return {name: values[name] for name in self.options()
                if values.get(name) is not None and name not in PLUMBING | {"model"} and (llm or name not in LLM_SETTINGS)}

    def config(self, args: argparse.Namespace) -> RunConfig:
        """The validated config of a command line: its flags over ``--config``'s file over the defaults."""
        flags = {k: v for k, v in vars(args).items() if k in CONFIG_KEYS}
        return self.require(build_config(flags, getattr(args, "config", None)))

    def launch(self, config: RunConfig, beam_args: list[str] | None = None) -> RunSummary:
        """Run this pipeline on ``config`` (already required), with Beam's ``beam_args``; nothing printed."""
        from pipelines.runner import run_command

        return run_command(self.run_name(config) if self.run_name else self.name, config, self.build, beam_args,
                           model_name=self.model_name(config) if self.model_name else None,
                           settings=self.settings(config), uses_llm=self.uses_llm(config))

    def run(self, args: argparse.Namespace, unknown: list[str]) -> int:
        """The command line's run: cores split among Beam's workers, progress bars as asked, the
        stage table and notes printed. Errors of ``cannot_run`` (and a path the workers can't
        see) are one ``ConfigError`` line."""
        from pipelines.io.placement import PlacementError, runs_here
        from pipelines.runner import pipeline_options
        from pipelines.summary import print_summary

        config = self.config(args)
        if runs_here(pipeline_options(unknown)):  # else the threads are sized on each worker
            config = with_worker_threads(config, unknown)
        if config.quiet:  # the DirectRunner's worker processes inherit it
            from pipelines.stage.progress import NO_PROGRESS

            os.environ[NO_PROGRESS] = "1"
        try:
            summary = self.launch(config, unknown)
        except (PlacementError, *self.cannot_run()) as exc:
            raise ConfigError(str(exc)) from None
        print_summary(summary)
        return 0
