"""The web app factory: `followup serve` runs it under uvicorn."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from followup.console import install as install_console
from followup.content.links import Links
from followup.runtime import Runtime
from followup.web import (
    api,
    appointment_pages,
    campaigns_api,
    measure_pages,
    operations,
    pages,
    patients_api,
    programme_pages,
    programmes_api,
    twilio,
)
from followup.web.edge import EdgeGuard
from followup.web.headers import SecurityHeaders
from followup.web.inbox import SmsInbox
from followup.web.operations import Observed
from followup.web.rate_limits import RateLimit


def create_app(
    runtime: Runtime, *, lifespan: Callable[[Starlette], Any] | None = None
) -> Starlette:
    """Twilio's hooks on a bare Starlette app in front (at Twilio's rate FastAPI's
    per-request machinery shows in bench/webhook.py); the pages and the API behind
    it on FastAPI, with their OpenAPI document outside production. Around them all:
    security headers, body limits and plain addresses, rate limits. `lifespan` runs
    beside the server (`followup.web.periodic` in development with no broker)."""
    settings = runtime.settings
    docs = settings.environment != "production" or settings.api_docs
    site = FastAPI(
        title="followup",
        version="0.1.0",
        redoc_url=None,
        docs_url="/docs" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    site.state.runtime = runtime
    site.state.links = Links(settings)
    site.include_router(pages.router)
    assets = settings.templates_dir / "web" / "assets"
    site.mount("/assets", StaticFiles(directory=assets), name="page-assets")
    site.include_router(programme_pages.router)
    site.include_router(appointment_pages.router)
    site.include_router(measure_pages.router)
    site.include_router(campaigns_api.router)
    site.include_router(api.router)
    site.include_router(programmes_api.router)
    site.include_router(patients_api.router)
    install_console(site)

    def body_limit(path: str) -> int:
        hook = path.startswith("/twilio/")
        return settings.max_hook_body_bytes if hook else settings.max_body_bytes

    app = Starlette(
        routes=[*operations.routes, *twilio.routes, Mount("/", app=site)],
        middleware=[
            Middleware(Observed),
            Middleware(SecurityHeaders),
            Middleware(EdgeGuard, limit_for=body_limit),
            Middleware(RateLimit, settings=settings),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.inbox = SmsInbox(partial(twilio.store_texts, runtime))
    return app
