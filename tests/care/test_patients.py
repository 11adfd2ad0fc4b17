from typing import Any

import pytest

from followup.care.patients import (
    PatientDetails,
    has_consent,
    normalize_email,
    normalize_phone,
    record_consent,
)
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import Channel
from followup.models.care import ConsentEvent
from followup.models.outbox import Purpose
from followup.runtime import Runtime
from tests.conftest import add_patient


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("(201) 555-0101", "+12015550101"),
        ("+1 201 555 0101", "+12015550101"),
        ("+34 612 345 678", "+34612345678"),
    ],
)
def test_phone_numbers_are_stored_in_e164(raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["12345", "not a number", "+1 555 0100", "201-555-01010"])
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match="phone"):
        normalize_phone(raw)


@pytest.mark.parametrize("raw", ["ana@", "ana.example.com", "ana@localhost", "a b@example.com"])
def test_bad_emails_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match="email"):
        normalize_email(raw)


def test_a_patient_needs_a_contact_route_and_a_real_time_zone() -> None:
    with pytest.raises(InvalidInput, match="phone number or an email"):
        PatientDetails.parse(ref="P1", first_name="A", last_name="B")
    with pytest.raises(InvalidInput, match="IANA"):
        PatientDetails.parse(
            ref="P1", first_name="A", last_name="B", email="a@example.com", timezone="EST5"
        )
    email_only = PatientDetails.parse(
        ref="P1", first_name="A", last_name="B", email="a@example.com"
    )
    assert email_only.preferred_channel is Channel.EMAIL
    assert email_only.timezone == "America/New_York"


def test_consent_history_is_kept_and_repeats_change_nothing(runtime: Runtime) -> None:
    patient = add_patient(runtime, consents={Channel.SMS: True})
    with transaction(runtime.sessions) as session:
        args: dict[str, Any] = {"channel": Channel.SMS, "purpose": Purpose.CARE, "by": "patient"}
        assert record_consent(session, session.merge(patient), granted=False, source="STOP", **args)
        assert not record_consent(
            session, session.merge(patient), granted=False, source="STOP", **args
        )
        assert record_consent(session, session.merge(patient), granted=True, source="START", **args)
    with runtime.sessions() as session:
        events = session.query(ConsentEvent).order_by(ConsentEvent.id).all()
        assert [(e.granted, e.source) for e in events] == [
            (True, "test"),
            (False, "STOP"),
            (True, "START"),
        ]
        assert has_consent(session, patient.id, Channel.SMS, Purpose.CARE)
        assert not has_consent(session, patient.id, Channel.SMS, Purpose.CAMPAIGN)
