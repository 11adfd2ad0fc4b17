"""The web app factory: `followup serve` runs it under uvicorn."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from followup.links import Links
from followup.runtime import Runtime
from followup.web import api, pages, twilio
from followup.web.inbox import SmsInbox


def create_app(runtime: Runtime) -> Starlette:
    """Twilio's hooks on a bare Starlette app in front (at Twilio's rate FastAPI's
    per-request machinery shows in bench/webhook.py); the pages and the API behind
    it on FastAPI, with their OpenAPI document."""
    site = FastAPI(title="followup", version="0.1.0", redoc_url=None)
    site.state.runtime = runtime
    site.state.links = Links(runtime.settings)
    site.include_router(pages.router)
    site.include_router(api.router)
    app = Starlette(routes=[*twilio.routes, Mount("/", app=site)])
    app.state.runtime = runtime
    app.state.inbox = SmsInbox(partial(twilio.store_texts, runtime))
    return app
