"""A Twilio-compatible HTTP server for tests and benchmarks, driven by the real client.

It speaks the two Messages endpoints followup uses (create, list), checks Basic auth,
refuses invalid numbers with Twilio's code, and can be told to misbehave: answer
429 or 5xx (optionally after accepting the message, as a real "maybe sent"), refuse
with an error code, or answer slowly. Like Twilio, it can POST a signed status
callback to each accepted message's `StatusCallback` URL. A fixed `latency` delays every answer, for
the throughput benchmark. Run as a script it serves in its own process and reports
counts on `GET /_peer/stats`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from aiohttp import ClientError, ClientSession, web
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "peer-auth-token"
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


@dataclass
class Fault:
    """One programmed misbehaviour for the next `times` creates to `to` (or anyone)."""

    status: int
    code: int | None = None
    accept: bool = False  # store the message before answering with the error
    delay: float = 0.0
    to: str | None = None
    times: int = 1


@dataclass
class PeerState:
    latency: float = 0.0
    # Seconds after accepting a message to POST its signed "sent" status callback;
    # None sends none.
    callback_delay: float | None = None
    messages: list[dict[str, object]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self, to: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.to in (None, to):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None


class TwilioPeer:
    def __init__(
        self,
        *,
        latency: float = 0.0,
        callback_delay: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.state = PeerState(latency=latency, callback_delay=callback_delay)
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._callbacks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def messages(self) -> list[dict[str, object]]:
        with self.state.lock:
            return list(self.state.messages)

    def bodies_to(self, number: str) -> list[str]:
        return [str(m["body"]) for m in self.messages if m["to"] == number]

    def fail_next(self, **fault: object) -> None:
        with self.state.lock:
            self.state.faults.append(Fault(**fault))  # type: ignore[arg-type]

    def app(self) -> web.Application:
        app = web.Application()
        base = "/2010-04-01/Accounts/{account}/Messages.json"
        app.router.add_post(base, self._create)
        app.router.add_get(base, self._list)
        app.router.add_get("/_peer/stats", self._stats)
        return app

    def start(self) -> TwilioPeer:
        """Serve from a background thread until `stop`."""
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start_site())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._cancel_callbacks())
            self._loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="twilio-peer", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _start_site(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _create(self, request: web.Request) -> web.Response:
        state = self.state
        with state.lock:
            state.requests += 1
            state.in_flight += 1
            state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
        try:
            # Like Twilio, the message exists once the request is in; the answer is slow.
            response = await self._answer_create(request)
            if state.latency:
                await asyncio.sleep(state.latency)
            return response
        finally:
            with state.lock:
                state.in_flight -= 1

    async def _answer_create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        form = await request.post()
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        sender = form.get("From") or form.get("MessagingServiceSid")
        if not sender:
            return _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        fault = self.state.take_fault(to)
        if fault is not None:
            if fault.accept:
                self._store(to, body, form)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            return _error(fault.status, fault.code, "programmed fault")
        if not E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        return web.json_response(self._store(to, body, form), status=201)

    def _store(self, to: str, body: str, form: object) -> dict[str, object]:
        now = format_datetime(datetime.now(UTC), usegmt=True)
        message = {
            "sid": "SM" + uuid.uuid4().hex,
            "account_sid": ACCOUNT_SID,
            "to": to,
            "from": form.get("From"),  # type: ignore[attr-defined]
            "messaging_service_sid": form.get("MessagingServiceSid"),  # type: ignore[attr-defined]
            "body": body,
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "status_callback": form.get("StatusCallback"),  # type: ignore[attr-defined]
            "error_code": None,
            "error_message": None,
            "api_version": "2010-04-01",
        }
        with self.state.lock:
            self.state.messages.append(message)
        if self.state.callback_delay is not None and message["status_callback"]:
            task = asyncio.get_running_loop().create_task(self._call_back(message))
            self._callbacks.add(task)
            task.add_done_callback(self._callbacks.discard)
        return message

    async def _cancel_callbacks(self) -> None:
        pending = list(self._callbacks)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _call_back(self, message: dict[str, object]) -> None:
        """Tell the sender the message was sent, signed with the auth token as Twilio does."""
        await asyncio.sleep(self.state.callback_delay or 0.0)
        url = str(message["status_callback"])
        params = {
            "AccountSid": ACCOUNT_SID,
            "MessageSid": str(message["sid"]),
            "MessageStatus": "sent",
            "To": str(message["to"]),
        }
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        for _ in range(5):  # Twilio retries a callback that fails to connect
            try:
                async with (
                    ClientSession() as client,
                    client.post(url, data=params, headers={"X-Twilio-Signature": signature}),
                ):
                    return
            except ClientError:
                await asyncio.sleep(1.0)

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        to = request.query.get("To")
        size = int(request.query.get("PageSize", "50"))
        found = [m for m in reversed(self.messages) if to in (None, m["to"])][:size]
        return web.json_response(
            {
                "messages": found,
                "page": 0,
                "page_size": size,
                "next_page_uri": None,
                "uri": request.path,
            }
        )

    async def _stats(self, _: web.Request) -> web.Response:
        with self.state.lock:
            return web.json_response(
                {
                    "messages": len(self.state.messages),
                    "requests": self.state.requests,
                    "in_flight": self.state.in_flight,
                    "peak_in_flight": self.state.peak_in_flight,
                }
            )


def _error(status: int, code: int | None, message: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "more_info": "", "status": status}, status=status
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every create")
    args = parser.parse_args()
    peer = TwilioPeer(latency=args.latency, port=args.port)
    web.run_app(peer.app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
