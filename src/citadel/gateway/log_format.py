"""Structured logs for the gateway: one JSON object per line, with the request id when there is one."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from citadel.gateway.request_id import current_request_id

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged as a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "pid", "request_id", ...extra fields}``.

    >>> logging.getLogger("citadel").warning("down", extra={"model": "phi-3-mini"})  # doctest: +SKIP
    {"ts": "2026-01-01T00:00:00.000Z", "level": "WARNING", ..., "model": "phi-3-mini"}
    """

    converter = staticmethod(time.gmtime)  # timestamps in UTC, marked Z

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": os.getpid(),
        }
        request_id = current_request_id.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_gateway_logging(level: str, log_format: str) -> None:
    """JSON lines on stderr (``gateway.log_format: json``), or the plain lines the other processes write."""
    if log_format != "json":
        from citadel.logs import configure_logging

        configure_logging(level, "gateway")
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in ("uvicorn", "uvicorn.error"):
        # uvicorn's own handlers would print the same records again, in its format.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
