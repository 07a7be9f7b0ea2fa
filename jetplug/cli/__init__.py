"""The ``jetplug`` command line.

Every :class:`~jetplug.errors.JetplugError` is printed as one line
(``error: ...``) with exit status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from ..errors import ChunksFailedError, JetplugError

__all__ = ["main"]


def _echo_error(e: BaseException) -> None:
    click.secho(f"error: {e}", fg="red", err=True)
    for note in getattr(e, "__notes__", []):
        click.secho(f"  {note}", fg="red", err=True)


class _Group(click.Group):
    """Subcommands imported when used: ``jetplug run`` does not import the training,
    validation and tuning stacks (scikit-learn, optuna, plotting), which halves the
    command line's start-up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _COMMANDS and cmd_name not in self.commands:
            module = importlib.import_module(f"{__name__}.{_COMMANDS[cmd_name]}")
            self.add_command(getattr(module, _COMMANDS[cmd_name]), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ChunksFailedError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _echo_error(e)
            sys.exit(3)
        except JetplugError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _echo_error(e)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="jetplug")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """jetplug: ML plugins (taggers, calibrators, ...) inside coffea analyses."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


_COMMANDS = {
    "plugins": "plugins",
    "check": "check",
    "new-plugin": "new_plugin",
    "generate": "generate",
    "train": "train",
    "tune": "tune",
    "validate": "validate",
    "run": "run",
    "demo": "demo",
    "triton": "triton",
}
"""Subcommand -> its module in ``jetplug.cli`` (the command object has the module's name)."""
