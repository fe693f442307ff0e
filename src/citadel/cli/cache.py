"""``citadel cache clear [--model M]``: empties the response cache.

With Redis (``redis.url``) the entries are deleted there directly. The in-process cache lives inside the
gateway's worker processes, so without Redis the command asks the running gateway to clear it through
``POST /admin/cache/clear`` with the admin key (``auth.admin_key``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import httpx

from citadel.cache.backend import CacheBackendError, backend_name
from citadel.cache.service import ResponseCache
from citadel.cli.options import config_option, load_or_exit
from citadel.config import CitadelSettings
from citadel.ops.render.assets import gateway_url


async def _clear_backend(settings: CitadelSettings, model: str | None) -> int:
    cache = await ResponseCache.open(settings)
    try:
        return await cache.clear(model)
    finally:
        await cache.aclose()


def _clear_in_gateway(settings: CitadelSettings, model: str | None) -> int:
    url = f"{gateway_url(settings)}/admin/cache/clear"
    headers = (
        {"authorization": f"Bearer {settings.auth.admin_key.get_secret_value()}"}
        if settings.auth.admin_key
        else {}
    )
    try:
        answer = httpx.post(url, json={"model": model}, headers=headers, timeout=10.0)
    except httpx.HTTPError as exc:
        raise click.ClickException(
            "the response cache is in-process (redis.url is not set): it lives in the gateway, which "
            f"could not be reached at {url} ({type(exc).__name__}); a stopped gateway has no cache to clear"
        ) from exc
    if answer.status_code != 200:
        raise click.ClickException(f"{url} answered {answer.status_code}: {answer.text[:300]}")
    cleared: int = answer.json()["cleared"]
    return cleared


@click.group("cache")
def cache() -> None:
    """The response cache."""


@cache.command("clear")
@config_option
@click.option("--model", default=None, envvar="CITADEL_CACHE_MODEL", help="Only this model's entries.")
def clear(config_path: Path, model: str | None) -> None:
    """Delete cached answers (all, or one model's)."""
    settings = load_or_exit(config_path)
    if backend_name(settings) == "redis":
        try:
            cleared = asyncio.run(_clear_backend(settings, model))
        except CacheBackendError as exc:
            raise click.ClickException(str(exc)) from exc
        where = "redis"
    else:
        cleared = _clear_in_gateway(settings, model)
        where = "the gateway's in-process cache (the worker that answered)"
    scope = f"model {model}" if model else "all models"
    click.echo(f"cleared {cleared} cached answer(s) of {scope} from {where}")
