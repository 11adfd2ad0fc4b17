"""Bounded concurrent sending, with database work overlapping provider calls.

The calling thread claims a chunk of rows and hands their sends to a pool; a second
thread records results as they finish, grouping whatever finished together into one
transaction. At most `concurrency` sends are in flight, and up to two chunks are
claimed ahead of them, so the pool does not wait while the database is slow. A result not yet recorded when a process
dies leaves its row in `sending`, which reconciliation settles without a resend.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future

from followup.delivery.channels import Outgoing

Finished = tuple[Outgoing, "Future[str]"]


class SendPipeline:
    def __init__(
        self,
        *,
        pool: Executor,
        concurrency: int,
        chunk_size: int,
        start: Callable[[list[int]], list[Outgoing]],
        send: Callable[[Outgoing], str],
        record: Callable[[list[Finished]], None],
    ) -> None:
        self.pool = pool
        self.concurrency = concurrency
        self.chunk_size = chunk_size
        self.start = start
        self.send = send
        self.record = record
        self._finished: queue.SimpleQueue[Finished | None] = queue.SimpleQueue()
        self._room = threading.Condition()
        self._unrecorded = 0
        self._error: BaseException | None = None

    def run(self, message_ids: list[int]) -> None:
        recorder = threading.Thread(target=self._record_loop, name="send-recorder", daemon=True)
        recorder.start()
        try:
            pending = deque(message_ids)
            ahead = self.concurrency + self.chunk_size
            while pending and self._wait_for(lambda: self._unrecorded <= ahead):
                chunk = [pending.popleft() for _ in range(min(self.chunk_size, len(pending)))]
                for outgoing in self.start(chunk):
                    self._submit(outgoing)
        finally:
            self._wait_for(lambda: self._unrecorded == 0)
            self._finished.put(None)
            recorder.join()
        if self._error is not None:
            raise self._error

    def _submit(self, outgoing: Outgoing) -> None:
        with self._room:
            self._unrecorded += 1
        future = self.pool.submit(self.send, outgoing)
        future.add_done_callback(lambda done: self._finished.put((outgoing, done)))

    def _wait_for(self, condition: Callable[[], bool]) -> bool:
        """Block until `condition` holds; False if recording failed meanwhile."""
        with self._room:
            self._room.wait_for(lambda: condition() or self._error is not None)
            return self._error is None

    def _record_loop(self) -> None:
        while (item := self._finished.get()) is not None:
            batch = [item]
            stop = False
            while not stop:
                try:
                    more = self._finished.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    batch.append(more)
            try:
                self.record(batch)
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                with self._room:
                    self._error = exc
                    self._room.notify_all()
                return
            with self._room:
                self._unrecorded -= len(batch)
                self._room.notify_all()
            if stop:
                return
