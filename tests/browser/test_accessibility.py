"""Every console page through axe-core (axe-playwright-python, which ships axe.min.js:
nothing is downloaded), at desktop and phone width: no serious or critical violation.

One clinic with something on every page (alerts open and closed, replies, a queued
answer, a campaign, a pain history), one signed-in page per role, visited in turn.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from followup.db import transaction
from followup.models.outbox import Message, Purpose
from followup.runtime import Runtime
from followup.staff.accounts import SetPasswordLinks
from followup.staff.members import add_staff
from tests.browser.harness import WIDTHS, photograph, sign_in, text_in
from tests.conftest import tick
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser
BLOCKING = {"serious", "critical"}
AXE = Axe()


def violations(page: Page) -> list[str]:
    """Serious and critical axe findings on the page as it is, at both widths."""
    found = []
    for label, size in WIDTHS.items():
        page.set_viewport_size(size)
        result = AXE.run(page)
        for violation in result.response["violations"]:
            if violation["impact"] in BLOCKING:
                nodes = [", ".join(node["target"]) for node in violation["nodes"][:3]]
                found.append(f"{label}: {violation['id']} ({violation['impact']}) at {nodes}")
    page.set_viewport_size(WIDTHS["desktop"])
    return found


def _busy_clinic(runtime: Runtime, server: LiveServer, page: Page) -> None:
    """Alerts (one acknowledged), replies, pain scores, an answer, a campaign."""
    for n, pain in enumerate((3, 5, 8)):
        text_in(server, f"pain is {pain} today", f"SMx{n}")
    text_in(server, "I can't feel my legs", "SMx9", sender="+12015550112")
    text_in(server, "who is this?", "SMx8", sender="+12015550999")
    with runtime.sessions() as session:
        due = max(session.scalars(select(Message.due_at).where(Message.purpose == Purpose.ALERT)))
    tick(runtime, due + timedelta(seconds=1))
    sign_in(page, server, "ana")
    page.goto(f"{server.url}/console/alerts/1")
    page.get_by_role("button", name="Acknowledge").click()
    page.goto(f"{server.url}/console/patients/P1/conversation")
    page.get_by_label("Your answer (no diagnosis in a text)").fill("See you Friday.")
    page.get_by_role("button", name="Send").click()
    page.goto(f"{server.url}/console/campaigns/new")
    page.get_by_label("Name", exact=True).fill("flu-shots")
    page.get_by_label("English text message (use").fill(
        "Hi {{ patient.first_name }}, flu shots are in."
    )
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("heading", name="flu-shots")).to_be_visible()


SIGNED_IN_PAGES = [
    ("alerts", "/console/alerts"),
    ("alerts-closed", "/console/alerts/closed"),
    ("alert", "/console/alerts/2"),
    ("inbox", "/console/inbox"),
    ("patients", "/console/patients?q=Doe"),
    ("patient", "/console/patients/P1"),
    ("conversation", "/console/patients/P1/conversation"),
    ("campaigns", "/console/campaigns"),
    ("campaign-new", "/console/campaigns/new"),
    ("campaign", "/console/campaigns/flu-shots"),
    ("campaign-confirm", "/console/campaigns/flu-shots/launch"),
    ("delivery", "/console/health"),
    ("staff", "/console/staff"),
    ("confirm-disable", "/console/staff/1/disable"),  # maria's
    ("audit", "/console/audit"),
    ("outcomes", "/console/outcomes"),
    ("nudges", "/console/nudges"),
]


def test_every_console_page_passes_axe_at_both_widths(
    browser: Browser, clinic: tuple[Runtime, LiveServer]
) -> None:
    runtime, server = clinic
    page = browser.new_page()
    # The check can fail: a picture with no text and an unlabelled field are found.
    page.set_content('<html lang="en"><title>t</title><img src="x.png"><input></html>')
    assert any("image-alt (critical)" in v for v in violations(page))
    _busy_clinic(runtime, server, page)
    found: dict[str, list[str]] = {}
    for name, path in SIGNED_IN_PAGES:
        page.goto(f"{server.url}{path}")
        expect(page.locator("main h1")).to_be_visible()
        found[name] = violations(page)
        photograph(page, name)
    # The pages before signing in: sign-in (after a failure too) and setting a password.
    with transaction(runtime.sessions) as session:
        link = SetPasswordLinks(runtime.settings).url(add_staff(session, name="nina", role="staff"))
    page.get_by_role("button", name="Sign out").click()
    found["sign-in"] = violations(page)
    photograph(page, "sign-in")
    sign_in(page, server, "maria", "not the password")
    found["sign-in-failed"] = violations(page)
    page.goto(re.sub(r"^https?://[^/]+", server.url, link))
    found["set-password"] = violations(page)
    page.close()
    assert {name: v for name, v in found.items() if v} == {}
