"""``citadel backup``: config, rendered assets and the database in one archive (restore: see the runbook)."""

from __future__ import annotations

from pathlib import Path

import click

from citadel.cli.options import config_option, load_or_exit
from citadel.ops.backup import BackupError, create_backup


@click.command("backup")
@config_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("backup"),
    show_default=True,
    help="Folder the archive is written to.",
)
@click.option(
    "--include",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Also archive this file or folder, e.g. the rendered assets (repeatable).",
)
def backup(config_path: Path, out_dir: Path, include: tuple[Path, ...]) -> None:
    """Archive the config, --include paths and the database (SQLite copy or pg_dump), with checksums."""
    settings = load_or_exit(config_path)
    try:
        archive = create_backup(settings, config_path, out_dir, list(include))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {archive}")
