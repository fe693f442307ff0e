"""``Governance``: what the gateway calls on every request (``admit`` before, ``record`` after).

    governance = await Governance.open(settings, registry=registry)     # in the lifespan
    admission = await governance.admit(request.headers.get("authorization"), model, estimated_tokens)
    ...                                                                    # forward; add admission.headers
    governance.record(RequestLogEntry(request_id=..., key_id=admission.key_id, ...))
    await governance.aclose()                                              # flushes the request log

``admit`` raises the typed errors of :mod:`citadel.errors` (401, 403, 429, 503), which the gateway's one
error table turns into OpenAI-shaped JSON. ``record`` never blocks and never raises.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from citadel.config import CitadelSettings
from citadel.errors import (
    AuthenticationError,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    ServiceUnavailable,
)
from citadel.events.schema import BUDGET_EXHAUSTED
from citadel.governance.admission import ADMIN, ANONYMOUS, Admission, Principal
from citadel.governance.api_keys import hash_secret, redact
from citadel.governance.bearer import bearer_secret
from citadel.governance.budget import SpendLedger
from citadel.governance.costs import request_cost
from citadel.governance.directory import KeyDirectory
from citadel.governance.entry import RequestLogEntry, apply_body_policy
from citadel.governance.metrics import GovernanceMetrics
from citadel.governance.ratelimit import LimiterUnavailable, RateLimiter, TierWindows
from citadel.governance.ratelimit_memory import MemoryRateLimiter
from citadel.governance.retention import run_retention
from citadel.governance.writer import RequestLogWriter
from citadel.store.database import Database, open_database
from citadel.store.keys import KeyRecord
from citadel.store.types import utcnow
from citadel.write_behind.spill import SpillFile

if TYPE_CHECKING:
    from citadel.events.gateway import GatewayEvents

logger = logging.getLogger(__name__)


_PRINCIPALS_KEPT = 10_000  # as many as the key directory caches


def spill_directory(settings: CitadelSettings) -> Path:
    return settings.request_log.spill_dir or settings.data_dir / "request-log-spill"


def make_limiter(settings: CitadelSettings) -> RateLimiter:
    """Redis when ``redis.url`` is set (imported only then), else in-process counters."""
    if settings.redis.url:
        from citadel.governance.ratelimit_redis import RedisRateLimiter

        return RedisRateLimiter(
            settings.redis.url.get_secret_value(), timeout_s=settings.rate_limits.redis_timeout_s
        )
    return MemoryRateLimiter()


class Governance:
    """Authentication, rate limits, budgets and the request log for one gateway process."""

    def __init__(
        self,
        settings: CitadelSettings,
        database: Database,
        limiter: RateLimiter,
        metrics: GovernanceMetrics,
    ) -> None:
        self.settings = settings
        self.database = database
        self.metrics = metrics
        self.keys = KeyDirectory(database, settings.auth.key_cache_ttl_s)
        self._limiter = limiter
        self._ledger = SpendLedger(database, refresh_s=max(settings.auth.key_cache_ttl_s, 1.0))
        self._writer = RequestLogWriter(
            database, settings.request_log, SpillFile(spill_directory(settings)), metrics
        )
        self._retention: asyncio.Task[None] | None = None
        self._windows: dict[str, TierWindows] = {}
        self._principals: dict[int, tuple[KeyRecord, Principal]] = {}  # key id: (record, principal)
        self.events: GatewayEvents | None = None  # set by ``open``: where business events go

    @classmethod
    async def open(
        cls,
        settings: CitadelSettings,
        *,
        registry: CollectorRegistry | None = None,
        limiter: RateLimiter | None = None,
        events: GatewayEvents | None = None,
    ) -> Governance:
        """Open the database (migrating it), the limiter (by default from ``redis.url``) and the tasks;
        ``events`` receives the business events (budget exhausted, key changes)."""
        database = await open_database(settings.database)
        try:
            limiter = limiter if limiter is not None else make_limiter(settings)
            governance = cls(settings, database, limiter, GovernanceMetrics(registry))
            governance.events = events
        except BaseException:
            await database.aclose()
            raise
        governance._start()
        if not settings.auth.enabled:
            logger.warning("auth is off (auth.enabled: false): every request is served without an API key")
        return governance

    def _start(self) -> None:
        self._writer.start()
        self._retention = asyncio.create_task(
            run_retention(self.database, self.settings.request_log), name="citadel-retention"
        )
        self._retention.add_done_callback(_report_crash)

    async def aclose(self) -> None:
        """Stop the tasks, flush the request log (to the database or the spill file), close every client."""
        if self._retention is not None:
            self._retention.remove_done_callback(_report_crash)
            self._retention.cancel()
            await asyncio.gather(self._retention, return_exceptions=True)
        await self._writer.aclose()
        await self._limiter.aclose()
        await self.database.aclose()

    def reconfigure(self, settings: CitadelSettings) -> None:
        """Take a reloaded config's tiers, prices and auth switches (the clients stay as they are)."""
        self.settings = settings
        self._windows.clear()  # rebuilt from the new tiers on the next request

    # -- before a request -------------------------------------------------------------------------------
    async def admit(self, authorization_header: str | None, model: str, estimated_tokens: int) -> Admission:
        """Authenticate, authorise ``model``, check the budget and count the request against the rate limits.

        Raises ``AuthenticationError`` (401), ``PermissionDenied`` (403), ``QuotaExceeded`` (429
        insufficient_quota), ``RateLimited`` (429 with Retry-After) or ``ServiceUnavailable`` (503: the key
        store, or Redis with ``rate_limits.fail_open: false``, is unreachable).
        """
        if not self.settings.auth.enabled:
            return Admission(ANONYMOUS)
        try:
            principal, key = await self._authenticate(bearer_secret(authorization_header))
        except AuthenticationError:
            self.metrics.auth_failures.labels(reason="invalid_key").inc()
            raise
        if key is None:
            return Admission(principal)
        if not key.allows(model):
            self.metrics.auth_failures.labels(reason="model_not_allowed").inc()
            raise PermissionDenied(
                f"This API key is not allowed to use the model {model!r}.",
                param="model",
                code="model_not_allowed",
            )
        await self._check_budget(key)
        return Admission(principal, await self._count(key, estimated_tokens))

    async def _authenticate(self, secret: str) -> tuple[Principal, KeyRecord | None]:
        admin_key = self.settings.auth.admin_key
        if admin_key and hmac.compare_digest(secret.encode(), admin_key.get_secret_value().encode()):
            return ADMIN, None
        key = await self.keys.lookup(hash_secret(secret))
        if key is None:
            raise AuthenticationError(f"Incorrect API key provided: {redact(secret)}.")
        problem = key.problem()
        if problem is not None:
            raise AuthenticationError(f"The API key {key.prefix}**** is {problem}.")
        return self._principal(key), key

    def _principal(self, key: KeyRecord) -> Principal:
        """The caller a key is, made once per record the key directory hands out (a new one on refresh)."""
        cached = self._principals.get(key.id)
        if cached is not None and cached[0] is key:
            return cached[1]
        if len(self._principals) >= _PRINCIPALS_KEPT:
            self._principals.clear()
        principal = Principal("key", key.id, key.prefix, key.name, key.tier, key.allowed_models)
        self._principals[key.id] = (key, principal)
        return principal

    async def authenticate(self, authorization_header: str | None) -> Principal:
        """Who is calling, without counting a request: for routes such as ``/v1/models``.

        401 for a missing, unknown, revoked or expired key; anonymous when auth is off.
        """
        if not self.settings.auth.enabled:
            return ANONYMOUS
        try:
            principal, _ = await self._authenticate(bearer_secret(authorization_header))
        except AuthenticationError:
            self.metrics.auth_failures.labels(reason="invalid_key").inc()
            raise
        return principal

    async def authorize_admin(self, authorization_header: str | None) -> str:
        """The actor name for an admin API call; 401 for no or an unknown key, 403 for a normal key."""
        secret = bearer_secret(authorization_header)
        admin_key = self.settings.auth.admin_key
        if admin_key and hmac.compare_digest(secret.encode(), admin_key.get_secret_value().encode()):
            return "admin"
        key = await self.keys.lookup(hash_secret(secret))
        if key is None or key.problem() is not None:
            raise AuthenticationError(f"Incorrect API key provided: {redact(secret)}.")
        raise PermissionDenied("The admin API needs the admin key (auth.admin_key).")

    async def _check_budget(self, key: KeyRecord) -> None:
        if key.spend_limit is None:
            return
        spent = await self._ledger.spent(key, utcnow())
        if spent >= key.spend_limit:
            self.metrics.rate_limited.labels(tier=key.tier, reason="budget").inc()
            if self.events is not None:  # one event per key and day, however many requests it refuses
                day = utcnow().date().isoformat()
                self.events.business(
                    BUDGET_EXHAUSTED,
                    str(key.id),
                    {"key_id": key.id, "key_prefix": key.prefix, "spent": spent, "limit": key.spend_limit},
                    event_id=f"budget-{key.id}-{day}",
                )
            raise QuotaExceeded(
                f"You exceeded your current quota ({spent:.4f} of {key.spend_limit:.4f} this "
                f"{key.spend_period}); ask an administrator to raise the key's spend limit."
            )

    async def _count(self, key: KeyRecord, estimated_tokens: int) -> dict[str, str]:
        limits = self.settings.rate_limits
        if not limits.enabled:
            return {}
        windows = self._tier_windows(key.tier).for_request(estimated_tokens)
        if not windows:
            return {}
        try:
            decision = await self._limiter.acquire(f"key:{key.id}", windows)
        except LimiterUnavailable as exc:
            outcome = "fail_open" if limits.fail_open else "fail_closed"
            self.metrics.limiter_errors.labels(outcome=outcome).inc()
            logger.warning("rate limiter unreachable (%s): %s", outcome, exc)
            if limits.fail_open:
                return {}
            raise ServiceUnavailable(
                "The rate limiter is unavailable; try again shortly.", retry_after_s=1
            ) from exc
        if not decision.allowed:
            self.metrics.rate_limited.labels(tier=key.tier, reason="rate").inc()
            blocked = decision.windows[decision.blocked_by or 0]
            raise RateLimited(
                f"Rate limit reached for this key ({blocked.limit} {blocked.unit} per {blocked.seconds} s, "
                f"tier {key.tier}); retry in {decision.retry_after_s} s.",
                retry_after_s=decision.retry_after_s,
                headers=decision.headers(),
            )
        return decision.headers()

    def _tier_windows(self, name: str) -> TierWindows:
        """The windows of tier ``name`` (the default tier's for a tier no longer configured)."""
        windows = self._windows.get(name)
        if windows is None:
            limits = self.settings.rate_limits
            windows = TierWindows(limits.tiers.get(name) or limits.tiers[limits.default_tier])
            self._windows[name] = windows
        return windows

    # -- after a request --------------------------------------------------------------------------------
    def record(self, entry: RequestLogEntry, *, count_usage: bool = True) -> None:
        """Queue one request-log entry (cost filled in from ``prices``) and count it in the per-key usage
        metrics; never blocks, never raises.

        ``count_usage=False``: the request never reached a model (refused, unknown model); it is logged but
        not counted, so that a name a client made up never becomes a metric label.
        """
        model = entry.served_model or entry.model
        if entry.cost is None:
            prices = self.settings.prices
            entry.cost = request_cost(prices, model, entry.prompt_tokens, entry.completion_tokens)
        if count_usage:
            self._count_usage(entry, model)
        if not self.settings.request_log.enabled:
            return
        entry = apply_body_policy(entry, self.settings.request_log.bodies)
        if entry.key_id is not None and entry.cost:
            self._ledger.add(entry.key_id, entry.cost)
        self._writer.submit(entry)

    def _count_usage(self, entry: RequestLogEntry, model: str) -> None:
        key = str(entry.key_id) if entry.key_id is not None else "anonymous"
        requests, prompt_tokens, completion_tokens, cost = self.metrics.usage(key, model)
        requests.inc()
        if entry.prompt_tokens:
            prompt_tokens.inc(entry.prompt_tokens)
        if entry.completion_tokens:
            completion_tokens.inc(entry.completion_tokens)
        if entry.cost:  # the series is there from the first request on (``usage`` makes it), at 0
            cost.inc(entry.cost)

    @property
    def queued(self) -> int:
        """Request-log entries waiting for the writer."""
        return self._writer.queued


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s stopped: %r", task.get_name(), task.exception())
