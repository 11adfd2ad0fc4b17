"""Twilio webhooks: inbound SMS and delivery status callbacks, both signed.

Twilio signs each request with the account's auth token over the public URL it
called and the form parameters; a missing or wrong signature gets 403 and nothing
is stored. Twilio retries, so both hooks are idempotent.
"""

from __future__ import annotations

import hmac
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any, cast
from urllib.parse import parse_qsl

from sqlalchemy import String, Table, bindparam, update
from sqlalchemy.orm import InstrumentedAttribute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from followup.db import transaction
from followup.delivery.receipts import record_delivery
from followup.models.base import utcnow
from followup.models.outbox import Message
from followup.models.replies import Reply
from followup.plain_text import without_control_characters
from followup.replies.inbound_sms import InboundSms, Received, receive_sms
from followup.replies.sms_answers import answer_text
from followup.runtime import Runtime
from followup.web.inbox import SmsInbox

log = logging.getLogger(__name__)
TWIML = "application/xml"
# Twilio answers these itself (its standard opt-out handling): we stay silent.
ANSWERED_BY_TWILIO = {
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
    "start",
    "unstop",
    "yes",
    "help",
    "info",
}


def _length(column: InstrumentedAttribute[Any]) -> int:
    return cast(String, column.type).length or sys.maxsize


# What our rows hold of the fields Twilio posts. Its own values are far shorter (a sid
# is 34 characters), so a longer one is refused with a 400 before it reaches a row.
LONGEST = {
    "MessageSid": _length(Message.provider_id),
    "From": _length(Reply.from_address),
    "ErrorCode": _length(Message.error_code),
}
# messages.id is a 4-byte integer: a larger id names no message (the look-up would fail).
LARGEST_ID = 2**31 - 1


async def inbound_sms(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    params = await _signed_form(request, runtime)
    if params is None:
        return Response("invalid signature", status_code=403)
    sid, sender = params.get("MessageSid", ""), params.get("From", "")
    if not sid or not sender:
        return Response("MessageSid and From are required", status_code=400)
    if too_long := _too_long(params):
        return too_long
    body = params.get("Body", "")
    inbox: SmsInbox = request.app.state.inbox
    received = await inbox.receive(InboundSms(sid, sender, body))
    return Response(_twiml(received.answer), media_type=TWIML)


async def delivery_status(request: Request) -> Response:
    message_id: int = request.path_params["message_id"]
    runtime: Runtime = request.app.state.runtime
    params = await _signed_form(request, runtime)
    if params is None:
        return Response("invalid signature", status_code=403)
    status = params.get("MessageStatus", "")
    sid = params.get("MessageSid", "")
    if not status or not sid:
        return Response("MessageSid and MessageStatus are required", status_code=400)
    if too_long := _too_long(params):
        return too_long
    if message_id > LARGEST_ID:
        log.info("status callback ignored: no message can have id %s", message_id)
        return Response(status_code=204)
    _store_status(runtime, message_id, sid, status, params.get("ErrorCode") or None)
    return Response(status_code=204)


# Plain Starlette routes: these hooks need none of FastAPI's request handling, and at
# Twilio's rate its per-request cost shows (bench/webhook.py).
routes = [
    Route("/twilio/sms", inbound_sms, methods=["POST"]),
    Route("/twilio/status/{message_id:int}", delivery_status, methods=["POST"]),
]


async def _signed_form(request: Request, runtime: Runtime) -> dict[str, str] | None:
    """The form parameters if Twilio's signature over them holds, else None."""
    token = runtime.settings.twilio_auth_token
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return None
    # Twilio posts application/x-www-form-urlencoded; parse_qsl reads it at a fraction
    # of the cost of the general form parser.
    form = (await request.body()).decode("latin-1")
    params = dict(parse_qsl(form, keep_blank_values=True, encoding="utf-8", errors="replace"))
    url = runtime.settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    validator = RequestValidator(token)
    # validate() signs the URL twice (with and without a port) for every request; one
    # signed over the public URL as configured matches the first, cheaper check.
    exact = hmac.compare_digest(
        validator.compute_signature(url, params).encode(), signature.encode()
    )
    if not exact and not validator.validate(url, params, signature):
        log.warning("rejected a request to %s with a wrong Twilio signature", request.url.path)
        return None
    # A patient's text is never refused for a stray control character (it must not be
    # lost): NUL and the like are removed; PostgreSQL could not store NUL anyway.
    return {key: without_control_characters(value) for key, value in params.items()}


def _too_long(params: dict[str, str]) -> Response | None:
    """A 400 naming the first field longer than its row holds, if there is one."""
    for name, longest in LONGEST.items():
        if len(params.get(name, "")) > longest:
            return Response(f"{name} is longer than {longest} characters", status_code=400)
    return None


def store_texts(runtime: Runtime, messages: Sequence[InboundSms]) -> list[Received]:
    """Store a batch of inbound texts in one transaction (the inbox's database side),
    with the answer each gets back, so staff see what the patient was told."""
    with transaction(runtime.sessions) as session:
        received = receive_sms(
            session,
            settings=runtime.settings,
            renderer=runtime.renderer,
            messages=messages,
            now=utcnow(),
        )
        answered = [
            replace(r, answer=_answer(runtime, r, sms.body))
            for r, sms in zip(received, messages, strict=True)
        ]
        written = [{"reply": r.reply_id, "text": r.answer} for r in answered if r.answer]
        if written:
            replies = cast(Table, Reply.__table__)
            session.connection().execute(
                update(replies)
                .where(replies.c.id == bindparam("reply"), replies.c.answer.is_(None))
                .values(answer=bindparam("text")),
                written,
            )
        return answered


def _store_status(
    runtime: Runtime, message_id: int, sid: str, status: str, error_code: str | None
) -> None:
    with transaction(runtime.sessions) as session:
        record_delivery(
            session,
            message_id=message_id,
            provider_sid=sid,
            provider_status=status,
            error_code=error_code,
            now=utcnow(),
        )


@lru_cache(maxsize=128)
def _twiml(text: str | None) -> str:
    """TwiML that sends `text` back (or nothing); answers come from a few templates."""
    twiml = MessagingResponse()
    if text:
        twiml.message(text)
    return str(twiml)


def _answer(runtime: Runtime, received: Received, body: str) -> str | None:
    """The text sent back in TwiML, or None where Twilio answers the bare keyword itself."""
    reading = received.reading
    words = " ".join(body.lower().split()).strip(" .!")
    twilio_answers = runtime.settings.twilio_answers_keywords and words in ANSWERED_BY_TWILIO
    if twilio_answers and (reading.keyword or received.consent_change == "restarted"):
        return None
    return answer_text(received, renderer=runtime.renderer, settings=runtime.settings, now=utcnow())
