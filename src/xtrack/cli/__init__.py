"""The ``xtrack`` command: a thin shell over the services (``base``: what commands share;
``processes``: serve, web, scheduler, worker; ``commands``: the one-off commands)."""

from xtrack.cli import commands, processes
from xtrack.cli.base import app

__all__ = ["app", "commands", "main", "processes"]


def main() -> None:
    app()
