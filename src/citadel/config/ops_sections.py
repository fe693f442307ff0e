"""``backup:`` and ``log_files:``: the scheduled backups and the log files Citadel writes itself.

backup:
  schedule: daily          # systemd OnCalendar= of citadel-llm-backup.timer
  dir: /opt/citadel/backup # default: <data_dir>/backups
  keep_daily: 7            # after each scheduled backup, older archives are pruned to these
  keep_weekly: 4
  keep_monthly: 6
log_files:
  dir: /var/log/citadel-llm  # default: none, logs go to stderr (the journal) only
  max_bytes: 104857600       # rotate a file at this size
  keep: 5                    # rotated files kept per process
  max_age_days: 30           # rotated files older than this are deleted
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from citadel.config.base import Section


class BackupSettings(Section):
    schedule: str = Field(
        default="daily", min_length=1, description="When the backup timer runs (systemd OnCalendar=)."
    )
    dir: Path | None = Field(default=None, description="Where archives go; default <data_dir>/backups.")
    include: list[Path] = Field(default_factory=list, description="Further files or folders archived.")
    keep_daily: int = Field(default=7, ge=0, description="Newest archive of each of the last N days.")
    keep_weekly: int = Field(default=4, ge=0, description="Newest archive of each of the last N weeks.")
    keep_monthly: int = Field(default=6, ge=0, description="Newest archive of each of the last N months.")


class LogFileSettings(Section):
    dir: Path | None = Field(
        default=None, description="Also write each process's log to <dir>/<process>.log."
    )
    max_bytes: int = Field(default=100 * 1024**2, ge=1024, description="Rotate a log file at this size.")
    keep: int = Field(default=5, ge=1, description="Rotated files kept per process.")
    max_age_days: float | None = Field(default=30, gt=0, description="Delete rotated files older than this.")
