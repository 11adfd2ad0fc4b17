"""Export CSV (issue 22, point 1): each list's export is every row its page's filters
match (not a page of them), no more than the role sees there, and one audit entry
(who, which list, which filters, how many rows; never the rows)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from followup.care.patients import PatientDetails, save_patient
from followup.db import transaction
from followup.exports.sheet import BOM
from followup.models.base import utcnow
from followup.models.campaigns import Campaign
from followup.models.care import Patient
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.models.replies import Alert
from followup.models.staff import AuditEntry, Role
from followup.replies.alerts import acknowledge
from followup.runtime import Runtime
from tests.console.test_console import make_staff, sign_in
from tests.console.test_hardening import saturday
from tests.web.test_web import sent_welcome, sms

NEW_YORK = ZoneInfo("America/New_York")
SMITHS = 60  # more than the patients page shows (50)
NASTY = '=HYPERLINK("http://evil.example","click")'


@pytest.fixture
def clinic(web_runtime: Runtime, console: TestClient) -> TestClient:
    """P1 with an emergency reply (an alert) and a routine one, sixty Smiths (one of
    them named like a formula), a campaign with results, and one member per role."""
    sent_welcome(web_runtime)
    sms(console, "I can't control my bladder since this morning")
    sms(console, "doing fine, pain 2", sid="SM2")
    with transaction(web_runtime.sessions) as session:
        for n in range(SMITHS):
            details = PatientDetails.parse(
                ref=f"S{n:03}",
                first_name=NASTY if n == 0 else "José",
                last_name="Smith",
                phone=f"+1201555{2000 + n}",
            )
            save_patient(session, details)
    saturday(web_runtime)
    with transaction(web_runtime.sessions) as session:
        campaign = session.scalars(select(Campaign)).one()
        now = utcnow()
        for n, (status, error) in enumerate(
            [(MessageStatus.DELIVERED, None), (MessageStatus.FAILED, "21211 not a number")]
        ):
            session.add(
                Message(
                    patient_id=session.scalar(select(Patient.id).where(Patient.ref == f"S00{n}")),
                    campaign_id=campaign.id,
                    channel="sms",
                    purpose=Purpose.CAMPAIGN,
                    template="campaign",
                    status=status,
                    due_at=now,
                    expires_at=now + timedelta(days=1),
                    body="Hi José, we open on Saturdays.",
                    error_code="21211" if error else None,
                    last_error=error,
                    sent_at=now if error is None else None,
                )
            )
    for role in Role:
        make_staff(web_runtime, role.value, role)
    return console


def table(answer: Any) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.content.startswith(BOM.encode())
    return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


def exports(runtime: Runtime) -> list[tuple[str, str, str]]:
    with runtime.sessions() as session:
        return [
            (e.actor, e.action, e.detail)
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action.like("export-%")).order_by(AuditEntry.id)
            )
        ]


def test_patients_every_match_of_the_search_with_consent_and_formulas_defused(
    web_runtime: Runtime, clinic: TestClient
) -> None:
    sign_in(clinic, "staff")
    answer = clinic.get("/console/patients.csv?q=smith")
    today = utcnow().astimezone(NEW_YORK).date().isoformat()
    assert answer.headers["content-disposition"] == (f'attachment; filename="patients-{today}.csv"')
    rows = table(answer)
    assert len(rows) == SMITHS and {r["last name"] for r in rows} == {"Smith"}
    first = next(r for r in rows if r["ref"] == "S000")
    assert first["first name"] == "'" + NASTY
    assert next(r for r in rows if r["ref"] == "S001")["first name"] == "José"
    assert first["sms care consent"] == "never asked"
    everyone = table(clinic.get("/console/patients.csv"))
    p1 = next(r for r in everyone if r["ref"] == "P1")
    assert len(everyone) == SMITHS + 1 and p1["sms care consent"] == "granted"
    assert p1["phone"] == "(201) 555-0111"  # no leading +, a formula to a spreadsheet
    assert f"added ({NEW_YORK.key})" in p1
    assert exports(web_runtime) == [
        ("staff", "export-patients", f"patients (search=given): {SMITHS} rows"),
        ("staff", "export-patients", f"patients (no filters): {SMITHS + 1} rows"),
    ]


def test_replies_show_the_words_and_pain_only_to_who_reads_them_in_the_inbox(
    web_runtime: Runtime, clinic: TestClient
) -> None:
    sign_in(clinic, "staff")
    rows = {r["triage"]: r for r in table(clinic.get("/console/inbox.csv"))}
    assert rows["emergency"]["text"] == "(clinician role)"
    assert rows["routine"]["text"] == "doing fine, pain 2"
    assert rows["routine"]["pain"] == "(clinician role)"
    assert rows["routine"]["patient ref"] == "P1" and rows["routine"]["unknown number"] == ""
    only = table(clinic.get("/console/inbox.csv?triage=routine&handled=no"))
    assert [r["triage"] for r in only] == ["routine"]
    sign_in(clinic, "clinician")
    rows = {r["triage"]: r for r in table(clinic.get("/console/inbox.csv"))}
    assert "bladder" in rows["emergency"]["text"] and rows["routine"]["pain"] == "2"
    assert [a for _, a, _ in exports(web_runtime)] == ["export-replies"] * 3
    assert exports(web_runtime)[1][2] == "replies (triage=routine, handled=no): 1 rows"


def test_alerts_open_closed_or_both_with_the_closed_pages_filters(
    web_runtime: Runtime, clinic: TestClient
) -> None:
    sign_in(clinic, "staff")
    [opened] = table(clinic.get("/console/alerts.csv?state=open"))
    assert (opened["level"], opened["state"], opened["patient ref"]) == ("emergency", "open", "P1")
    assert "bladder" not in str(opened)  # the alerts list never shows the reply's words
    assert table(clinic.get("/console/alerts.csv?state=closed")) == []
    with transaction(web_runtime.sessions) as session:
        alert_id = session.scalars(select(Alert.id)).one()
        acknowledge(session, alert_id=alert_id, by="clinician", now=utcnow())
    today = utcnow().astimezone(NEW_YORK).date().isoformat()
    [closed] = table(clinic.get(f"/console/alerts.csv?state=closed&since={today}&by=clinician"))
    assert (closed["state"], closed["acknowledged by"]) == ("closed", "clinician")
    assert table(clinic.get("/console/alerts.csv?state=closed&level=attention")) == []
    assert len(table(clinic.get("/console/alerts.csv"))) == 1
    assert clinic.get("/console/alerts.csv?since=yesterday").status_code == 400
    assert exports(web_runtime)[2] == (
        "staff",
        "export-alerts",
        f"alerts (state=closed, since={today}, by=clinician): 1 rows",
    )


def test_a_campaigns_results_per_recipient_carry_no_message_text(
    web_runtime: Runtime, clinic: TestClient
) -> None:
    sign_in(clinic, "staff")
    answer = clinic.get("/console/campaigns/saturday/results.csv")
    assert 'filename="campaign-saturday-' in answer.headers["content-disposition"]
    rows = table(answer)
    assert [(r["patient ref"], r["state"], r["reason"]) for r in rows] == [
        ("S000", "delivered", ""),
        ("S001", "failed", "21211 21211 not a number"),
    ]
    assert rows[0][f"sent ({NEW_YORK.key})"] and not rows[1][f"sent ({NEW_YORK.key})"]
    assert "Saturdays" not in answer.text
    assert clinic.get("/console/campaigns/nothing/results.csv").status_code == 404
    with web_runtime.sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "export-campaign")
        ).one()
        assert entry.detail == "campaign saturday (no filters): 2 rows"
        assert entry.campaign_id is not None


def test_the_audit_log_is_an_admins_with_its_filters(
    web_runtime: Runtime, clinic: TestClient
) -> None:
    sign_in(clinic, "clinician")
    assert clinic.get("/console/audit.csv").status_code == 403
    table(clinic.get("/console/patients.csv?q=P1"))
    sign_in(clinic, "admin")
    rows = table(clinic.get("/console/audit.csv?action=export-patients"))
    assert [(r["who"], r["action"]) for r in rows] == [("clinician", "export-patients")]
    assert table(clinic.get("/console/audit.csv?patient=NOBODY")) == []
    everything = table(clinic.get("/console/audit.csv"))
    assert {"export-patients", "export-audit"} <= {r["action"] for r in everything}
    assert exports(web_runtime)[-1] == (
        "admin",
        "export-audit",
        f"audit log (no filters): {len(everything)} rows",
    )


def test_each_list_page_links_its_export_with_the_filters_it_shows(
    web_runtime: Runtime, clinic: TestClient
) -> None:
    sign_in(clinic, "admin")
    pages = {
        "/console/inbox?triage=routine&handled=no": "/console/inbox.csv?handled=no&amp;triage=routine",
        "/console/patients?q=smith": "/console/patients.csv?q=smith",
        "/console/alerts": "/console/alerts.csv?state=open",
        "/console/alerts/closed?level=emergency": "/console/alerts.csv?level=emergency&amp;state=closed",
        "/console/audit?action=export-patients": "/console/audit.csv?action=export-patients",
        "/console/campaigns/saturday": "/console/campaigns/saturday/results.csv",
    }
    for shown, link in pages.items():
        assert f'href="{link}" download>Export CSV' in clinic.get(shown).text, shown
