"""The operators' side of the web app: /livez, /readyz and /metrics, and the
middleware that times every request by its route and gives it a request id."""

from __future__ import annotations

import hmac
import re
import time

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from followup.models.base import utcnow
from followup.operations import health, logs, metrics
from followup.runtime import Runtime

CONVERTER = re.compile(r":\w+}")


async def livez(request: Request) -> Response:
    return JSONResponse(health.liveness())


async def readyz(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    report = await run_in_threadpool(
        health.readiness,
        settings=rt.settings,
        engine=rt.engine,
        sessions=rt.sessions,
        now=utcnow(),
    )
    return JSONResponse(report.as_json(), status_code=200 if report.ok else 503)


async def scrape(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    if not may_scrape(rt, request.headers.get("Authorization", "")):
        return PlainTextResponse("Not Found", status_code=404)
    text = await run_in_threadpool(
        metrics.scrape, settings=rt.settings, sessions=rt.sessions, now=utcnow()
    )
    return Response(text, media_type=metrics.CONTENT_TYPE_LATEST)


def may_scrape(rt: Runtime, authorization: str) -> bool:
    """With a token set, only its bearer; otherwise anyone once metrics are enabled."""
    token = rt.settings.metrics_token
    if token:
        return hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())
    return rt.settings.metrics_enabled


routes = [
    Route("/livez", livez, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", scrape, methods=["GET"]),
]


def route_of(scope: Scope) -> str:
    """The template of the route that answered (`/twilio/status/{message_id}`), never
    the raw path: a path carries ids."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return CONVERTER.sub("}", path) if path else "unmatched"


class Observed:
    """Times each request into `followup_http_request_duration_seconds` and gives it
    a request id for the log lines (returned in `X-Request-ID`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        request_id = logs.new_request_id(headers.get(b"x-request-id", b"").decode("latin-1"))
        token = logs.request_id.set(request_id)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)
            metrics.REQUEST_SECONDS.labels(route_of(scope), scope["method"], str(status)).observe(
                time.perf_counter() - started
            )
