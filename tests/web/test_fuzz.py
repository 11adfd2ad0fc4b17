"""Arbitrary form bodies and texts: never a 5xx, never a crash."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from followup.config import Settings
from followup.replies.reading import read_reply
from followup.runtime import Runtime
from followup.web.app import create_app
from tests.conftest import add_patient
from tests.peers.twilio_server import ACCOUNT_SID, AUTH_TOKEN

PUBLIC = "https://followup.clinic.example"
text = st.text(max_size=300)
form = st.dictionaries(
    st.sampled_from(["MessageSid", "From", "To", "Body", "MessageStatus", "ErrorCode", "X"]) | text,
    text,
    max_size=6,
)


@pytest.fixture
def fuzz_client(settings: Settings) -> Iterator[TestClient]:
    runtime = Runtime(
        settings.with_overrides(
            public_url=PUBLIC,
            sms_backend="twilio",
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_from_number="+12015550199",
        )
    )
    add_patient(runtime)
    with TestClient(create_app(runtime), base_url=PUBLIC) as client:
        yield client
    runtime.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=form,
    sign=st.booleans(),
    path=st.sampled_from(["/twilio/sms", "/twilio/status/1", "/twilio/status/99999999999"]),
)
def test_any_form_body_gets_an_answer_never_a_server_error(
    fuzz_client: TestClient, params: dict[str, str], sign: bool, path: str
) -> None:
    headers = {}
    if sign:
        headers["X-Twilio-Signature"] = RequestValidator(AUTH_TOKEN).compute_signature(
            PUBLIC + path, params
        )
    response = fuzz_client.post(path, data=params, headers=headers)
    assert response.status_code < 500
    if not sign:
        assert response.status_code == 403


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=text)
def test_any_signed_text_from_a_patient_is_stored_and_answered(
    fuzz_client: TestClient, body: str
) -> None:
    params = {"MessageSid": f"SM{abs(hash(body))}", "From": "+12015550111", "Body": body}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/twilio/sms", params)
    response = fuzz_client.post(
        "/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 200
    assert response.text.startswith("<?xml")


@settings(max_examples=500, deadline=None)
@given(body=text)
def test_read_reply_reads_anything(body: str) -> None:
    reading = read_reply(body)
    # Always triaged, but for a bare keyword; a keyword may come with a triage.
    assert reading.triage in ("emergency", "attention", "routine") or (
        reading.triage is None and reading.keyword is not None
    )
    assert reading.pain is None or 0 <= reading.pain <= 10
