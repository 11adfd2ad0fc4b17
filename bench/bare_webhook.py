"""The webhook bench's baseline: the least a signed inbound-SMS hook can do.

A bare Starlette app that checks Twilio's signature with `RequestValidator` and stores
the text with one psycopg statement (one connection per server thread, autocommit),
then answers with empty TwiML: no patient look-up, no triage, no alerts. Served by
uvicorn like `followup serve`; configured from the environment by bench/webhook.py.
"""

from __future__ import annotations

import os
import threading

import psycopg
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

STORE = (
    "INSERT INTO replies (provider_id, channel, from_address, body, reasons, received_at) "
    "VALUES (%s, 'sms', %s, %s, '', now() AT TIME ZONE 'UTC') ON CONFLICT (provider_id) DO NOTHING"
)
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
signed_url = os.environ["FOLLOWUP_PUBLIC_URL"] + "/twilio/sms"
dsn = os.environ["BARE_WEBHOOK_DSN"]
local = threading.local()


def store(params: dict[str, str]) -> None:
    connection = getattr(local, "connection", None)
    if connection is None:
        connection = local.connection = psycopg.connect(dsn, autocommit=True)
    connection.execute(STORE, (params["MessageSid"], params["From"], params.get("Body", "")))


async def inbound_sms(request: Request) -> Response:
    params = {key: str(value) for key, value in (await request.form()).items()}
    if not validator.validate(signed_url, params, request.headers.get("X-Twilio-Signature", "")):
        return Response("invalid signature", status_code=403)
    await run_in_threadpool(store, params)
    return Response(EMPTY, media_type="application/xml")


app = Starlette(routes=[Route("/twilio/sms", inbound_sms, methods=["POST"])])
