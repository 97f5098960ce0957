"""Commands imported when they run: ``forgelens version`` does not load the analytics, the
service or the Kafka client, and ``forgelens collect`` loads only what collecting needs."""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

# name -> (module under forgelens.cli, attribute): a ``typer.Typer`` (a group of subcommands) or
# a command function. The order is the order ``forgelens --help`` lists them in.
COMMANDS: dict[str, tuple[str, str]] = {
    "collect": ("collect", "collect_cmd"),
    "query": ("query", "query"),
    "demo": ("demo", "demo"),
    "runs": ("runs", "app"),
    "db": ("db", "app"),
    "record-pipeline-run": ("pipeline_runs", "record_cmd"),
    "pipeline-runs": ("pipeline_runs", "app"),
    "clickhouse": ("clickhouse", "app"),
    "consume": ("consume", "consume_cmd"),
    "sink": ("sink", "app"),
    "analyze": ("analyze", "app"),
    "deployments": ("deployments", "app"),
    "serve": ("serve", "serve"),
    "report": ("report", "report_cmd"),
    "worker": ("worker", "worker"),
    "keys": ("keys", "app"),
    "retention": ("retention", "app"),
    "sim": ("sim", "app"),
    "backfill": ("backfill", "app"),
    "completeness": ("backfill", "completeness_cmd"),
}


def load(name: str) -> Any:
    """The (click) command ``name`` of ``COMMANDS``, importing its module now."""
    module, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(f"forgelens.cli.{module}"), attribute)
    group = isinstance(target, typer.Typer)  # a group even when it has one subcommand
    if not group:
        single = typer.Typer()
        single.command(name)(target)
        target = single  # one command and no callback: typer returns the command itself
    command = typer.main.get_group(target) if group else typer.main.get_command(target)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """The top-level group: eager commands (``version``) plus ``COMMANDS``, loaded on use.

    Typed with ``Any``: typer's click types are private and vary across the typer versions
    we accept (newer ones vendor click).
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in COMMANDS:
            return load(cmd_name)
        return super().get_command(ctx, cmd_name)
