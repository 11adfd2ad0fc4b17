"""Rate limits on the public links and the staff API, counted in Redis.

Links in patients' emails and staff notifications are counted per client address;
the API per token. Over the limit: 429 with `Retry-After`. The counters live in Redis,
shared by every web process (in memory without one, for the embedded default). When
Redis cannot be reached the request goes through: a patient's answer must not be lost
to our own outage.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from limits import RateLimitItem, parse
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from redis import RedisError
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from followup.config import Settings
from followup.exceptions import ConfigurationError

log = logging.getLogger(__name__)
LINKS = ("/r/", "/u/", "/x/", "/d/", "/m/", "/a/", "/console/set-password/")
API = "/api/"


def counters(settings: Settings) -> Storage:
    """Where limits are counted: Redis when there is one, shared by every process."""
    try:
        if settings.redis_url:
            # A slow Redis must not hold the event loop: a second, then let it through.
            found = storage_from_string(
                settings.redis_url, socket_timeout=1, socket_connect_timeout=1
            )
        else:
            found = storage_from_string("memory://")
    except LimitsConfigurationError as exc:
        raise ConfigurationError(f"rate limits: {exc}") from exc
    if not isinstance(found, Storage):  # the asyncio storages have other URL schemes
        raise ConfigurationError(f"rate limits: {settings.redis_url!r} is not a Redis URL")
    return found


class RateLimit:
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        # Both read already when the settings were checked.
        self.links = parse(settings.rate_limit_links)
        self.api = parse(settings.rate_limit_api)
        self.limiter = FixedWindowRateLimiter(counters(settings))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        counted = self._counted(scope) if scope["type"] == "http" else None
        if counted is not None:
            limit, key = counted
            wait = self._wait(limit, key)
            if wait:
                response = PlainTextResponse(
                    "too many requests; try again later",
                    status_code=429,
                    headers={"Retry-After": str(wait)},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _counted(self, scope: Scope) -> tuple[RateLimitItem, str] | None:
        path: str = scope["path"]
        if path.startswith(LINKS):
            client = scope.get("client") or ("unknown", 0)
            return self.links, f"links:{client[0]}"
        if path.startswith(API):
            token = Headers(scope=scope).get("authorization", "")
            # Counted per token, not per address; the token itself is never stored.
            return self.api, "api:" + hashlib.sha256(token.encode()).hexdigest()[:32]
        return None

    def _wait(self, limit: RateLimitItem, key: str) -> int:
        """0 if the request may go on (and count it), else seconds until it may."""
        try:
            if self.limiter.hit(limit, key):
                return 0
            reset = self.limiter.get_window_stats(limit, key).reset_time
        except RedisError as exc:
            log.warning("rate limits not counted, Redis unreachable: %s", type(exc).__name__)
            return 0
        return max(1, math.ceil(reset - time.time()))
