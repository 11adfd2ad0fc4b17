"""An appointment reminder email's one-tap answers in chromium: the page names the visit
and records nothing until the button is pressed, then says what was recorded, in the
patient's language; both pages pass axe at desktop and phone width."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from followup.content.links import Links
from followup.models.base import Channel
from followup.models.care import Visit
from followup.models.outbox import Message
from followup.models.replies import Reply
from followup.runtime import Runtime
from tests.browser.harness import photograph
from tests.browser.test_accessibility import violations
from tests.conftest import add_patient
from tests.live_server import LiveServer
from tests.web.test_programmes import assign

pytestmark = pytest.mark.browser


def booked(runtime: Runtime, language: str) -> dict[str, str]:
    """An email patient with a visit booked in two days: the reminder's two links."""
    now = datetime.now(UTC)
    patient = add_patient(
        runtime,
        f"E-{language}",
        phone="",
        email=f"rosa-{language}@example.com",
        preferred="email",
        language=language,
        consents={Channel.EMAIL: True},
    )
    assign(
        runtime,
        patient,
        None,
        ref=f"VE-{language}",
        at=now - timedelta(days=5),
        booked=now + timedelta(days=2),
    )
    with runtime.sessions() as session:
        reminder = session.scalars(
            select(Message.id).where(
                Message.patient_id == patient.id, Message.step.startswith("appointment-")
            )
        ).one()
    return Links(runtime.settings).appointment_urls(reminder)


def test_an_email_patient_confirms_and_asks_to_reschedule_with_one_tap(
    browser: Browser, clinic: tuple[Runtime, LiveServer]
) -> None:
    runtime, _ = clinic
    english, spanish = booked(runtime, "en"), booked(runtime, "es")
    page = browser.new_page()

    page.goto(english["confirm"])
    expect(page.get_by_text("Your next visit:")).to_be_visible()
    assert violations(page) == []
    photograph(page, "appointment-confirm")
    with runtime.sessions() as session:
        assert session.scalars(select(Reply)).all() == []  # opening the link records nothing
    page.get_by_role("button", name="Yes, confirm my visit").click()
    expect(page.get_by_text("See you at our Hoboken office.")).to_be_visible()
    expect(page.get_by_text("is confirmed")).to_be_visible()
    assert violations(page) == []

    page.goto(spanish["reschedule"])
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.get_by_role("button", name="Sí, quiero cambiarla").click()
    expect(page.get_by_text("Nuestra recepción le llamará")).to_be_visible()
    assert violations(page) == []
    photograph(page, "appointment-reschedule-thanks")
    page.close()

    with runtime.sessions() as session:
        visits = {v.ref: v for v in session.scalars(select(Visit))}
        replies = {r.body: r for r in session.scalars(select(Reply))}
    assert visits["VE-en"].next_appointment_confirmed_at is not None
    assert visits["VE-es"].next_appointment_reschedule_at is not None
    assert replies["C"].handled_at is not None and replies["R"].handled_at is None
