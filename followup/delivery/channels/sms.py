"""SMS through Twilio's official client.

Each thread gets its own client (a `requests` session is not shared across threads)
with a finite timeout; the client's default is none. `TWILIO_API_BASE_URL` points
it at any Twilio-compatible endpoint through a custom `http_client`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from followup.config import Settings
from followup.delivery.channels import Outgoing, Send
from followup.exceptions import (
    AmbiguousDeliveryError,
    DeliveryError,
    HeldBackError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from followup.models.base import Channel

TWILIO_API = "https://api.twilio.com"
# Twilio error codes that no retry can fix.
PERMANENT_CODES = {
    21211: "invalid 'To' phone number",
    21408: "sending to this region is not enabled",
    21610: "recipient unsubscribed (replied STOP)",
    21612: "the 'To' number cannot be reached from this sender",
    21614: "'To' number is not a mobile number",
    30006: "landline or unreachable carrier",
}
UNSUBSCRIBED = "21610"
# Recent messages to one number read per look-up: a patient gets a few a week.
LOOKUP_DEPTH = 100


class BaseUrlHttpClient(TwilioHttpClient):
    """Sends requests meant for api.twilio.com to another base URL."""

    def __init__(self, base_url: str, *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: object, **kwargs: object) -> Response:
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]


class TwilioSms:
    kind = Channel.SMS

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.concurrency = settings.sms_concurrency
        self.sender = settings.twilio_messaging_service_sid or settings.twilio_from_number
        self._local = threading.local()

    def client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            http = BaseUrlHttpClient(
                self.settings.twilio_api_base_url, timeout=self.settings.twilio_timeout
            )
            client = Client(
                self.settings.twilio_account_sid, self.settings.twilio_auth_token, http_client=http
            )
            self._local.client = client
        return client

    @contextmanager
    def connect(self) -> Iterator[Send]:
        yield self.send

    def send(self, outgoing: Outgoing) -> str:
        params: dict[str, str] = {
            "to": outgoing.to,
            "body": outgoing.body,
            "status_callback": self.status_callback_url(outgoing.message_id),
        }
        if self.settings.twilio_messaging_service_sid:
            params["messaging_service_sid"] = self.settings.twilio_messaging_service_sid
        else:
            params["from_"] = self.settings.twilio_from_number
        try:
            message = self.client().messages.create(**params)
        except TwilioRestException as exc:
            raise classify_rest_error(exc) from exc
        except requests.RequestException as exc:
            raise classify_network_error(exc) from exc
        return str(message.sid)

    def status_callback_url(self, message_id: int) -> str:
        return f"{self.settings.public_url.rstrip('/')}/twilio/status/{message_id}"

    def lookup(self, outgoing: Outgoing, *, since: datetime) -> list[str] | None:
        """The sids of Twilio's recent messages to the same number with the same text."""
        try:
            recent = self.client().messages.list(to=outgoing.to, limit=LOOKUP_DEPTH)
        except (TwilioRestException, requests.RequestException) as exc:
            raise AmbiguousDeliveryError(f"provider look-up failed: {exc}") from exc
        return [
            str(message.sid)
            for message in recent
            if message.body == outgoing.body
            and (message.date_created is None or message.date_created >= since)
        ]


def classify_rest_error(exc: TwilioRestException) -> DeliveryError:
    code = str(exc.code) if exc.code is not None else None
    if exc.code in PERMANENT_CODES:
        return PermanentDeliveryError(PERMANENT_CODES[exc.code], code=code)
    if exc.status == 429:
        # Twilio did not process it: held back, not an attempt of this message.
        return HeldBackError("provider rate limit (429)", code=code or "429")
    if exc.status in (401, 403):
        return TransientDeliveryError(f"provider refused our credentials ({exc.status})", code=code)
    if exc.status >= 500:
        return AmbiguousDeliveryError(f"provider error {exc.status}", code=code)
    return PermanentDeliveryError(
        f"provider refused the message ({exc.status}): {exc.msg}", code=code
    )


def classify_network_error(exc: requests.RequestException) -> DeliveryError:
    """A failure to connect proves nothing was sent; anything later may have been."""
    reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else None
    if isinstance(exc, requests.ConnectTimeout) or isinstance(
        reason, NewConnectionError | ConnectTimeoutError
    ):
        return TransientDeliveryError(f"could not connect to the provider: {type(exc).__name__}")
    return AmbiguousDeliveryError(f"no answer from the provider: {type(exc).__name__}")
