"""The web app factory: `followup serve` runs it under uvicorn."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from followup.links import Links
from followup.runtime import Runtime
from followup.web import api, pages, twilio
from followup.web.inbox import SmsInbox


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="followup", version="0.1.0", redoc_url=None)
    app.state.runtime = runtime
    app.state.links = Links(runtime.settings)
    app.state.inbox = SmsInbox(partial(twilio.store_texts, runtime))
    app.router.routes.extend(twilio.routes)
    app.include_router(pages.router)
    app.include_router(api.router)
    return app
