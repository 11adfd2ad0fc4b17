"""The staff console in a real browser: Debian's chromium driven by Playwright, against
the web app under uvicorn on PostgreSQL, the Twilio-compatible server behind it.

Pages are photographed into docs/screenshots/ when asked (FOLLOWUP_SCREENSHOTS=1).
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pyotp
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from followup.db import transaction
from followup.models.care import Patient
from followup.models.outbox import Message, Purpose
from followup.models.staff import Role
from followup.runtime import Runtime
from followup.staff.accounts import require_second_factor
from tests.browser.harness import photograph, sign_in, text_in
from tests.conftest import tick
from tests.live_server import LiveServer
from tests.peers.twilio_server import TwilioPeer

pytestmark = pytest.mark.browser


def test_sign_in_refuses_wrong_passwords_then_throttles(
    browser: Browser, clinic: tuple[Runtime, LiveServer]
) -> None:
    _, server = clinic
    page = browser.new_page()
    page.goto(f"{server.url}/console/alerts")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/alerts$"))
    photograph(page, "sign-in")
    for attempt in range(5):
        sign_in(page, server, "maria", f"not the password {attempt}")
        expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
    sign_in(page, server, "maria")
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    page.close()


def test_a_clinician_gives_a_second_factor_the_role_requires(
    browser: Browser, clinic: tuple[Runtime, LiveServer]
) -> None:
    runtime, server = clinic
    with transaction(runtime.sessions) as session:
        require_second_factor(session, Role.CLINICIAN, True)
    page = browser.new_page()
    sign_in(page, server, "lee")
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    photograph(page, "second-factor-setup")
    secret = page.get_by_test_id("totp-secret").inner_text()
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    # The step before's code (drift is allowed): the next sign-in's is a later one.
    page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() - 30))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Open alerts")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server, "lee")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Open alerts")).to_be_visible()
    page.close()


def test_an_emergency_appears_without_a_reload_is_acknowledged_and_answered(
    browser: Browser, clinic: tuple[Runtime, LiveServer], twilio_server: TwilioPeer
) -> None:
    runtime, server = clinic
    page = browser.new_page()
    sign_in(page, server, "lee")
    expect(page.get_by_text("No open alerts.")).to_be_visible()
    text_in(server, "I can't feel my legs and lost bladder control", "SMe1")
    # The page refreshes its table by itself: no reload here.
    row = page.get_by_role("row", name=re.compile("emergency"))
    expect(row).to_be_visible(timeout=15_000)
    photograph(page, "alerts")
    row.get_by_role("link", name=re.compile(r"^#\d+$")).click()
    expect(page.locator("q", has_text="lost bladder control")).to_be_visible()
    photograph(page, "alert")
    page.get_by_label("What you did (optional)").fill("Called, sent to the ER")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("Acknowledged by lee")).to_be_visible()
    page.get_by_role("link", name="Open the conversation").click()
    photograph(page, "conversation")
    page.get_by_label("Your answer (no diagnosis in a text)").fill(
        "Dr. Lee here. Please call us back when you can."
    )
    page.get_by_role("button", name="Send").click()
    with runtime.sessions() as session:
        answer = session.scalars(select(Message).where(Message.purpose == Purpose.ANSWER)).one()
    tick(runtime, answer.due_at + timedelta(seconds=1))
    bodies = twilio_server.bodies_to("+12015550111")
    assert any(body.startswith("Dr. Lee here. Please call us back") for body in bodies)
    page.reload()
    expect(page.get_by_text("Dr. Lee here. Please call us back")).to_be_visible()
    page.close()


def test_a_campaign_is_built_in_two_languages_confirmed_launched_and_paused(
    browser: Browser, clinic: tuple[Runtime, LiveServer], twilio_server: TwilioPeer
) -> None:
    runtime, server = clinic
    with transaction(runtime.sessions) as session:
        session.scalars(select(Patient).where(Patient.ref == "P2")).one().language = "es"
    page = browser.new_page()
    sign_in(page, server, "maria")
    page.goto(f"{server.url}/console/campaigns/new")
    # A "/" in the name is only a label: the campaign's address is its slug.
    page.get_by_label("Name", exact=True).fill("Hoboken 12/2026 hours")
    page.get_by_label("English text message (use").fill(
        "Hi {{ patient.first_name }}, we now open Saturdays."
    )
    page.get_by_label("Hoboken").check()
    page.get_by_label("Messages per second").fill("0.5")
    # The preview follows the form as it is filled in (and on the button without script):
    # a count per language, and what the Spanish speaker gets without a Spanish text.
    expect(page.get_by_test_id("recipients")).to_have_text("2", timeout=10_000)
    expect(page.get_by_test_id("language-es")).to_have_text("Spanish 1")
    expect(page.get_by_test_id("without-text-es")).to_contain_text("they get the English text")
    page.get_by_label("Skip them").check()
    expect(page.get_by_test_id("without-text-es")).to_contain_text("they are skipped")
    expect(page.get_by_test_id("recipients")).to_have_text("1")
    page.get_by_label("Spanish text message (use").fill(
        "Hola {{ patient.first_name }}, ahora abrimos los sabados."
    )
    expect(page.get_by_test_id("recipients")).to_have_text("2", timeout=10_000)
    expect(page.get_by_test_id("sample-es")).to_contain_text("Hola Ana, ahora abrimos")
    expect(page.get_by_test_id("sample-en")).to_contain_text("Hi Pat, we now open Saturdays.")
    photograph(page, "campaign-new")
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("heading", name="Hoboken 12/2026 hours")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/console/campaigns/hoboken-12-2026-hours$"))
    page.get_by_role("link", name="Launch…").click()
    expect(page.get_by_test_id("consequence")).to_have_text(
        "Send to 2 patients: 2 by text; this cannot be undone."
    )
    expect(page.get_by_test_id("consequences")).to_contain_text("Spanish: 1")
    with runtime.sessions() as session:
        assert session.scalars(select(Message).where(Message.campaign_id.is_not(None))).all() == []
    page.get_by_role("button", name="Yes, launch").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("running")
    expect(page.get_by_test_id("progress-scheduled")).to_have_text("2")
    with runtime.sessions() as session:
        first = min(session.scalars(select(Message.due_at).where(Message.campaign_id.is_not(None))))
    tick(runtime, first + timedelta(seconds=1))
    # One sent, one still waiting for its slot: the page shows it by itself, and why.
    expect(page.get_by_test_id("progress-sent")).to_have_text("1", timeout=15_000)
    expect(page.get_by_test_id("waiting")).to_contain_text(
        re.compile("waiting for its slot|due now: goes with the next dispatch")
    )
    photograph(page, "campaign")
    page.get_by_role("link", name="Pause…").click()
    expect(page.get_by_test_id("consequence")).to_contain_text("Pause: 1 waiting messages")
    page.get_by_role("button", name="Yes, pause").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("paused")
    assert len(twilio_server.messages) == 1
    assert any(
        body.startswith(("Hi Pat", "Hola Ana"))
        for body in twilio_server.bodies_to("+12015550111")
        + twilio_server.bodies_to("+12015550112")
    )
    page.goto(f"{server.url}/console/campaigns")
    photograph(page, "campaigns")
    page.close()


def test_front_desk_cannot_reach_admin_pages_or_acknowledge(
    browser: Browser, clinic: tuple[Runtime, LiveServer]
) -> None:
    _, server = clinic
    text_in(server, "the pain is much worse, 9 out of 10 now", "SMa1")
    page = browser.new_page()
    sign_in(page, server, "maria")
    expect(page.get_by_role("link", name="Staff")).to_have_count(0)
    assert page.goto(f"{server.url}/console/staff").status == 403  # type: ignore[union-attr]
    page.goto(f"{server.url}/console/alerts/1")
    expect(
        page.get_by_text("Reply text and acknowledging need the clinician role.")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    page.goto(f"{server.url}/console/inbox")
    photograph(page, "inbox")
    page.goto(f"{server.url}/console/patients?q=Doe")
    photograph(page, "patients")
    page.close()


def test_admin_and_clinician_pages(browser: Browser, clinic: tuple[Runtime, LiveServer]) -> None:
    runtime, server = clinic
    for n, pain in enumerate((3, 5, 8, 6)):
        text_in(server, f"pain is {pain} today", f"SMp{n}")
    page = browser.new_page()
    sign_in(page, server, "ana")
    page.goto(f"{server.url}/console/patients/P1")
    expect(page.get_by_role("img", name=re.compile("Pain scores over time"))).to_be_visible()
    photograph(page, "patient")
    page.goto(f"{server.url}/console/health")
    photograph(page, "delivery")
    page.goto(f"{server.url}/console/staff")
    page.get_by_label("Name", exact=True).fill("nina")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_test_id("set-password-link")).to_contain_text("/console/set-password/")
    photograph(page, "staff")
    page.goto(f"{server.url}/console/audit")
    expect(page.get_by_role("cell", name="read-patient").first).to_be_visible()
    photograph(page, "audit")
    # Outcomes: the figures say when they were taken; Refresh now, by keyboard, keeps
    # the period chosen and takes a new snapshot (one more in the audit log).
    page.goto(f"{server.url}/console/outcomes?start=2026-01-01&end=2026-12-31&by=office")
    expect(page.get_by_text(re.compile(r"Figures as of .+ E[SD]T"))).to_be_visible()
    page.get_by_role("button", name="Refresh now").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/outcomes\?start=2026-01-01&end=2026-12-31"))
    expect(page.get_by_label("By")).to_have_value("office")
    photograph(page, "outcomes")
    page.goto(f"{server.url}/console/audit")
    expect(page.get_by_role("cell", name="refresh-outcomes")).to_be_visible()
    page.close()
