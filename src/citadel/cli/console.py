"""``citadel console``: the admin web console's users (``add-user``, ``users``).

The password comes from ``--password-env`` (the name of an environment variable holding it) or a prompt;
never from the command line, where ``ps`` would show it.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from citadel.cli.keys import actor, run_with_database
from citadel.cli.options import config_option, load_or_exit
from citadel.live.console.accounts import ROLES, create_user, list_users


@click.group("console")
def console() -> None:
    """Users of the admin web console at /ui."""


@console.command("add-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--password-env", metavar="NAME", help="Read the password from this environment variable.")
@config_option
def add_user(username: str, role: str, password_env: str | None, config_path: Path) -> None:
    """Create console user USERNAME with ROLE (viewer, operator or admin)."""
    settings = load_or_exit(config_path)
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise click.ClickException(f"environment variable {password_env} is not set")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = run_with_database(settings, lambda db: create_user(db, username, password, role, actor=actor()))
    click.echo(f"created console user {user.username} ({user.role})")


@console.command("users")
@config_option
def users(config_path: Path) -> None:
    """List the console's users."""
    settings = load_or_exit(config_path)
    for row in run_with_database(settings, list_users):
        state = "disabled" if row["disabled"] else "active"
        click.echo(f"{row['username']}\t{row['role']}\t{state}\t{row['created_at']}")
