"""``citadel gateway`` and ``citadel serve-model NAME``: run one service in the foreground."""

from __future__ import annotations

import os
from pathlib import Path

import click
import uvicorn

from citadel.cli.options import config_option, load_or_exit
from citadel.config import CitadelSettings, LocalModel
from citadel.config.loader import CONFIG_ENV_VAR
from citadel.engines import get_engine
from citadel.engines.local import find_service
from citadel.engines.remote import RemoteModelError
from citadel.log_files import add_log_file
from citadel.logs import configure_logging


@click.command("gateway")
@config_option
def gateway(config_path: Path) -> None:
    """Run the OpenAI-compatible gateway in the foreground."""
    from citadel.gateway.http_protocol import GatewayProtocol
    from citadel.gateway.log_format import configure_gateway_logging
    from citadel.gateway.multiprocess import shared_metrics_dir

    settings = load_or_exit(config_path)
    options = settings.gateway
    configure_gateway_logging(settings.log_level, options.log_format)
    add_log_file(settings.log_files, "gateway")  # with several workers: the parent's lines only
    if options.workers == 1:
        from citadel.gateway.app import create_gateway_app

        app = create_gateway_app(settings, config_path=config_path.resolve())
        uvicorn.run(
            app,
            host=options.host,
            port=options.port,
            log_level=settings.log_level.lower(),
            access_log=False,
            log_config=None,  # keep the gateway's log format for uvicorn's lines too
            http=GatewayProtocol,
        )
        return
    # Several workers: each imports the app through the factory, which reads the same config path, and
    # writes its metrics to one shared directory so that /metrics on any worker counts them all.
    os.environ[CONFIG_ENV_VAR] = str(config_path.resolve())
    with shared_metrics_dir():
        uvicorn.run(
            "citadel.gateway.app:gateway_app_from_environment",
            factory=True,
            host=options.host,
            port=options.port,
            workers=options.workers,
            log_level=settings.log_level.lower(),
            access_log=False,
            log_config=None,
            http=GatewayProtocol,
        )


def with_threads(settings: CitadelSettings, model_name: str, threads: int) -> CitadelSettings:
    """``settings`` with ``threads`` engine threads for ``model_name`` (engines read ``model.threads``)."""
    models = [
        model.model_copy(update={"threads": threads}) if model.name == model_name else model
        for model in settings.models
    ]
    return settings.model_copy(update={"models": models})


@click.command("serve-model")
@click.argument("name")
@config_option
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    envvar="CITADEL_SERVE_THREADS",
    help="Engine threads, instead of the model's `threads` (citadel up passes its core budget).",
)
@click.option(
    "--port",
    type=click.IntRange(min=1, max=65535),
    help="Listen here instead (a rolling replacement starts next to the service it replaces).",
)
def serve_model(name: str, config_path: Path, threads: int | None, port: int | None) -> None:
    """Run the model service NAME in the foreground (built-in engine or vLLM, by its backend).

    NAME is a model (served at its own port) or ``MODEL:PORT``, a further replica of it on this machine.
    """
    settings = load_or_exit(config_path)
    if threads is not None:
        settings = with_threads(settings, name.partition(":")[0], threads)
    try:
        model = settings.model(name.partition(":")[0])
        target = find_service(settings, name).settings if ":" in name else model
        if port is not None:
            target = target.model_copy(update={"port": port})
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from exc
    if isinstance(target, LocalModel) and target.ray is not None:
        raise click.UsageError(
            f"model {target.name!r} is placed on Ray: Ray Serve runs its replicas (citadel ray deploy)"
        )
    configure_logging(settings.log_level, f"model:{name}")
    add_log_file(settings.log_files, f"model-{name}")
    try:
        get_engine(target.backend).serve(settings, target)
    except RemoteModelError as exc:
        raise click.UsageError(str(exc)) from exc
