"""The ``xtrack`` command: a thin shell over the services (``base``: what commands share;
``processes``: serve, web, scheduler, worker; ``commands``: the one-off commands)."""

import sys

import typer

# Typer vendors Click (typer._click) and raises its exceptions; `import click` would not catch them.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from xtrack.cli import commands, processes
from xtrack.cli.base import app, fail

__all__ = ["app", "commands", "main", "processes"]


def main(argv: list[str] | None = None) -> None:
    """Run ``xtrack``: usage errors (an unknown option, a value of the wrong kind) are one line
    and exit 2, like configuration errors; runtime errors are one line and exit 1 (``base.fail``)."""
    try:
        code = app(args=argv, prog_name="xtrack", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()  # `xtrack` or `xtrack users` alone: the help, as asked for
        sys.exit(exc.exit_code)
    except UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "xtrack"
        fail(f"{exc.format_message()} (see `{command} --help`)", code=2)
        sys.exit(2)
    except ClickException as exc:
        fail(exc.format_message())
        sys.exit(exc.exit_code)
    except typer.Abort:
        fail("aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
