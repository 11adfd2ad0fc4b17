"""The staff console without a browser: passwords, second factors, sessions, CSRF and
roles, through the real app (Starlette's test client); the browser tests are in
tests/browser/."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.outbox import Message, Purpose
from followup.models.replies import Alert
from followup.models.staff import AuditEntry, Role, StaffMember, StaffSession
from followup.runtime import Runtime
from followup.staff.accounts import (
    SetPasswordLinks,
    password_matches,
    require_second_factor,
    set_password,
)
from followup.staff.members import add_staff
from tests.conftest import PUBLIC, add_patient, tick
from tests.peers.twilio_server import TwilioPeer
from tests.web.test_web import sent_welcome, sms
from tests.zones import zone_where_it_is

PASSWORD = "correct horse battery"


def make_staff(runtime: Runtime, name: str, role: Role, *, totp: str | None = None) -> None:
    with transaction(runtime.sessions) as session:
        member = add_staff(session, name=name, role=role)
        set_password(member, PASSWORD)
        member.totp_secret = totp


def form_token(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    form = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"name": name, "password": password, "csrf": form_token(form.text)},
        follow_redirects=False,
    )


def test_passwords_are_argon2_and_never_stored_plain(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        member = add_staff(session, name="maria", role=Role.STAFF)
        with pytest.raises(InvalidInput, match="12 characters"):
            set_password(member, "short")
        set_password(member, PASSWORD)
        assert (member.password_hash or "").startswith("$argon2id$")
        assert PASSWORD not in (member.password_hash or "")
        assert password_matches(member, PASSWORD)
        assert not password_matches(member, PASSWORD + "!")
        assert not password_matches(None, PASSWORD)
        member.disabled_at = member.created_at
        assert not password_matches(member, PASSWORD)


def tampered(token: str) -> str:
    """The token with one character of its signature changed (not its last: base64's
    last character may carry unused bits)."""
    changed = "A" if token[-5] != "A" else "B"
    return token[:-5] + changed + token[-4:]


def test_a_set_password_link_works_once(runtime: Runtime) -> None:
    links = SetPasswordLinks(runtime.settings)
    with transaction(runtime.sessions) as session:
        url = links.url(add_staff(session, name="lee", role=Role.CLINICIAN))
    token = url.rsplit("/", 1)[1]
    with transaction(runtime.sessions) as session:
        set_password(links.member(session, token), PASSWORD)
    with transaction(runtime.sessions) as session, pytest.raises(InvalidInput, match="used"):
        links.member(session, token)
    with transaction(runtime.sessions) as session, pytest.raises(InvalidInput, match="expired"):
        links.member(session, tampered(token))


def test_an_unsigned_visitor_is_sent_to_sign_in_and_back(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    away = console.get("/console/inbox", follow_redirects=False)
    assert (
        away.status_code == 303 and away.headers["location"] == "/console/login?next=/console/inbox"
    )
    assert sign_in(console, "maria", "wrong password!").status_code == 401
    signed = sign_in(console, "maria")
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert console.get("/console/inbox").status_code == 200


def test_sign_in_is_throttled_per_account_with_a_clear_message(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    answers = [sign_in(console, "maria", f"guess number {n}") for n in range(6)]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert "Too many failed sign-ins" in answers[-1].text
    # Even the right password waits now: the throttle is on the account.
    assert sign_in(console, "maria").status_code == 429


def test_every_form_needs_the_sessions_csrf_token(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    add_patient(web_runtime)
    forged = console.post(
        "/console/patients/P1/series", data={"action": "pause", "reason": "x", "csrf": "forged"}
    )
    assert forged.status_code == 403
    assert (
        console.post("/console/login", data={"name": "maria", "password": PASSWORD}).status_code
        == 403
    )
    page = console.get("/console/patients/P1")
    ok = console.post(
        "/console/patients/P1/series",
        data={"action": "pause", "reason": "asked for a break", "csrf": form_token(page.text)},
    )
    assert ok.status_code == 200 and "Paused" in ok.text


def test_roles_limit_pages_and_actions(web_runtime: Runtime, console: TestClient) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    assert console.get("/console/staff").status_code == 403
    assert console.get("/console/audit").status_code == 403
    sent_welcome(web_runtime)
    sms(console, "I can't control my bladder since this morning")
    page = console.get("/console/alerts/1")
    assert page.status_code == 200 and "since this morning" not in page.text  # clinician only
    acked = console.post("/console/alerts/1/ack", data={"csrf": form_token(page.text)})
    assert acked.status_code == 403
    with web_runtime.sessions() as session:
        assert session.scalars(select(Alert.acknowledged_at)).one() is None


def test_a_role_that_needs_a_second_factor_sets_one_up_then_gives_it(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "lee", Role.CLINICIAN)
    with transaction(web_runtime.sessions) as session:
        require_second_factor(session, Role.CLINICIAN, True)
    assert sign_in(console, "lee").headers["location"] == "/console/login/setup"
    assert (
        console.get("/console/inbox", follow_redirects=False).headers["location"]
        == "/console/login/code"
    )
    setup = console.get("/console/login/setup")
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', setup.text)
    assert secret
    sealed = re.search(r'name="sealed" value="([^"]+)"', setup.text)
    assert sealed
    wrong = console.post(
        "/console/login/setup",
        data={"csrf": form_token(setup.text), "sealed": sealed.group(1), "code": "000000"},
    )
    assert wrong.status_code == 401
    # The code of the step before (clock drift allowed): the next sign-in's code is later.
    code = pyotp.TOTP(secret.group(1)).at(time.time() - 30)
    done = console.post(
        "/console/login/setup",
        data={"csrf": form_token(setup.text), "sealed": sealed.group(1), "code": code},
        follow_redirects=False,
    )
    assert done.status_code == 303 and console.get("/console/inbox").status_code == 200
    # Next time: the code is asked for, and a wrong one is refused.
    console.cookies.clear()
    sign_in(console, "lee")
    form = console.get("/console/login/code")
    assert (
        console.post(
            "/console/login/code", data={"csrf": form_token(form.text), "code": "123"}
        ).status_code
        == 401
    )
    good = console.post(
        "/console/login/code",
        data={"csrf": form_token(form.text), "code": pyotp.TOTP(secret.group(1)).now()},
        follow_redirects=False,
    )
    assert good.status_code == 303


def test_sessions_end_when_idle_on_sign_out_and_when_disabled(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    with transaction(web_runtime.sessions) as session:
        started = session.scalars(select(StaffSession)).one()
        session.execute(
            update(StaffSession).values(seen_at=started.seen_at - timedelta(minutes=31))
        )
    assert console.get("/console/inbox", follow_redirects=False).status_code == 303
    sign_in(console, "maria")
    page = console.get("/console/inbox")
    console.post("/console/logout", data={"csrf": form_token(page.text)})
    assert console.get("/console/inbox", follow_redirects=False).status_code == 303
    sign_in(console, "maria")
    with transaction(web_runtime.sessions) as session:
        session.execute(update(StaffMember).values(disabled_at=started.created_at))
    assert console.get("/console/inbox", follow_redirects=False).status_code == 303


def test_the_alert_link_in_a_staff_text_lands_on_the_alert_after_sign_in(
    web_runtime: Runtime, console: TestClient, twilio_server: TwilioPeer
) -> None:
    make_staff(web_runtime, "lee", Role.CLINICIAN)
    sent_welcome(web_runtime)
    sms(console, "sharp stinging pain since this morning, 8/10")
    with web_runtime.sessions() as session:
        notice = session.scalars(select(Message).where(Message.purpose == Purpose.ALERT)).first()
    assert notice is not None
    tick(web_runtime, notice.due_at + timedelta(seconds=1))
    [staff_text] = twilio_server.bodies_to("+12015550900")
    link = staff_text.rsplit(" ", 1)[-1].removeprefix(PUBLIC)
    assert re.fullmatch(r"/console/alerts/\d+", link)
    assert (
        console.get(link, follow_redirects=False).headers["location"]
        == f"/console/login?next={link}"
    )
    form = console.get(f"/console/login?next={link}")
    landed = console.post(
        "/console/login",
        data={"name": "lee", "password": PASSWORD, "csrf": form_token(form.text), "next": link},
    )
    assert "Pat Doe" in landed.text and "sharp stinging pain" in landed.text
    acknowledged = console.post(
        f"{link}/ack", data={"csrf": form_token(landed.text), "note": "called, resting"}
    )
    assert "Acknowledged by lee" in acknowledged.text
    with web_runtime.sessions() as session:
        audited = session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "lee")).all()
    assert "read-alert" in audited


def test_the_inbox_filters_assigns_and_marks_replies_handled(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    make_staff(web_runtime, "lee", Role.CLINICIAN)
    sent_welcome(web_runtime)
    sms(console, "thanks, doing fine", sid="SM1")
    sms(console, "numb groin since I lifted a box", sid="SM2")
    sms(console, "who is this?", sid="SM3", sender="+12015550999")
    sign_in(console, "maria")
    page = console.get("/console/inbox?triage=emergency")
    assert "numb groin" not in page.text and "(reply text: clinician role)" in page.text
    assert "thanks, doing fine" not in page.text  # filtered out
    unknown = console.get("/console/inbox?unknown=yes")
    assert "+12015550999" in unknown.text and "Pat Doe" not in unknown.text
    csrf = form_token(page.text)
    console.post("/console/replies/2/assign", data={"csrf": csrf, "to": "lee"})
    # The emergency raised alert #1: only acknowledging it handles the reply.
    refused = console.post("/console/replies/2/handled", data={"csrf": csrf})
    assert refused.status_code == 400 and "acknowledging alert #1" in refused.text
    console.post("/console/replies/1/handled", data={"csrf": csrf})
    with web_runtime.sessions() as session:
        from followup.models.replies import Reply

        emergency, routine = session.get_one(Reply, 2), session.get_one(Reply, 1)
    assert emergency.handled_at is None and emergency.assigned_to is not None
    assert routine.handled_by == "maria"
    # The box takes a name in any case, and its placeholder, "nobody", unassigns.
    for typed, to_lee in ((" LEE ", True), ("nobody", False), ("Lee", True), ("", False)):
        console.post("/console/replies/3/assign", data={"csrf": csrf, "to": typed})
        with web_runtime.sessions() as session:
            assigned = session.get_one(Reply, 3).assigned_to
        assert (assigned == emergency.assigned_to) is to_lee and (assigned is None) is not to_lee
    assert "handled by maria" in console.get("/console/inbox?handled=yes").text
    not_yet = console.get("/console/inbox?handled=no").text
    assert "handled by maria" not in not_yet and "handled through" in not_yet


def test_consent_changes_on_a_documented_request_and_is_recorded(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    add_patient(web_runtime)
    sign_in(console, "maria")
    page = console.get("/console/patients/P1")
    csrf = form_token(page.text)
    data = {"csrf": csrf, "channel": "sms", "purpose": "campaign", "granted": "no"}
    assert (
        console.post("/console/patients/P1/consent", data=data | {"reason": " "}).status_code == 400
    )
    changed = console.post("/console/patients/P1/consent", data=data | {"reason": "asked by phone"})
    assert "staff: asked by phone (maria)" in changed.text


def test_only_a_clinician_texts_a_safety_call_back_at_night_and_it_is_recorded(
    web_runtime: Runtime, console: TestClient, twilio_server: TwilioPeer
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    make_staff(web_runtime, "lee", Role.CLINICIAN)
    # A patient for whom it is three in the morning.
    add_patient(web_runtime, timezone=zone_where_it_is(3, datetime.now(UTC)))
    sign_in(console, "maria")
    page = console.get("/console/patients/P1/conversation")
    assert "Safety call-back" not in page.text
    refused = console.post(
        "/console/patients/P1/answer",
        data={
            "csrf": form_token(page.text),
            "channel": "sms",
            "text": "Call us",
            "call_back": "yes",
        },
    )
    assert refused.status_code == 400 and "only a clinician" in refused.text
    console.cookies.clear()
    sign_in(console, "lee")
    page = console.get("/console/patients/P1/conversation")
    console.post(
        "/console/patients/P1/answer",
        data={
            "csrf": form_token(page.text),
            "channel": "sms",
            "text": "Call us now",
            "call_back": "yes",
        },
    )
    with web_runtime.sessions() as session:
        answer = session.scalars(select(Message).where(Message.purpose == Purpose.ANSWER)).one()
        audited = session.scalars(select(AuditEntry.detail).where(AuditEntry.actor == "lee")).all()
    assert answer.ignore_quiet_hours and any("safety call-back" in d for d in audited)
    console.post(
        "/console/patients/P1/answer",
        data={"csrf": form_token(page.text), "channel": "sms", "text": "See you Monday"},
    )
    tick(web_runtime, answer.due_at + timedelta(minutes=1))
    # The call-back goes out at once; the ordinary answer waits for the morning.
    [sent] = twilio_server.bodies_to("+12015550111")
    assert sent.startswith("Call us now")
    with web_runtime.sessions() as session:
        waiting = session.scalars(
            select(Message).where(Message.purpose == Purpose.ANSWER, Message.id != answer.id)
        ).one()
    assert (
        waiting.status == "scheduled"
        and waiting.last_error == "outside the patient's sending hours"
    )


def test_staff_settle_a_message_nobody_can_confirm_from_the_delivery_page(
    web_runtime: Runtime, console: TestClient
) -> None:
    from tests.delivery.test_dispatch import rows
    from tests.delivery.test_reconcile import make_unknown

    make_staff(web_runtime, "maria", Role.STAFF)
    from tests.conftest import enrol_visit

    enrol_visit(web_runtime, add_patient(web_runtime, preferred="email"))
    email = next(r for r in rows(web_runtime) if r.channel == "email")
    make_unknown(web_runtime, email, email.due_at, "pat@example.com")
    with transaction(web_runtime.sessions) as session:
        session.execute(update(Message).where(Message.id == email.id).values(settle_at=None))
    sign_in(console, "maria")
    page = console.get("/console/health")
    assert "Nobody can confirm these (1)" in page.text
    settled = console.post(
        f"/console/messages/{email.id}/settle",
        data={"csrf": form_token(page.text), "action": "mark-sent", "reason": "patient has it"},
    )
    assert "Nobody can confirm these (0)" in settled.text


def test_staff_add_asks_for_a_password_and_never_echoes_it(runtime: Runtime) -> None:
    from click.testing import CliRunner

    from followup.cli.main import main

    cli = CliRunner(env={"FOLLOWUP_DATABASE_URL": runtime.settings.database_url})
    added = cli.invoke(
        main, ["staff", "add", "ana", "--role", "admin"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert added.exit_code == 0 and PASSWORD not in added.output
    with runtime.sessions() as session:
        member = session.scalars(select(StaffMember)).one()
    assert password_matches(member, PASSWORD)


def test_an_over_long_campaign_name_from_the_builder_is_refused_not_stored(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    form = console.get("/console/campaigns/new")
    saved = console.post(
        "/console/campaigns/new",
        data={
            "csrf": form_token(form.text),
            "name": "x" * 101,
            "channel": "sms",
            "sms_text": "Hi {{ patient.first_name }}, we open Saturdays.",
            "rate": "1",
            "save": "yes",
        },
    )
    assert saved.status_code == 400 and "at most 100 characters" in saved.text
    with web_runtime.sessions() as session:
        from followup.models.campaigns import Campaign

        assert session.scalars(select(Campaign)).all() == []


def test_an_unknown_numbers_alert_shows_the_number_the_text_and_which_reader_fired(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "lee", Role.CLINICIAN)
    sms(console, "cantfeelmylegs", sender="+12015550777")
    sign_in(console, "lee")
    table = console.get("/console/alerts/table")
    assert 'unknown number<br><a href="tel:+12015550777">(201) 555-0777</a>' in table.text
    assert "second reader only" in table.text
    page = console.get("/console/alerts/1")
    assert page.status_code == 200
    assert "Unknown number" in page.text and 'href="tel:+12015550777"' in page.text
    assert "cantfeelmylegs" in page.text and "the second reader only" in page.text
    assert "emergency probability" in page.text
