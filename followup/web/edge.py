"""What every request must be before any route sees it: small, and plain text.

A body over its route's limit is refused with 413 before it is read when its length
is declared, and as soon as the limit is passed when it is streamed, so a hostile
upload costs at most the limit in memory and never holds the event loop. A path or
query string with NUL or another control character is refused with 400: no route
has a use for one, and PostgreSQL cannot store NUL.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from followup.plain_text import CONTROL_CHARACTERS


class EdgeGuard:
    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        """`limit_for(path)`: the largest body, in bytes, a request to `path` may carry."""
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        if CONTROL_CHARACTERS.search(unquote(scope["path"]) + unquote(query)):
            await _refuse(send, 400, "control characters are not allowed in the address")
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"0").decode("latin-1")
        if not declared.isdigit() or int(declared) > limit:
            await _refuse(send, 413, f"the request body is limited to {limit} bytes")
            return
        read = 0
        refused = False

        async def receive_within_limit() -> Message:
            nonlocal read, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                read += len(message.get("body", b""))
                if read > limit:
                    refused = True
                    await _refuse(send, 413, f"the request body is limited to {limit} bytes")
                    # The route stops reading; what it answers next is dropped below.
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, receive_within_limit, send_unless_refused)


async def _refuse(send: Send, status: int, reason: str) -> None:
    response = PlainTextResponse(reason, status_code=status, headers={"Connection": "close"})
    await response({"type": "http"}, _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
