"""``citadel backup``: one tar.gz with the config, rendered assets and the database, plus a manifest.

SQLite is copied with SQLite's online backup API (consistent while the gateway writes); PostgreSQL is dumped
with ``pg_dump --format=custom`` (restore with ``pg_restore``). Restoring is documented in docs/operations.md.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from citadel.config import CitadelSettings
from citadel.ops.diagnostics.dependencies import sqlite_path

MANIFEST = "MANIFEST.json"


class BackupError(Exception):
    """The backup cannot be made; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class BackupEntry:
    archived_as: str
    sha256: str
    size: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_sqlite(source: Path, target: Path) -> None:
    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as live,
        closing(sqlite3.connect(target)) as copy,
    ):
        live.backup(copy)


def _pg_dump(url: str, target: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError(
            "the database is PostgreSQL but pg_dump is not installed (apt-get install postgresql-client)"
        )
    # libpq does not know SQLAlchemy's driver suffix (postgresql+asyncpg://).
    libpq_url = "postgresql://" + url.split("://", 1)[1]
    result = subprocess.run(
        [pg_dump, "--format=custom", f"--file={target}", libpq_url],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")


def _stage_database(settings: CitadelSettings, staging: Path) -> Path | None:
    """A consistent copy of the database in ``staging``; None for an SQLite file not created yet."""
    url = settings.database.url.get_secret_value()
    sqlite = sqlite_path(url)
    if sqlite is not None:
        if not sqlite.is_file():
            return None
        target = staging / "database" / sqlite.name
        target.parent.mkdir(parents=True)
        _copy_sqlite(sqlite, target)
        return target
    target = staging / "database" / "citadel.pgdump"
    target.parent.mkdir(parents=True)
    _pg_dump(url, target)
    return target


def create_backup(settings: CitadelSettings, config_path: Path, out_dir: Path, extra: list[Path]) -> Path:
    """Write ``citadel-backup-<UTC time>.tar.gz`` into ``out_dir``; return its path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"citadel-backup-{stamp}.tar.gz"
    entries: list[tuple[Path, str]] = [(config_path, f"config/{config_path.name}")]
    for path in extra:
        if not path.exists():
            raise BackupError(f"{path} does not exist")
        entries.append((path, f"assets/{path.name}"))
    with tempfile.TemporaryDirectory(prefix="citadel-backup-") as staging_dir:
        database = _stage_database(settings, Path(staging_dir))
        if database is not None:
            entries.append((database, f"database/{database.name}"))
        manifest = [
            asdict(BackupEntry(archived_as, _sha256(file), file.stat().st_size))
            for path, name in entries
            for file, archived_as in _files_under(path, name)
        ]
        manifest_path = Path(staging_dir) / MANIFEST
        manifest_path.write_text(
            json.dumps({"created": stamp, "config": str(config_path), "files": manifest}, indent=2),
            encoding="utf-8",
        )
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(manifest_path, arcname=MANIFEST)
            for path, name in entries:
                tar.add(path, arcname=name)
    return archive


def _files_under(path: Path, name: str) -> list[tuple[Path, str]]:
    """Every file of ``path`` (itself, or a folder's files) with its name inside the archive."""
    if path.is_file():
        return [(path, name)]
    return [(file, f"{name}/{file.relative_to(path)}") for file in sorted(path.rglob("*")) if file.is_file()]
