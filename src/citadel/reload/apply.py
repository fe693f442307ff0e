"""Applying a config: validate it, diff it against the running one, switch every gateway worker, record it.

    reloader = Reloader(database, run_dir(settings))
    outcome = await reloader.apply(Attempt(actor="cli", source="cli", config_path=..., config_text=...))
    print("\\n".join(outcome.lines()))

The running config is the one in ``run/reload.json`` (what the workers run). An invalid config is refused
with the same ``key.path: problem`` lines as ``citadel config validate`` and changes nothing. A valid one
goes to the model services first when ``citadel up`` runs them (a :class:`Fleet`: new ones must pass their
health checks, or the previous config stays and the file is put back), then to every gateway worker; the
keys only a restart applies are named. Every attempt is a version in the history; each listener (e.g. the
business-events sink, once it exists) is told of every applied change.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from citadel.config import CitadelSettings, ConfigError
from citadel.config.loader import settings_from_text
from citadel.reload.changes import diff_settings, restart_needed
from citadel.reload.fleet import FleetFailed
from citadel.reload.history import (
    APPLIED,
    FAILED,
    REFUSED,
    ROLLED_BACK,
    Attempt,
    record_version,
)
from citadel.reload.services import service_changes
from citadel.reload.state import AppliedState, live_workers, read_state, wait_for_acks, write_state
from citadel.store.database import Database

logger = logging.getLogger(__name__)

UNCHANGED = "unchanged"


class Fleet(Protocol):
    """The model services a reload may start and stop (``citadel up``'s; see :mod:`citadel.reload.fleet`)."""

    async def prepare(
        self, running: CitadelSettings, new: CitadelSettings, moved: dict[str, str]
    ) -> dict[str, str]: ...

    async def commit(self) -> list[str]: ...

    async def abort(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What a reload did; ``lines()`` for people, ``as_dict()`` for the admin API."""

    result: str
    version: int | None = None
    diff: list[str] = field(default_factory=list)
    restart_needed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    detail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result in (APPLIED, UNCHANGED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "version": self.version,
            "diff": self.diff,
            "restart_needed": self.restart_needed,
            "problems": self.problems,
            "detail": self.detail,
        }

    def lines(self) -> list[str]:
        head = {
            APPLIED: f"config version {self.version} applied",
            UNCHANGED: "config unchanged: nothing to apply",
            REFUSED: "config refused, nothing changed",
            ROLLED_BACK: f"config version {self.version} rolled back: the previous config stays",
            FAILED: f"config version {self.version} not taken by every gateway worker",
        }[self.result]
        lines = [head, *self.problems, *(f"  {line}" for line in self.diff), *self.detail]
        if self.restart_needed:
            lines.append("needs a restart to change: " + ", ".join(self.restart_needed))
        return lines


Listener = Callable[[ReloadOutcome, Attempt], None]


class Reloader:
    """Applies configs to the gateway workers of one data directory (and to a :class:`Fleet`)."""

    def __init__(
        self,
        database: Database,
        run_directory: Path,
        *,
        ack_timeout_s: float = 15.0,
        listeners: list[Listener] | None = None,
        owner_pid: int | None = None,
    ) -> None:
        self._database = database
        self._run_dir = run_directory
        self._ack_timeout_s = ack_timeout_s
        self.listeners: list[Listener] = listeners if listeners is not None else []
        self._owner_pid = owner_pid

    def running(self, config_path: Path) -> CitadelSettings | None:
        """The config the workers run now (None before any gateway wrote its baseline)."""
        current = read_state(self._run_dir)
        if current is None:
            return None
        try:
            return settings_from_text(current.config_text, config_path)
        except ConfigError:  # e.g. the environment changed since: diff against nothing
            return None

    async def apply(self, attempt: Attempt, *, fleet: Fleet | None = None) -> ReloadOutcome:
        path = Path(attempt.config_path)
        try:
            new = settings_from_text(attempt.config_text, path)
        except ConfigError as exc:
            problems = [f"{line}" for line in exc.problems]
            version = await record_version(self._database, attempt, diff=[], result=REFUSED, detail=problems)
            return ReloadOutcome(REFUSED, version.id, problems=problems)
        current = read_state(self._run_dir)
        running = self.running(path)
        diff = diff_settings(running, new) if running is not None else ["(no running config known)"]
        if running is not None and not diff:
            return ReloadOutcome(UNCHANGED)
        if current is not None and current.version is None:
            current = await self._record_baseline(current)
        moved = dict(current.moves()) if current is not None else {}
        detail: list[str] = []
        if fleet is not None:
            try:
                moved = await fleet.prepare(running or new, new, moved)
            except FleetFailed as exc:
                await fleet.abort()
                problems = [str(exc), *self._put_back(path, attempt, current)]
                version = await record_version(
                    self._database, attempt, diff=diff, result=ROLLED_BACK, detail=problems
                )
                return ReloadOutcome(ROLLED_BACK, version.id, diff, problems=problems)
        elif running is not None:
            detail += [
                f"{line}: not run by citadel up, restart it yourself"
                for line in service_changes(running, new).lines()
            ]
        behind = await self._switch(attempt, current, moved)
        if fleet is not None:
            detail += await fleet.commit()
        if not live_workers(self._run_dir):
            detail.append("no gateway worker runs now: the next start reads the config file")
        if behind:
            detail.append(
                f"gateway workers (pid) that did not take it within {self._ack_timeout_s:.0f} s: "
                + ", ".join(map(str, behind))
            )
        later = restart_needed(diff) if running is not None else []
        result = FAILED if behind else APPLIED
        noted = [*detail, *(f"restart needed: {key}" for key in later)]
        version = await record_version(self._database, attempt, diff=diff, result=result, detail=noted)
        self._note_version(version.id)
        outcome = ReloadOutcome(result, version.id, diff, later, detail=detail)
        if result == APPLIED:
            self._notify(outcome, attempt)
        return outcome

    async def _record_baseline(self, current: AppliedState) -> AppliedState:
        """The config the gateway started with becomes a version too, so a rollback can go back to it."""
        attempt = Attempt("gateway", "start", current.config_path, current.config_text)
        version = await record_version(self._database, attempt, diff=[], result=APPLIED, detail=[])
        noted = dataclasses.replace(current, version=version.id)
        write_state(self._run_dir, noted)
        return noted

    def _note_version(self, version_id: int) -> None:
        """The state names the version it applied (the workers see the same generation and do nothing)."""
        current = read_state(self._run_dir)
        if current is not None:
            write_state(self._run_dir, dataclasses.replace(current, version=version_id))

    async def _switch(
        self, attempt: Attempt, current: AppliedState | None, moved: dict[str, str]
    ) -> list[int]:
        """Write the next generation and wait for every worker to take it; the pids that did not."""
        generation = current.generation + 1 if current is not None else 1
        write_state(
            self._run_dir,
            AppliedState(
                generation,
                attempt.config_path,
                attempt.config_text,
                gateway_pid=current.gateway_pid if current is not None else None,
                moved=moved,
                owner_pid=self._owner_pid,
            ),
        )
        return await wait_for_acks(self._run_dir, generation, timeout_s=self._ack_timeout_s)

    @staticmethod
    def _put_back(path: Path, attempt: Attempt, current: AppliedState | None) -> list[str]:
        """After a rollback the file says what runs again; the refused text is kept next to it."""
        if current is None:
            return []
        try:
            if path.read_text(encoding="utf-8") != attempt.config_text:
                return []  # edited again meanwhile: leave it
            rejected = path.with_name(path.name + ".rejected")
            rejected.write_text(attempt.config_text, encoding="utf-8")
            path.write_text(current.config_text, encoding="utf-8")
        except OSError as exc:
            return [f"could not put the previous config back into {path}: {exc.strerror}"]
        return [f"{path} holds the previous config again; the refused one is in {rejected}"]

    def _notify(self, outcome: ReloadOutcome, attempt: Attempt) -> None:
        for listener in self.listeners:
            try:
                listener(outcome, attempt)
            except Exception:  # a listener's bug must not turn an applied config into a failed reload
                logger.exception("config change listener %r failed", listener)
