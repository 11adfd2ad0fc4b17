"""The staff console under /console/: server-rendered pages from templates/console/,
a few lines of script for live updates (the pages read fine without), sign-in with
roles, CSRF on every form, and every view of patient data in the audit log.

May import: every domain package, `followup.web.rate_limits`, the runtime wiring and the
shared core; not `followup.cli`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from followup.console import (
    admin,
    alerts,
    campaign_actions,
    campaigns,
    exports,
    finding,
    health,
    inbox,
    live,
    outcomes,
    patients,
    programmes,
    second_factor,
    sign_in,
)
from followup.console.web import current, page
from followup.exceptions import FollowupError, InvalidInput, NotFound

ROUTERS = (
    sign_in.router,
    second_factor.router,
    alerts.router,
    inbox.router,
    finding.router,
    patients.router,
    programmes.router,
    outcomes.router,
    campaigns.router,
    exports.router,
    # After campaigns and exports: /campaigns/{ref}/progress or /results.csv is no action.
    campaign_actions.router,
    health.router,
    admin.router,
    live.router,
)


def install(site: FastAPI) -> None:
    """Add the console's routes, assets and error pages to `site`."""
    runtime = site.state.runtime
    assets = runtime.settings.templates_dir / "console" / "assets"
    site.mount("/console/assets", StaticFiles(directory=assets), name="console-assets")
    for router in ROUTERS:
        site.include_router(router)

    @site.exception_handler(FollowupError)
    async def refused(request: Request, exc: FollowupError) -> Response:
        status = 404 if isinstance(exc, NotFound) else 422 if isinstance(exc, InvalidInput) else 500
        if not request.url.path.startswith("/console/"):
            return JSONResponse({"detail": str(exc)}, status_code=status)
        return _error(request, 400 if status == 422 else status, str(exc))

    @site.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code < 400 or not request.url.path.startswith("/console/"):
            return await http_exception_handler(request, exc)
        return _error(request, exc.status_code, str(exc.detail))

    @site.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> Response:
        """An address or form the page does not take (an edited filter, say): the
        console's error page saying which value and why; the API keeps its JSON."""
        if not request.url.path.startswith("/console/"):
            return await request_validation_exception_handler(request, exc)
        first: dict[str, str] = {}  # per field, its first reason (a union gives several)
        for error in exc.errors():
            field = str(error["loc"][1] if len(error["loc"]) > 1 else error["loc"][0])
            message = str(error["msg"])
            first.setdefault(field, message[:1].lower() + message[1:])
        reasons = "; ".join(f"`{field}`: {message}" for field, message in first.items())
        return _error(request, 400, f"this page does not take that address or form ({reasons})")


def _error(request: Request, status: int, reason: str) -> HTMLResponse:
    return page(request, "error.html", current(request), status=status, reason=reason)
