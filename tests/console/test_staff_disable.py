"""Disable asks first (issue 22, point 3): a confirmation page says what it ends; an
admin can never disable themselves or the last active admin (refused on the server,
with a clear reason, nothing changed)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import utcnow
from followup.models.replies import Reply
from followup.models.staff import ApiToken, Role, StaffMember
from followup.runtime import Runtime
from followup.staff.members import check_disable, disable, issue_token
from tests.console.test_console import form_token, make_staff, sign_in
from tests.web.test_web import sent_welcome, sms


def member(runtime: Runtime, name: str) -> StaffMember:
    with runtime.sessions() as session:
        return session.scalars(select(StaffMember).where(StaffMember.name == name)).one()


@pytest.fixture
def admins(web_runtime: Runtime, console: TestClient) -> TestClient:
    """Adele (admin, signed in) and Maria (staff, with a token and an assigned reply)."""
    make_staff(web_runtime, "adele", Role.ADMIN)
    make_staff(web_runtime, "maria", Role.STAFF)
    sent_welcome(web_runtime)
    sms(console, "thanks, all good")
    with transaction(web_runtime.sessions) as session:
        maria = session.scalars(select(StaffMember).where(StaffMember.name == "maria")).one()
        issue_token(session, maria)
        issue_token(session, maria)
        session.execute(update(Reply).values(assigned_to=maria.id))
    sign_in(console, "adele")
    return console


def test_disable_asks_first_and_says_what_it_ends(web_runtime: Runtime, admins: TestClient) -> None:
    maria = member(web_runtime, "maria")
    staff_page = admins.get("/console/staff").text
    assert f'href="/console/staff/{maria.id}/disable"' in staff_page
    # The admin's own row offers no Disable at all.
    adele = member(web_runtime, "adele")
    assert f"/console/staff/{adele.id}/disable" not in staff_page
    confirm = admins.get(f"/console/staff/{maria.id}/disable")
    assert confirm.status_code == 200
    assert "Disable maria?" in confirm.text
    assert "Their API tokens stop working (2 revoked)." in confirm.text
    assert "Replies assigned to maria and not yet handled (1)" in confirm.text
    assert f'action="/console/staff/{maria.id}/disable"' in confirm.text
    assert member(web_runtime, "maria").disabled_at is None  # looking changes nothing
    done = admins.post(
        f"/console/staff/{maria.id}/disable", data={"csrf": form_token(confirm.text)}
    )
    assert done.status_code == 200 and "maria (disabled)" in done.text
    assert member(web_runtime, "maria").disabled_at is not None
    with web_runtime.sessions() as session:
        assert (
            session.scalars(select(ApiToken.revoked_at)).all()
            == [member(web_runtime, "maria").disabled_at] * 2
        )


def test_an_admin_cannot_disable_themselves(web_runtime: Runtime, admins: TestClient) -> None:
    adele = member(web_runtime, "adele")
    csrf = form_token(admins.get("/console/staff").text)
    for answer in (
        admins.get(f"/console/staff/{adele.id}/disable"),
        admins.post(f"/console/staff/{adele.id}/disable", data={"csrf": csrf}),
    ):
        assert answer.status_code == 400
        assert "You cannot disable yourself: another admin must do it." in answer.text
    assert member(web_runtime, "adele").disabled_at is None
    assert admins.get("/console/staff").status_code == 200  # still signed in


def test_the_last_active_admin_cannot_be_disabled(web_runtime: Runtime, admins: TestClient) -> None:
    make_staff(web_runtime, "bo", Role.ADMIN)
    bo = member(web_runtime, "bo")
    adele = member(web_runtime, "adele")
    maria = member(web_runtime, "maria")
    with transaction(web_runtime.sessions) as session:
        check_disable(session, session.get_one(StaffMember, bo.id), by_id=adele.id)  # two left
        # Whoever asks (a script, a stale page): the one admin left stays.
        session.get_one(StaffMember, bo.id).disabled_at = utcnow()
    with transaction(web_runtime.sessions) as session:
        with pytest.raises(InvalidInput, match="adele is the last active admin"):
            disable(session, session.get_one(StaffMember, adele.id), now=utcnow(), by_id=maria.id)
        with pytest.raises(InvalidInput, match="bo is disabled already"):
            check_disable(session, session.get_one(StaffMember, bo.id), by_id=adele.id)
    assert member(web_runtime, "adele").disabled_at is None
