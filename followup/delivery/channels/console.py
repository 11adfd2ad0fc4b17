"""The console channel: sends nothing, records that it would have. For the demo and
development (the demo prints what was sent from the database)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from uuid import uuid4

from followup.delivery.channels import Outgoing, Send
from followup.models.base import Channel

log = logging.getLogger("followup.console")


class ConsoleChannel:
    concurrency = 1

    def __init__(self, kind: Channel) -> None:
        self.kind = kind
        self.sender = f"console-{kind.value}"
        self.sent: dict[int, str] = {}
        self._lock = threading.Lock()

    @contextmanager
    def connect(self) -> Iterator[Send]:
        yield self._send

    def _send(self, outgoing: Outgoing) -> str:
        with self._lock:
            provider_id = f"console-{self.kind.value}-{uuid4().hex[:16]}"
            self.sent[outgoing.message_id] = provider_id
        # Never the address or the text: logs are not a place for patients' details.
        log.info("%s #%s: %d characters", self.kind.value, outgoing.message_id, len(outgoing.body))
        return provider_id

    def lookup(self, outgoing: Outgoing, *, since: datetime) -> list[str] | None:
        """What this process sent for the row; a restarted process remembers nothing."""
        sent = self.sent.get(outgoing.message_id)
        return [sent] if sent else []
