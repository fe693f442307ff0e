"""``citadel restore ARCHIVE``: check every checksum, then put the database and the config back.

The archive is refused as a whole if it cannot be read, lacks its manifest, holds a file the manifest does
not list or misses one it lists, or any file's SHA-256 or size differs: nothing is restored from a damaged
archive. SQLite is written with SQLite's backup API into the configured file (stop the gateway first: its
open connections would keep the old pages); PostgreSQL is restored with ``pg_restore --clean --if-exists``
into the configured database. The config file in place is kept as ``<file>.before-restore``. Archived
assets (``--include``) stay in the archive; extract them with ``tar`` where they belong.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from contextlib import closing
from pathlib import Path
from typing import Any

from citadel.config import CitadelSettings
from citadel.ops.backup import MANIFEST
from citadel.ops.diagnostics.dependencies import sqlite_path


class RestoreError(Exception):
    """The archive is damaged or does not fit this config; nothing was restored."""


def _member_digest(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    handle = tar.extractfile(member)
    if handle is None:
        raise RestoreError(f"{member.name} is not a regular file")
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def verify_archive(archive: Path) -> dict[str, Any]:
    """The archive's manifest once every file checked out; :class:`RestoreError` says what is wrong."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {member.name: member for member in tar.getmembers() if member.isfile()}
            if MANIFEST not in members:
                raise RestoreError(f"{archive} has no {MANIFEST}: not a Citadel backup")
            manifest_file = tar.extractfile(members.pop(MANIFEST))
            assert manifest_file is not None
            manifest: dict[str, Any] = json.loads(manifest_file.read())
            listed = {entry["archived_as"]: entry for entry in manifest["files"]}
            if unlisted := sorted(set(members) - set(listed)):
                raise RestoreError(f"{archive} holds files its manifest does not list: {', '.join(unlisted)}")
            for name, entry in listed.items():
                member = members.get(name)
                if member is None:
                    raise RestoreError(f"{archive} misses {name}")
                if member.size != entry["size"] or _member_digest(tar, member) != entry["sha256"]:
                    raise RestoreError(f"{archive}: {name} does not match its checksum (damaged)")
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError, KeyError, TypeError) as exc:
        raise RestoreError(f"{archive} cannot be read ({type(exc).__name__}: {exc}): damaged") from exc
    return manifest


def _restore_sqlite(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(source)) as backup, closing(sqlite3.connect(target)) as live:
        backup.backup(live)


def _pg_restore(dump: Path, url: str) -> None:
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise RestoreError("the database is PostgreSQL but pg_restore is not installed (postgresql-client)")
    libpq_url = "postgresql://" + url.split("://", 1)[1]
    result = subprocess.run(
        [pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction", f"--dbname={libpq_url}",
         str(dump)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RestoreError(f"pg_restore failed: {result.stderr.strip()}")


def restore_backup(settings: CitadelSettings, config_path: Path, archive: Path) -> list[str]:
    """Verify ``archive``, then restore its database into the configured one and its config to
    ``config_path``; one line per thing restored."""
    manifest = verify_archive(archive)
    names = [entry["archived_as"] for entry in manifest["files"]]
    databases = [name for name in names if name.startswith("database/")]
    configs = [name for name in names if name.startswith("config/")]
    url = settings.database.url.get_secret_value()
    target = sqlite_path(url)
    lines = []
    with tempfile.TemporaryDirectory(prefix="citadel-restore-") as staging_dir:
        staging = Path(staging_dir)
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(staging, filter="data")
        for name in databases:
            if name.endswith(".pgdump"):
                if target is not None:
                    raise RestoreError(
                        "the archive holds a PostgreSQL dump but the config's database is SQLite"
                    )
                _pg_restore(staging / name, url)
                lines.append(f"database restored with pg_restore from {name}")
            else:
                if target is None:
                    raise RestoreError(
                        "the archive holds an SQLite file but the config's database is PostgreSQL"
                    )
                _restore_sqlite(staging / name, target)
                lines.append(f"database {target} restored from {name}")
        for name in configs:
            if config_path.exists():
                shutil.copyfile(config_path, config_path.with_name(config_path.name + ".before-restore"))
            shutil.copyfile(staging / name, config_path)
            lines.append(f"config {config_path} restored from {name}")
    if not databases:
        lines.append("the archive holds no database (none existed when it was made)")
    return lines
