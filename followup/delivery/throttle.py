"""One send rate per sender, shared by every worker and process through Redis.

Celery's `rate_limit` is per worker; a carrier's limit is per sending number. A token
bucket lives in Redis and one Lua script takes a token atomically, so any number of
workers together stay within the rate. Without Redis (the embedded default) the
bucket lives in the process. When Redis is down, texts are held back, not attempted.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis

from followup.exceptions import HeldBackError

# KEYS[1]: the bucket. ARGV: rate (tokens/s), burst (max tokens), now (ms).
# Returns 0 when a token was taken, else the milliseconds until one is due.
TAKE_TOKEN = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""


def ceiling(rate: float, channel: str) -> float | None:
    """The most messages a second the sender can send on `channel` ("sms", "email" or
    "preferred", which may text) at the global `rate`: None when unlimited (email, or
    rate 0). A campaign's own rate is bounded by it."""
    if channel == "email" or rate <= 0:
        return None
    return rate


class Throttle(Protocol):
    def acquire(self, sender: str) -> None:
        """Block until `sender` may send one more message."""
        ...


class Unlimited:
    def acquire(self, sender: str) -> None:
        return None


def make_throttle(rate: float, redis_url: str) -> Throttle:
    """No limit for rate 0; Redis shared by all workers when there is a broker."""
    if rate <= 0:
        return Unlimited()
    if redis_url:
        client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        return RedisTokenBucket(client, rate=rate)
    return LocalTokenBucket(rate=rate)


class RedisTokenBucket:
    def __init__(self, client: redis.Redis, *, rate: float, burst: float | None = None) -> None:
        self.client = client
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._take = client.register_script(TAKE_TOKEN)

    def acquire(self, sender: str) -> None:
        """Raises `HeldBackError` when Redis cannot be reached: nothing was sent."""
        try:
            while (wait_ms := self.try_take(sender, now_ms=_now_ms())) > 0:
                time.sleep(wait_ms / 1000)
        except redis.RedisError as exc:
            raise HeldBackError(f"the rate limiter is unreachable: {type(exc).__name__}") from exc

    def try_take(self, sender: str, *, now_ms: int) -> int:
        """Take a token if one is there: 0, else the milliseconds until one is."""
        return int(
            self._take(keys=[f"followup:rate:{sender}"], args=[self.rate, self.burst, now_ms])
        )


class LocalTokenBucket:
    """The same bucket for a single process (embedded mode, no Redis)."""

    def __init__(self, *, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, sender: str) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                tokens, at = self._tokens.get(sender, (self.burst, now))
                tokens = min(self.burst, tokens + (now - at) * self.rate)
                wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
                self._tokens[sender] = (tokens - 1 if wait == 0 else tokens, now)
            if wait == 0:
                return
            time.sleep(wait)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
