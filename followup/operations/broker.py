"""kombu's Redis transport, with one fix: a worker survives Redis restarting while a
task is unacknowledged.

What happens without it (Celery 5.7, kombu 5.7, redis-py 8.1; the fault suite's
"Redis restarted under a long batch" shows it): the connection drops while a send
batch runs; Celery collects the broken connection, which detaches it from its
transport (`transport.client = None`), and then closes it. Closing the channel
restores the unacknowledged task ("Restoring 1 unacknowledged message(s)") through a
new connection pool, whose parameters it reads from the detached client:
`AttributeError: 'NoneType' object has no attribute 'hostname'`, which Celery does
not count among connection errors, so the worker stops ("Unrecoverable error").

The same detached channel fails again when the batch, still running in a child
process, finishes after the worker reconnected: its acknowledgement goes through the
old channel. A connection already collected can neither restore nor acknowledge:
Redis was unreachable a moment ago, and after a restart without persistence the
message is gone anyway. So both skip Redis and only settle the channel's own
bookkeeping. Nothing is lost or sent twice: a message Redis kept is delivered again
after `visibility_timeout`, and finds its rows already settled (every state change is
conditional); the rows a task held carry their own leases, which the next dispatch
tick recovers (`followup.delivery.leases`).
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis, virtual

log = logging.getLogger(__name__)


class QoS(redis.QoS):
    def _detached(self) -> bool:
        """True once Celery collected the connection this channel belongs to."""
        transport = self.channel.connection
        return transport is None or transport.client is None

    def restore_unacked(self, client: Any = None) -> None:
        if client is None and self._detached():
            log.warning(
                "broker connection already closed: %d unacknowledged task(s) left to the "
                "broker's visibility timeout and the rows' leases",
                len(self._delivered),
            )
            self._delivered.clear()
            return
        super().restore_unacked(client)

    def ack(self, delivery_tag: Any) -> None:
        if self._detached():
            log.warning("task acknowledged after its broker connection closed")
            virtual.QoS.ack(self, delivery_tag)
            return
        super().ack(delivery_tag)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        if self._detached():
            log.warning("task rejected after its broker connection closed")
            virtual.QoS.ack(self, delivery_tag)
            return
        super().reject(delivery_tag, requeue=requeue)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
