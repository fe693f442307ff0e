"""The ``--config`` option every command shares, and loading it with a readable failure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from citadel.config import CitadelSettings, ConfigError, load_settings
from citadel.config.loader import CONFIG_ENV_VAR, DEFAULT_CONFIG_PATH

EXIT_CONFIG_INVALID = 2

F = TypeVar("F", bound=Callable[..., Any])


def config_option(function: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=DEFAULT_CONFIG_PATH,
        envvar=CONFIG_ENV_VAR,
        show_default=True,
        show_envvar=True,
        help="The Citadel config file.",
    )(function)


def load_or_exit(config_path: Path) -> CitadelSettings:
    """The settings, or every problem on stderr and exit code 2."""
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        click.echo(f"error: invalid config {exc.path}:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(EXIT_CONFIG_INVALID) from exc
