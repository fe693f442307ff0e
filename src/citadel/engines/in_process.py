"""Serving one of Citadel's own model-service apps in this process with uvicorn."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from citadel.config import CitadelSettings, LocalModelSettings
from citadel.engines.service_control import DropReportedFailures, ServiceControl


def run_app(
    make_app: Callable[[ServiceControl], FastAPI], settings: CitadelSettings, model: LocalModelSettings
) -> None:
    """Serve the app on the model's host and port until SIGINT/SIGTERM or until the app gives up.

    An app that gives up (its self-test failed, its engine died) sets its exit code on the
    :class:`ServiceControl`; the process then exits with it, so that the supervisor (or systemd) knows
    whether restarting can help.
    """
    control = ServiceControl()
    config = uvicorn.Config(
        make_app(control),
        host=model.host,
        port=model.port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    server = uvicorn.Server(config)
    control.bind(lambda: setattr(server, "should_exit", True))  # a flag its main loop polls
    reported = DropReportedFailures()
    logging.getLogger("uvicorn.error").addFilter(reported)
    try:
        server.run()
    finally:
        logging.getLogger("uvicorn.error").removeFilter(reported)
    if control.exit_code:
        sys.exit(control.exit_code)
    if not server.started:
        sys.exit(1)  # start-up failed for a reason uvicorn logged (as uvicorn.run does)
