"""The ``jetplug`` command line.

Every :class:`~jetplug.errors.JetplugError` is printed as one line
(``error: ...``) with exit status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

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


def _register() -> None:
    from .check import check
    from .demo import demo
    from .generate import generate
    from .new_plugin import new_plugin
    from .plugins import plugins
    from .run import run
    from .train import train
    from .triton import triton
    from .tune import tune
    from .validate import validate

    for command in (plugins, check, new_plugin, generate, train, tune, validate, run, demo, triton):
        main.add_command(command)


_register()
