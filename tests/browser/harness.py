"""The browser tests' harness: one chromium for all of them (Debian's, through
Playwright), the web app under uvicorn on PostgreSQL with the Twilio-compatible server
behind it, staff of every role and a few patients.

Pages are photographed into docs/screenshots/ only when asked (FOLLOWUP_SCREENSHOTS=1),
so a test run leaves the tree as it was.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from twilio.request_validator import RequestValidator

from followup.care.patients import record_consents
from followup.care.visits import record_visit
from followup.config import PROJECT_ROOT, Settings
from followup.db import transaction
from followup.models.base import Channel
from followup.models.care import Office, Patient
from followup.models.outbox import Purpose
from followup.models.staff import Role
from followup.runtime import Runtime, use
from followup.staff.accounts import set_password
from followup.staff.members import add_staff
from tests.conftest import free_port, live_settings
from tests.live_server import LiveServer
from tests.peers.twilio_server import AUTH_TOKEN, TwilioPeer
from tests.zones import daytime_zone

CHROMIUM = "/usr/bin/chromium"
SHOTS = PROJECT_ROOT / "docs" / "screenshots"
PASSWORD = "correct horse battery"
WIDTHS: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 860},
    "phone": {"width": 390, "height": 844},
}
ONCALL = "+12015550900"


def screenshots_wanted() -> bool:
    return os.environ.get("FOLLOWUP_SCREENSHOTS", "") == "1"


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One chromium for all the browser tests; closed after them, since Playwright's
    event loop must not outlive them (later tests run asyncio themselves)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def clinic(empty_postgres: str, twilio_server: TwilioPeer) -> Iterator[tuple[Runtime, LiveServer]]:
    """The web app on PostgreSQL with staff of every role and a few patients."""
    port = free_port()
    settings = live_settings(
        Settings(database_url=empty_postgres, sms_rate=0, retry_base_seconds=60),
        twilio_server,
        public_url=f"http://127.0.0.1:{port}",
        oncall_sms=ONCALL,
    )
    runtime = Runtime(settings)
    use(runtime)
    seed(runtime)
    with LiveServer(runtime, port) as server:
        yield runtime, server
    use(None)


def seed(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    with transaction(runtime.sessions) as session:
        for name, role in (("maria", Role.STAFF), ("lee", Role.CLINICIAN), ("ana", Role.ADMIN)):
            set_password(add_staff(session, name=name, role=role), PASSWORD)
        for n, (first, office) in enumerate(
            [("Pat", Office.HOBOKEN), ("Ana", Office.HOBOKEN), ("Luis", Office.WEEHAWKEN)]
        ):
            patient = Patient(
                ref=f"P{n + 1}",
                first_name=first,
                last_name="Doe",
                phone=f"+1201555011{n + 1}",
                email=f"p{n + 1}@example.com",
                preferred_channel="sms",
                language="en",
                timezone=daytime_zone(now),
            )
            session.add(patient)
            session.flush()
            record_consents(
                session,
                patient,
                {(Channel.SMS, p): True for p in (Purpose.CARE, Purpose.CAMPAIGN)},
                source="intake form",
                by="front desk",
            )
            record_visit(
                session,
                settings=runtime.settings,
                ref=f"V{n + 1}",
                patient=patient,
                office=office,
                clinician="Dr. Lee",
                visited_at=now - timedelta(days=3),
            )


def sign_in(page: Page, server: LiveServer, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{server.url}/console/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def text_in(server: LiveServer, body: str, sid: str, sender: str = "+12015550111") -> None:
    """The patient's text, as Twilio posts it: signed."""
    params = {"MessageSid": sid, "From": sender, "Body": body}
    url = f"{server.url}/twilio/sms"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    assert requests.post(url, data=params, headers={"X-Twilio-Signature": signature}).ok


def photograph(page: Page, name: str) -> None:
    """Every field of the page must be labelled, for screen readers and for a tap on the
    label; with FOLLOWUP_SCREENSHOTS=1 the page is also photographed at desktop and
    phone width into docs/screenshots/."""
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea")]
            .filter((f) => f.type !== "hidden" && f.labels.length === 0 && !f.ariaLabel)
            .map((f) => f.name)"""
    )
    assert unlabelled == [], f"{name}: fields without a label: {unlabelled}"
    if not screenshots_wanted():
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in WIDTHS.items():
        page.set_viewport_size(size)
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(WIDTHS["desktop"])


def wait_for(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
