"""The Celery app factory, and the worker's start-up check of Redis."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready

from followup.config import Settings
from followup.runtime import Runtime, use

log = logging.getLogger(__name__)


def create_celery(settings: Settings, runtime: Runtime | None = None) -> Celery:
    """A Celery app for `settings`; with no Redis URL, tasks run in-process (eager)."""
    app = Celery("followup")
    app.config_from_object("celeryconfig")
    if settings.eager:
        app.conf.update(
            broker_url="memory://localhost/", task_always_eager=True, task_eager_propagates=True
        )
    else:
        app.conf.update(broker_url=settings.redis_url)
    app.autodiscover_tasks(["followup"], force=True)
    app.set_default()
    use(runtime or Runtime(settings))
    return app


def redis_eviction_warning(url: str) -> str | None:
    """A warning if Redis may evict keys, which would silently drop queued tasks."""
    client = redis.Redis.from_url(url)
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    except redis.RedisError as exc:
        return f"could not read Redis maxmemory-policy: {exc}"
    finally:
        client.close()
    if policy != "noeviction":
        return (
            f"Redis maxmemory-policy is {policy!r}: under memory pressure it may evict "
            "queued tasks; set it to 'noeviction'"
        )
    return None


@worker_ready.connect
def _check_redis(sender: Any = None, **_: Any) -> None:
    url = sender.app.conf.broker_url if sender is not None else ""
    if url.startswith("redis"):
        warning = redis_eviction_warning(url)
        if warning:
            log.warning(warning)
