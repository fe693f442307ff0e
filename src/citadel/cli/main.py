"""The ``citadel`` command: thin; each subcommand parses, builds from settings and calls the package."""

from __future__ import annotations

import click

from citadel import __version__
from citadel.cli.ab import ab
from citadel.cli.backup import backup, restore
from citadel.cli.bench import bench
from citadel.cli.cache import cache
from citadel.cli.check import check, config
from citadel.cli.console import console
from citadel.cli.db import db
from citadel.cli.diagnostics import doctor, verify
from citadel.cli.events import events
from citadel.cli.health import health
from citadel.cli.keys import keys
from citadel.cli.ray import ray
from citadel.cli.reload import history, reload, rollback_command
from citadel.cli.render import render
from citadel.cli.serve import gateway, serve_model
from citadel.cli.up import up
from citadel.cli.usage import usage


@click.group()
@click.version_option(__version__, prog_name="citadel")
def cli() -> None:
    """Citadel LLM server: model services, the gateway and their operations, from one config file."""


cli.add_command(up)
cli.add_command(gateway)
cli.add_command(serve_model)
cli.add_command(check)
cli.add_command(config)
cli.add_command(render)
cli.add_command(health)
cli.add_command(doctor)
cli.add_command(verify)
cli.add_command(backup)
cli.add_command(bench)
cli.add_command(keys)
cli.add_command(db)
cli.add_command(usage)
cli.add_command(cache)
cli.add_command(reload)
cli.add_command(ab)
cli.add_command(restore)
config.add_command(history)
config.add_command(rollback_command)
cli.add_command(console)
cli.add_command(events)
cli.add_command(ray)


def main() -> None:
    cli()
