"""The process's wiring: settings, database, channels and renderer, built lazily.

Nothing connects at import time. A worker builds its runtime from the environment
on first use; tests and the demo install their own with `use`.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from followup.config import Settings
from followup.content.render import Renderer
from followup.db import make_engine, make_session_factory
from followup.delivery.channels import DeliveryChannel, build_channels
from followup.delivery.dispatch import Clock, Dispatcher
from followup.delivery.throttle import Throttle, make_throttle
from followup.models.base import Channel, utcnow


@dataclass
class Runtime:
    settings: Settings
    channels: dict[Channel, DeliveryChannel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.channels:
            self.channels = build_channels(self.settings)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer(self.settings.templates_dir)

    @cached_property
    def pools(self) -> dict[Channel, ThreadPoolExecutor]:
        """One long-lived sender pool per channel, so connections are reused."""
        return {
            kind: ThreadPoolExecutor(channel.concurrency, thread_name_prefix=f"send-{kind.value}")
            for kind, channel in self.channels.items()
        }

    @cached_property
    def sms_throttle(self) -> Throttle:
        return make_throttle(self.settings.sms_rate, self.settings.redis_url)

    def dispatcher(self, clock: Clock = utcnow) -> Dispatcher:
        return Dispatcher(
            sessions=self.sessions,
            settings=self.settings,
            channels=self.channels,
            renderer=self.renderer,
            pools=dict(self.pools),
            throttles={Channel.SMS: self.sms_throttle},
            clock=clock,
        )

    def close(self) -> None:
        if "pools" in self.__dict__:
            for pool in self.pools.values():
                pool.shutdown()
        if "engine" in self.__dict__:
            self.engine.dispose()


class LazyRuntime:
    """A runtime built from the environment on first use, so `--help` never needs
    settings; the CLI's context object."""

    _runtime: Runtime | None = None

    def get(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime(Settings.from_env())
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


_lock = threading.Lock()
_current: Runtime | None = None


def current() -> Runtime:
    global _current
    with _lock:
        if _current is None:
            _current = Runtime(Settings.from_env())
        return _current


def use(runtime: Runtime | None) -> None:
    """Install `runtime` for this process (None: rebuild from the environment)."""
    global _current
    with _lock:
        if _current is not None and _current is not runtime:
            _current.close()
        _current = runtime
