"""The smaller holes of issue 20 (points 7, 8 and 10) through the real app: sign-out
needs its CSRF token, status lines are the server's, bidi controls are neutralised,
test-sends go only to the member's own recorded contacts, and the security events
are in the audit log, which admins filter and page."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from followup.db import transaction
from followup.models.base import utcnow
from followup.models.campaigns import Campaign
from followup.models.care import Patient
from followup.models.staff import AuditEntry, Role, StaffMember
from followup.runtime import Runtime
from followup.staff.accounts import require_second_factor
from followup.staff.members import add_staff
from tests.conftest import add_patient
from tests.console.test_console import PASSWORD, form_token, make_staff, sign_in
from tests.peers.twilio_server import TwilioPeer
from tests.web.test_web import sent_welcome, sms

BIDI = "\u202e\u2066\u200f\u061c"


def audited(runtime: Runtime) -> list[tuple[str, str, str | None, int | None]]:
    with runtime.sessions() as session:
        return [
            (e.actor, e.action, e.address, e.patient_id)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def saturday(runtime: Runtime) -> None:
    from followup.campaigns.lifecycle import create_campaign
    from followup.campaigns.segments import Segment

    with transaction(runtime.sessions) as session:
        create_campaign(
            session,
            settings=runtime.settings,
            renderer=runtime.renderer,
            name="saturday",
            channel="sms",
            segment=Segment.parse(),
            by="maria",
            sms_text="Hi {{ patient.first_name }}, we open on Saturdays.",
        )


def test_a_sign_out_posted_from_elsewhere_changes_nothing(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    forged = console.post("/console/logout", data={"csrf": "from-another-site"})
    assert forged.status_code == 403
    assert console.get("/console/inbox", follow_redirects=False).status_code == 200


def test_a_link_cannot_make_the_console_say_anything(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    saturday(web_runtime)
    sign_in(console, "maria")
    page = console.get("/console/campaigns/saturday?note=Your+session+has+expired.+Call+IT")
    assert page.status_code == 200 and "Call IT" not in page.text


def test_a_test_send_goes_only_to_the_members_own_recorded_phone(
    web_runtime: Runtime, console: TestClient, twilio_server: TwilioPeer
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    make_staff(web_runtime, "ana", Role.ADMIN)
    saturday(web_runtime)
    sign_in(console, "maria")
    page = console.get("/console/campaigns/saturday")
    anywhere = console.post(
        "/console/campaigns/saturday/test-send",
        data={"csrf": form_token(page.text), "to": "+12015550177"},
    )
    assert twilio_server.bodies_to("+12015550177") == []
    none_yet = console.post(
        "/console/campaigns/saturday/test-send",
        data={"csrf": form_token(page.text), "channel": "sms"},
    )
    assert "no phone of yours is on record" in none_yet.text
    assert anywhere.status_code in {200, 400}  # no channel: the console's error page
    # An admin records maria's own phone; the test goes there, and the page says so once.
    console.cookies.clear()
    sign_in(console, "ana")
    with web_runtime.sessions() as session:
        maria = session.scalar(select(StaffMember.id).where(StaffMember.name == "maria"))
    staff_page = console.get("/console/staff")
    console.post(
        f"/console/staff/{maria}/contacts",
        data={"csrf": form_token(staff_page.text), "phone": "(201) 555-0166", "email": ""},
    )
    console.cookies.clear()
    sign_in(console, "maria")
    page = console.get("/console/campaigns/saturday")
    sent = console.post(
        "/console/campaigns/saturday/test-send",
        data={"csrf": form_token(page.text), "channel": "sms"},
    )
    assert "Test sent to your phone." in sent.text
    assert len(twilio_server.bodies_to("+12015550166")) == 1
    assert "Test sent" not in console.get("/console/campaigns/saturday").text  # once


def test_bidi_controls_are_neutralised_on_pages_and_in_staff_messages(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "lee", Role.CLINICIAN)
    sent_welcome(web_runtime)
    with transaction(web_runtime.sessions) as session:
        session.execute(update(Patient).values(last_name=f"Doe{BIDI}gnorw"))
    sms(console, f"pain is 3 {BIDI}01/01 ffo")
    sign_in(console, "lee")
    for path in ("/console/inbox", "/console/patients/P1", "/console/patients/P1/conversation"):
        page = console.get(path).text
        assert "gnorw" in page or "01/01 ffo" in page, path
        assert not any(control in page for control in BIDI), path
    staff_text = web_runtime.renderer.staff(
        "alert-email.txt",
        {"alert": {"id": 1, "level": "emergency", "step": 0}, "link": f"https://x/{BIDI}y"},
    )
    assert "https://x/y" in staff_text


def test_security_events_are_audited_with_who_when_and_from_where(
    web_runtime: Runtime, console: TestClient
) -> None:
    secret = pyotp.random_base32()
    make_staff(web_runtime, "lee", Role.CLINICIAN, totp=secret)
    make_staff(web_runtime, "ana", Role.ADMIN)
    sent_welcome(web_runtime)
    sms(console, "I can't control my bladder since this morning")
    # An alert's reply is handled through its alert; a routine one in the inbox.
    sms(console, "thanks, see you thursday", sid="SMroutine")
    for attempt in range(5):
        sign_in(console, "lee", f"wrong guess {attempt}")
    with transaction(web_runtime.sessions) as session:
        require_second_factor(session, Role.ADMIN, False)
    console.cookies.clear()
    signed = console.post(
        "/console/login",
        data={
            "name": "ana",
            "password": PASSWORD,
            "csrf": form_token(console.get("/console/login").text),
        },
    )
    csrf = form_token(signed.text)
    with web_runtime.sessions() as session:
        lee = session.scalar(select(StaffMember.id).where(StaffMember.name == "lee"))
    console.post(f"/console/staff/{lee}/token", data={"csrf": csrf})
    console.post(f"/console/staff/{lee}/second-factor", data={"csrf": csrf})
    console.post("/console/tokens/1/revoke", data={"csrf": csrf})
    console.post("/console/alerts/1/ack", data={"csrf": csrf, "note": "called"})
    console.post("/console/replies/1/assign", data={"csrf": csrf, "to": "lee"})
    console.post("/console/replies/2/handled", data={"csrf": csrf})
    console.post(
        "/console/patients/P1/consent",
        data={
            "csrf": csrf,
            "channel": "sms",
            "purpose": "campaign",
            "granted": "no",
            "reason": "asked by phone",
        },
    )
    events = audited(web_runtime)
    actions = [(actor, action) for actor, action, _, _ in events]
    assert actions.count(("lee", "sign-in-failed")) == 5
    assert ("lee", "sign-in-locked") in actions
    for expected in (
        ("ana", "sign-in"),
        ("ana", "staff-token"),
        ("ana", "staff-second-factor"),
        ("ana", "token-revoke"),
        ("ana", "alert-acknowledge"),
        ("ana", "reply-assign"),
        ("ana", "reply-handled"),
        ("ana", "consent-change"),
    ):
        assert expected in actions, expected
    assert all(address == "testclient" for _, _, address, _ in events if address is not None)
    with web_runtime.sessions() as session:
        patient = session.scalar(select(Patient.id))
    touched = {action for _, action, _, patient_id in events if patient_id == patient}
    assert {"alert-acknowledge", "reply-handled", "reply-assign", "consent-change"} <= touched


def test_the_second_factor_set_up_and_a_wrong_code_are_audited(
    web_runtime: Runtime, console: TestClient
) -> None:
    import re

    make_staff(web_runtime, "lee", Role.CLINICIAN)
    with transaction(web_runtime.sessions) as session:
        require_second_factor(session, Role.CLINICIAN, True)
    sign_in(console, "lee")
    setup = console.get("/console/login/setup").text
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', setup)
    sealed = re.search(r'name="sealed" value="([^"]+)"', setup)
    assert secret and sealed
    console.post(
        "/console/login/setup",
        data={
            "csrf": form_token(setup),
            "sealed": sealed.group(1),
            "code": pyotp.TOTP(secret.group(1)).now(),
        },
    )
    console.cookies.clear()
    sign_in(console, "lee")
    form = console.get("/console/login/code").text
    console.post("/console/login/code", data={"csrf": form_token(form), "code": "000000"})
    actions = [action for actor, action, _, _ in audited(web_runtime) if actor == "lee"]
    assert actions == [
        "sign-in-password",
        "second-factor-set-up",
        "sign-in-password",
        "second-factor-failed",
    ]


def test_admins_filter_the_audit_log_by_member_patient_action_and_date_with_paging(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "ana", Role.ADMIN)
    add_patient(web_runtime)
    add_patient(web_runtime, "P2", phone="+12015550122", email="lee@example.com")
    with transaction(web_runtime.sessions) as session:
        add_staff(session, name="maria", role=Role.STAFF)
        ids = dict(session.execute(select(Patient.ref, Patient.id)).all())
        old = utcnow() - timedelta(days=40)
        for n in range(130):
            session.add(
                AuditEntry(
                    at=old + timedelta(minutes=n),
                    actor="maria" if n % 2 else "lee",
                    action="read-patient",
                    patient_id=ids["P1"] if n % 3 else ids["P2"],
                    detail=f"entry {n}",
                )
            )
    sign_in(console, "ana")
    first = console.get("/console/audit?actor=maria&patient=P1&action=read-patient").text
    rows = first.count("entry ")
    expected = [n for n in range(130) if n % 2 and n % 3]
    assert rows == len(expected) and f"entry {expected[-1]} (patient P1)" in first
    # A day on the clinic's clock, as the filter reads it (not the UTC date).
    clinic = ZoneInfo(web_runtime.settings.clinic_timezone)
    day = (old + timedelta(minutes=10)).astimezone(clinic).date().isoformat()
    everything = console.get("/console/audit?action=read-patient").text
    assert everything.count("entry ") == 50 and "130 entries, showing 1–50" in everything
    pages = [everything]
    while 'rel="next"' in pages[-1]:
        after = pages[-1].split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
        assert "action=read-patient" in after  # the filter is kept
        pages.append(console.get(after).text)
    assert [p.count("entry ") for p in pages] == [50, 50, 30]
    assert "showing 101–130" in pages[-1] and "entry 0 (patient P2)" in pages[-1]
    dated = console.get(f"/console/audit?since={day}&until={day}&action=read-patient").text
    assert dated.count("entry ") > 0
    assert console.get("/console/audit?patient=P9").text.count("entry ") == 0
    # From after To is said, not answered with an empty log.
    backwards = console.get("/console/audit?since=2026-11-20&until=2026-11-01")
    assert backwards.status_code == 400
    assert "the From date (2026-11-20) is after the To date (2026-11-01)" in backwards.text
    # An action the log holds none of stays chosen in the box, with nothing listed.
    unheard = console.get("/console/audit?action=campaign-create").text
    assert "<option selected>campaign-create</option>" in unheard and "entry " not in unheard
    with web_runtime.sessions() as session:
        assert session.scalar(select(Campaign.id)) is None  # nothing else was touched
