"""Worker processes for the benchmarks, as `celery worker -c N` would run send tasks."""

from __future__ import annotations

from followup.config import Settings
from followup.runtime import Runtime

_runtime: Runtime | None = None


def start_worker(settings: Settings) -> None:
    """Pool initializer: one runtime (database, channels, sender pools) per process."""
    global _runtime
    _runtime = Runtime(settings)


def send_batch(message_ids: list[int]) -> int:
    """Send one claimed batch in this worker; returns how many were sent."""
    if _runtime is None:
        raise RuntimeError("worker not started")
    return _runtime.dispatcher().send_batch(message_ids).sent
