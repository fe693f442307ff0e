"""How a service's lifespan tells the process running it to stop, with which exit code, and why.

The apps do not know uvicorn's server; :func:`citadel.engines.in_process.run_app` binds a stop function to
the :class:`ServiceControl` it hands the app, and after the server returns, exits with the code set here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class ReportedFailure(Exception):
    """A start-up failure already logged in one line; uvicorn's repeat of it (a traceback) is dropped."""


class ServiceControl:
    """Set by the app (any thread), read by the process runner and by ``/health``."""

    def __init__(self) -> None:
        self.exit_code = 0
        self.failure: str | None = None  # why the service can no longer serve (``/health`` says 503)
        self._stop: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def bind(self, stop: Callable[[], None]) -> None:
        """``stop`` asks the server to shut down; it may be called from any thread."""
        self._stop = stop

    def fail(self, exit_code: int, reason: str) -> None:
        """The service cannot go on: answer 503 from now on, shut down, and exit with ``exit_code``."""
        with self._lock:
            if self.failure is not None:
                return  # the first reason is the one worth reporting
            self.failure, self.exit_code = reason, exit_code
        if self._stop is not None:
            self._stop()


class DropReportedFailures(logging.Filter):
    """Drops uvicorn's traceback of a :class:`ReportedFailure`: its one line is already in the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return ReportedFailure.__name__ not in record.getMessage()
