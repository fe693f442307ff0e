"""``citadel backup`` (config, assets and database in one archive, pruned by the retention policy) and
``citadel restore ARCHIVE`` (checksums verified first)."""

from __future__ import annotations

from pathlib import Path

import click

from citadel.cli.options import config_option, load_or_exit
from citadel.ops.backup import BackupError, create_backup
from citadel.ops.backup_retention import prune_backups
from citadel.ops.restore import RestoreError, restore_backup


@click.command("backup")
@config_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder the archive is written to (default: backup.dir, else <data_dir>/backups).",
)
@click.option(
    "--include",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Also archive this file or folder, e.g. the rendered assets (repeatable; adds to backup.include).",
)
@click.option(
    "--prune",
    is_flag=True,
    envvar="CITADEL_BACKUP_PRUNE",
    help="Then delete the archives backup.keep_daily/weekly/monthly do not keep (the timer does).",
)
def backup(config_path: Path, out_dir: Path | None, include: tuple[Path, ...], prune: bool) -> None:
    """Archive the config, --include paths and the database (SQLite copy or pg_dump), with checksums."""
    settings = load_or_exit(config_path)
    directory = out_dir or settings.backup.dir or settings.data_dir / "backups"
    try:
        archive = create_backup(settings, config_path, directory, [*settings.backup.include, *include])
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {archive}")
    if prune:
        for removed in prune_backups(directory, settings.backup):
            click.echo(f"pruned {removed}")


@click.command("restore")
@click.argument("archive", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@config_option
def restore(archive: Path, config_path: Path) -> None:
    """Verify ARCHIVE's checksums, then restore its database into the configured one and its config file.

    Stop the gateway and model services first (citadel up, or systemctl stop citadel-llm.target)."""
    settings = load_or_exit(config_path)
    try:
        lines = restore_backup(settings, config_path, archive)
    except RestoreError as exc:
        raise click.ClickException(f"{exc}; nothing was restored") from exc
    for line in lines:
        click.echo(line)
