"""A confirmation step for a click that cannot be taken back: a page (GET) that says
what will happen, with the form (POST) that does it and a way back. It works without
script; any console action can use it (`confirm_page`, `templates/console/confirm.html`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import HTMLResponse

from followup.console.sessions import SignedIn
from followup.console.web import page


@dataclass(frozen=True)
class Confirmation:
    """`title` asks the question ("Disable maria?"); `headline`, if any, is the one
    consequence to read first ("Send to 933 patients ..."), `consequences` the rest, one
    sentence each; the form posts `fields` (and the CSRF token) to `action`."""

    title: str
    consequences: Sequence[str]
    action: str
    button: str
    back: str
    fields: Mapping[str, str] = field(default_factory=dict)
    headline: str = ""


def confirm_page(request: Request, who: SignedIn, confirmation: Confirmation) -> HTMLResponse:
    return page(request, "confirm.html", who, confirm=confirmation)
