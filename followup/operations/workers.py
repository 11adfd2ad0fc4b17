"""Workers seen recently: each worker's main process writes its name and the time to
a Redis sorted set every few seconds; readiness and /metrics read who wrote lately.

Redis, not the database: a heartbeat is about the worker reaching the broker it takes
its tasks from, and losing the set when Redis restarts loses nothing (the next beats
write it again).
"""

from __future__ import annotations

import time

import redis

KEY = "followup:workers"
# How often a worker writes; a worker unseen for several of these is gone.
INTERVAL = 10.0
# Names older than this are dropped from the set when it is read.
FORGET_AFTER = 3600.0


def heartbeat(client: redis.Redis, hostname: str) -> None:
    client.zadd(KEY, {hostname: time.time()})


def seen_within(client: redis.Redis, seconds: float) -> list[str]:
    """The workers that wrote in the last `seconds`."""
    now = time.time()
    client.zremrangebyscore(KEY, "-inf", now - FORGET_AFTER)
    names = client.zrangebyscore(KEY, now - seconds, "+inf")
    return sorted(name.decode() if isinstance(name, bytes) else str(name) for name in names)
