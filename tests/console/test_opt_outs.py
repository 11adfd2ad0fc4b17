"""Never consented is not an opt-out (issue 22, point 2): an import's "no" cells are
first decisions, a STOP, an unsubscribe or staff recording a documented request
withdraws a consent given before; only those count as opt-outs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from followup.care.consent import ConsentStanding, consent_standing
from followup.care.imports import import_csv
from followup.care.patients import get_patient, record_consent
from followup.db import transaction
from followup.delivery.report import never_consented, opt_outs
from followup.models.base import Channel, utcnow
from followup.models.outbox import Purpose
from followup.models.staff import Role
from followup.runtime import Runtime
from tests.conftest import add_patient
from tests.console.test_console import form_token, make_staff, sign_in
from tests.web.test_web import sms

IMPORT = """ref,first_name,last_name,phone,sms_consent,email,email_consent
I1,Ana,Ruiz,+12015550121,yes,ana@example.com,no
I2,Ben,Cole,+12015550122,no,ben@example.com,no
I3,Cy,Diaz,+12015550123,yes,cy@example.com,yes
"""


def test_only_withdrawn_consent_counts_as_an_opt_out(
    web_runtime: Runtime, console: TestClient, tmp_path: Path
) -> None:
    week_ago = utcnow() - timedelta(days=7)
    path = tmp_path / "patients.csv"
    path.write_text(IMPORT, encoding="utf-8")
    import_csv(web_runtime.sessions, path, settings=web_runtime.settings)
    add_patient(web_runtime, "P1")  # SMS and email care consent
    assert sms(console, "STOP").status_code == 200  # P1 texts STOP
    make_staff(web_runtime, "dana", Role.STAFF)
    sign_in(console, "dana")
    form = {
        "csrf": form_token(console.get("/console/patients/I3").text),
        "channel": "email",
        "purpose": "care",
        "granted": "no",
        "reason": "called to ask",
    }
    assert console.post("/console/patients/I3/consent", data=form).status_code == 200
    imported = "csv import patients.csv"
    stop = "sms keyword 'STOP'"
    with web_runtime.sessions() as session:
        assert opt_outs(session, week_ago) == [
            ("email", "staff: called to ask", 1),
            ("sms", stop, 1),
        ]
        # I1's and I2's email "no", I2's SMS "no"; and P1 never consented to campaign
        # texts, so the STOP's "no" to those is a first decision, not an opt-out.
        assert never_consented(session, week_ago) == [
            ("email", imported, 2),
            ("sms", imported, 1),
            ("sms", stop, 1),
        ]
        standing = {
            (ref, channel, purpose): consent_standing(
                session, get_patient(session, ref).id, channel, purpose
            )
            for ref in ("I1", "I2", "I3", "P1")
            for channel in Channel
            for purpose in (Purpose.CARE, Purpose.CAMPAIGN)
        }
    assert standing[("I1", Channel.SMS, Purpose.CARE)] is ConsentStanding.GRANTED
    assert standing[("I1", Channel.EMAIL, Purpose.CARE)] is ConsentStanding.NEVER_CONSENTED
    assert standing[("I1", Channel.SMS, Purpose.CAMPAIGN)] is ConsentStanding.NEVER_ASKED
    assert standing[("I2", Channel.SMS, Purpose.CARE)] is ConsentStanding.NEVER_CONSENTED
    assert standing[("I3", Channel.EMAIL, Purpose.CARE)] is ConsentStanding.REVOKED
    assert standing[("I3", Channel.SMS, Purpose.CARE)] is ConsentStanding.GRANTED
    assert standing[("P1", Channel.SMS, Purpose.CARE)] is ConsentStanding.REVOKED
    assert standing[("P1", Channel.SMS, Purpose.CAMPAIGN)] is ConsentStanding.NEVER_CONSENTED
    assert standing[("P1", Channel.EMAIL, Purpose.CARE)] is ConsentStanding.GRANTED

    # A consent given again and withdrawn again is a second opt-out of that patient.
    with transaction(web_runtime.sessions) as session:
        patient = get_patient(session, "I2")
        for granted in (True, False):
            record_consent(
                session,
                patient,
                channel=Channel.SMS,
                purpose=Purpose.CARE,
                granted=granted,
                source="staff: front desk",
                by="dana",
            )
    with web_runtime.sessions() as session:
        assert ("sms", "staff: front desk", 1) in opt_outs(session, week_ago)
        assert (
            consent_standing(session, get_patient(session, "I2").id, Channel.SMS, Purpose.CARE)
            is ConsentStanding.REVOKED
        )

    page = console.get("/console/health").text
    shown = page.split('data-testid="opt-outs"')[1].split("</ul>")[0]
    assert "email via staff: called to ask: 1 patient<" in shown
    assert "csv import" not in shown
    never = page.split('data-testid="never-consented"')[1].split("</ul>")[0]
    assert "email from csv import patients.csv: 2 patients" in never
    # The patient's page says which "no" it is.
    assert "no: never consented" in console.get("/console/patients/I1").text
    p1 = console.get("/console/patients/P1").text
    assert "no: withdrawn (opted out)" in p1 and "no: never consented" in p1  # care; campaign
