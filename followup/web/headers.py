"""Headers on every response: no cache keeps what we answer, and nothing we answer
runs inline script or style, loads anything from elsewhere, posts anywhere but to us,
or can be framed (a refusal or a JSON answer included: no response goes without)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages are server-rendered: scripts and style sheets only from our own files (the
# console's script, the console's and patients' pages' style sheets), never inline.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
# Everything else (JSON, plain-text refusals, files) may load and frame nothing.
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # Pages, API answers and hooks may all carry patient data.
                headers["Cache-Control"] = "no-store"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                html = headers.get("content-type", "").startswith("text/html")
                # Swagger's page (development, or FOLLOWUP_API_DOCS) loads its own script.
                if scope["path"] != "/docs":
                    headers["Content-Security-Policy"] = PAGE_POLICY if html else OTHER_POLICY
                    headers["X-Frame-Options"] = "DENY"
            await send(message)

        await self.app(scope, receive, send_with_headers)
