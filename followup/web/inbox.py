"""Inbound texts stored in batches: one commit answers every request that waited for it.

Each webhook request waits until its text is committed. While one batch is being
stored, on a database thread, the texts that arrive queue up; the next batch takes
them all. A lone request is stored at once; under load one look-up, one insert and
one commit serve many requests, which is what lets a worker keep up with Twilio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from followup.replies.inbound_sms import InboundSms, Received

log = logging.getLogger(__name__)
StoreBatch = Callable[[Sequence[InboundSms]], list[Received]]
# Enough to amortise a commit, small enough that one transaction stays short.
MAX_BATCH = 100


class SmsInbox:
    def __init__(self, store: StoreBatch) -> None:
        """`store` stores a batch in one transaction, or raises having stored none."""
        self._store = store
        self._waiting: list[tuple[InboundSms, asyncio.Future[Received]]] = []
        self._one_batch_at_a_time = asyncio.Lock()

    async def receive(self, sms: InboundSms) -> Received:
        """Store `sms` (with whatever else is waiting) and return what it said."""
        stored: asyncio.Future[Received] = asyncio.get_running_loop().create_future()
        self._waiting.append((sms, stored))
        while not stored.done():
            async with self._one_batch_at_a_time:
                if not stored.done():
                    # Let texts that arrived with this one join it.
                    await asyncio.sleep(0)
                    batch = self._waiting[:MAX_BATCH]
                    del self._waiting[:MAX_BATCH]
                    # Shielded: a client hanging up must not strand the others' answers.
                    await asyncio.shield(self._settle(batch))
        return stored.result()

    async def _settle(self, batch: list[tuple[InboundSms, asyncio.Future[Received]]]) -> None:
        messages = [sms for sms, _ in batch]
        try:
            outcomes = await asyncio.to_thread(self._store_each_if_need_be, messages)
        except BaseException:
            # No thread to store on (the server is stopping): fail every request of the
            # batch rather than leave one waiting for an answer that cannot come.
            for _, stored in batch:
                if not stored.done():
                    stored.set_exception(RuntimeError("the inbox could not store this text"))
            raise
        for (_, stored), outcome in zip(batch, outcomes, strict=True):
            if stored.done():
                continue
            if isinstance(outcome, Exception):
                stored.set_exception(outcome)
            else:
                stored.set_result(outcome)

    def _store_each_if_need_be(self, messages: list[InboundSms]) -> list[Received | Exception]:
        """The batch in one transaction; if that fails, each text in its own, so one
        bad text fails only its own request."""
        if len(messages) > 1:
            try:
                return list(self._store(messages))
            except Exception:
                log.exception(
                    "storing a batch of %d texts failed; storing each alone", len(messages)
                )
        outcomes: list[Received | Exception] = []
        for sms in messages:
            try:
                outcomes.extend(self._store([sms]))
            except Exception as error:
                log.exception("storing SMS %s failed", sms.sid)
                outcomes.append(error)
        return outcomes
