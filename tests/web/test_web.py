"""The web app: signed Twilio webhooks, replies, alerts and the pages behind email links."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from followup.care.patients import has_consent
from followup.content.links import Links
from followup.db import transaction
from followup.models.base import Channel
from followup.models.care import Consent
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.models.replies import Alert, Reply
from followup.runtime import Runtime
from followup.web.app import create_app
from tests.conftest import PUBLIC, SmtpRecorder, add_patient, enrol_visit, tick
from tests.content.test_spanish import spanish_visit
from tests.delivery.test_dispatch import get, rows
from tests.peers.twilio_server import AUTH_TOKEN, TwilioPeer

PATIENT_PHONE = "+12015550111"


@pytest.fixture
def client(web_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(web_runtime), base_url=PUBLIC) as test_client:
        yield test_client


def signed_post(
    client: TestClient, path: str, params: dict[str, str], *, token: str = AUTH_TOKEN
) -> Any:
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def sms(client: TestClient, body: str, *, sid: str = "SM1", sender: str = PATIENT_PHONE) -> Any:
    params = {"MessageSid": sid, "From": sender, "To": "+12015550199", "Body": body}
    return signed_post(client, "/twilio/sms", params)


def count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def replies(runtime: Runtime) -> list[Reply]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Reply).order_by(Reply.id)))


def sent_welcome(runtime: Runtime) -> Message:
    """Enrol the patient and send the first SMS, so replies have something to answer."""
    enrol_visit(runtime, add_patient(runtime))
    first = rows(runtime)[0]
    tick(runtime, first.due_at)
    return get(runtime, first.id)


def test_a_reply_is_stored_matched_and_answered(web_runtime: Runtime, client: TestClient) -> None:
    welcome = sent_welcome(web_runtime)
    response = sms(client, "feeling better, maybe a 3")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "Thank you, we got your message." in response.text
    [reply] = replies(web_runtime)
    assert (reply.patient_id, reply.message_id, reply.visit_id) == (
        welcome.patient_id,
        welcome.id,
        welcome.visit_id,
    )
    assert (reply.pain, reply.triage, reply.keyword) == (3, "routine", None)
    assert count(web_runtime, Alert) == 0


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "not-a-signature",
        "sïgnature".encode("latin-1"),
        RequestValidator("wrong").compute_signature(PUBLIC + "/twilio/sms", {}),
    ],
)
def test_missing_or_wrong_signature_is_403_and_stores_nothing(
    web_runtime: Runtime, client: TestClient, signature: str | bytes | None
) -> None:
    value = signature.encode() if isinstance(signature, str) else signature
    headers = {b"X-Twilio-Signature": value} if value else {}
    params = {"MessageSid": "SM1", "From": PATIENT_PHONE, "Body": "7"}
    response = client.post("/twilio/sms", data=params, headers=headers)
    assert response.status_code == 403
    assert count(web_runtime, Reply) == 0


def test_a_signature_over_the_url_with_its_port_is_accepted(
    web_runtime: Runtime, client: TestClient
) -> None:
    sent_welcome(web_runtime)
    params = {"MessageSid": "SM1", "From": PATIENT_PHONE, "Body": "fine"}
    with_port = PUBLIC.replace(".example", ".example:443") + "/twilio/sms"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(with_port, params)
    response = client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    assert count(web_runtime, Reply) == 1


def test_signature_over_other_parameters_is_refused(
    web_runtime: Runtime, client: TestClient
) -> None:
    signed = {"MessageSid": "SM1", "From": PATIENT_PHONE, "Body": "fine"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/twilio/sms", signed)
    tampered = signed | {"Body": "STOP"}
    response = client.post("/twilio/sms", data=tampered, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert count(web_runtime, Reply) == 0


def test_the_same_sid_five_times_at_once_is_one_reply_and_five_200s(
    web_runtime: Runtime, client: TestClient
) -> None:
    sent_welcome(web_runtime)
    with ThreadPoolExecutor(5) as pool:
        responses = list(
            pool.map(lambda _: sms(client, "it pops and hurts", sid="SMdup"), range(5))
        )
    assert [r.status_code for r in responses] == [200] * 5
    assert count(web_runtime, Reply) == 1
    assert count(web_runtime, Alert) == 1


def test_stop_revokes_sms_consent_and_the_next_due_sms_does_not_go_out(
    web_runtime: Runtime, client: TestClient, twilio_server: TwilioPeer
) -> None:
    sent_welcome(web_runtime)
    response = sms(client, "STOP")
    assert response.status_code == 200
    assert "<Message>" not in response.text  # Twilio answers STOP
    with web_runtime.sessions() as session:
        assert not has_consent(session, 1, Channel.SMS, Purpose.CARE)
        assert not has_consent(session, 1, Channel.SMS, Purpose.CAMPAIGN)
        source = session.get_one(Consent, (1, "sms", "care")).source
    assert source.startswith("sms keyword")
    pending = [m for m in rows(web_runtime) if m.status != MessageStatus.SENT]
    assert {m.status for m in pending} == {MessageStatus.CANCELLED}
    tick(web_runtime, pending[0].due_at)
    assert len(twilio_server.messages) == 1  # only the welcome sent before STOP


def test_a_stop_already_claimed_by_a_dispatcher_still_stops_the_sms(
    web_runtime: Runtime, client: TestClient, twilio_server: TwilioPeer
) -> None:
    from followup.delivery.claims import claim_due

    sent_welcome(web_runtime)
    second = rows(web_runtime)[1]
    [batch] = claim_due(web_runtime.sessions, now=second.due_at, limit=10, batch_size=10)
    sms(client, "please stop texting me")
    web_runtime.dispatcher(lambda: second.due_at).send_batch(batch.message_ids)
    assert get(web_runtime, second.id).status == MessageStatus.CANCELLED
    assert len(twilio_server.messages) == 1


def test_plain_request_to_stop_is_answered_but_stopping_exercises_is_not_an_opt_out(
    web_runtime: Runtime, client: TestClient
) -> None:
    sent_welcome(web_runtime)
    answer = sms(client, "I had to stop the exercises", sid="SMa")
    # The day promised follows the wall clock (today, tomorrow or a weekday).
    assert re.search(
        r"notifying our staff to call you back (today|tomorrow|on \w+) between", answer.text
    )
    with web_runtime.sessions() as session:
        assert has_consent(session, 1, Channel.SMS, Purpose.CARE)
    answer = sms(client, "please stop texting me", sid="SMb")
    assert "You will not get more texts" in answer.text
    with web_runtime.sessions() as session:
        assert not has_consent(session, 1, Channel.SMS, Purpose.CARE)


def test_start_and_yes_after_an_opt_out_restore_consent(
    web_runtime: Runtime, client: TestClient
) -> None:
    sent_welcome(web_runtime)
    sms(client, "STOP", sid="SM1")
    assert "<Message>" not in sms(client, "START", sid="SM2").text
    with web_runtime.sessions() as session:
        assert has_consent(session, 1, Channel.SMS, Purpose.CARE)
    sms(client, "stop", sid="SM3")
    sms(client, "Yes", sid="SM4")
    with web_runtime.sessions() as session:
        assert has_consent(session, 1, Channel.SMS, Purpose.CARE)
        events = session.scalar(select(func.count()).select_from(Consent))
    assert events == 3  # sms care, sms campaign, email care rows


def test_help_in_spanish_is_answered_by_us(web_runtime: Runtime, client: TestClient) -> None:
    patient = add_patient(web_runtime)
    with transaction(web_runtime.sessions) as session:
        session.merge(patient).language = "es"
    answer = sms(client, "AYUDA")
    assert "mensajes de seguimiento" in answer.text
    assert "<Message>" not in sms(client, "HELP", sid="SM2").text


def test_emergency_reply_tells_the_patient_to_call_911_and_alerts_staff(
    web_runtime: Runtime,
    client: TestClient,
    twilio_server: TwilioPeer,
    smtp_server: tuple[object, SmtpRecorder],
) -> None:
    sent_welcome(web_runtime)
    answer = sms(client, "I lost control of my bladder this morning")
    assert "Call 911 or go to the nearest emergency room now" in answer.text
    assert "We are also notifying our on-call staff." in answer.text
    with web_runtime.sessions() as session:
        [alert] = session.scalars(select(Alert)).all()
        notices = session.scalars(select(Message).where(Message.purpose == Purpose.ALERT)).all()
    assert alert.level == "emergency"
    assert {(n.channel, n.recipient) for n in notices} == {
        ("sms", "+12015550900"),
        ("email", "oncall@clinic.example"),
    }
    # The same dispatch path sends them, at once, at any hour.
    tick(web_runtime, notices[0].due_at + timedelta(seconds=1))
    staff_sms = twilio_server.bodies_to("+12015550900")
    assert len(staff_sms) == 1 and "urgent patient reply" in staff_sms[0]
    assert f"alert #{alert.id}" in staff_sms[0]
    assert staff_sms[0].endswith(f"{PUBLIC}/console/alerts/{alert.id}")
    [email] = smtp_server[1].envelopes
    assert email.rcpt_tos == ["oncall@clinic.example"]
    assert isinstance(email.content, bytes)
    # Minimum necessary: no name, phone, reference or words of the reply, anywhere.
    for detail in ("Pat", "Doe", "P1", "+12015550111", "bladder"):
        assert detail not in staff_sms[0]
        assert detail.encode() not in email.content


def test_unknown_sender_is_read_like_anyone_and_answered_in_both_languages(
    web_runtime: Runtime, client: TestClient
) -> None:
    answer = sms(client, "who is this?", sender="+12015550777")
    assert "This number sends messages for" in answer.text
    assert "Este numero envia mensajes de" in answer.text
    worse = sms(
        client,
        "new phone. my back is worse and it goes down my leg",
        sid="SM2",
        sender="+12015550777",
    )
    assert "Thank you for telling us" in worse.text and "Gracias por avisarnos" in worse.text
    first, second = replies(web_runtime)
    assert first.patient_id is None and first.from_address == "+12015550777"
    assert (first.keyword, second.triage) == ("help", "attention")
    with web_runtime.sessions() as session:
        [alert] = session.scalars(select(Alert)).all()
    assert (alert.patient_id, alert.reply_id, alert.level) == (None, second.id, "attention")


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("/twilio/sms", "MessageSid", "SM" + "x" * 100),
        ("/twilio/sms", "From", "+1" * 200),
        ("/twilio/status/{id}", "MessageSid", "SM" + "x" * 100),
        ("/twilio/status/{id}", "ErrorCode", "3" * 30),
    ],
)
def test_a_value_longer_than_twilio_sends_is_a_clear_400_and_stores_nothing(
    web_runtime: Runtime, client: TestClient, path: str, field: str, value: str
) -> None:
    welcome = sent_welcome(web_runtime)
    with transaction(web_runtime.sessions) as session:
        session.get_one(Message, welcome.id).status = MessageStatus.UNKNOWN
    params = {
        "MessageSid": "SM1",
        "From": PATIENT_PHONE,
        "Body": "7",
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
    }
    response = signed_post(client, path.format(id=welcome.id), params | {field: value})
    assert response.status_code == 400
    assert field in response.text
    assert count(web_runtime, Reply) == 0
    assert get(web_runtime, welcome.id).status == MessageStatus.UNKNOWN


def test_a_status_callback_for_an_id_no_row_can_have_is_acknowledged(
    web_runtime: Runtime, client: TestClient
) -> None:
    params = {"MessageSid": "SMx", "MessageStatus": "delivered"}
    assert signed_post(client, "/twilio/status/" + "9" * 30, params).status_code == 204


def test_status_callbacks_move_forward_only_and_settle_unknown(
    web_runtime: Runtime, client: TestClient
) -> None:
    welcome = sent_welcome(web_runtime)
    path = f"/twilio/status/{welcome.id}"
    sid = welcome.provider_id or ""
    assert (
        signed_post(client, path, {"MessageSid": sid, "MessageStatus": "delivered"}).status_code
        == 204
    )
    signed_post(client, path, {"MessageSid": sid, "MessageStatus": "sent"})
    assert get(web_runtime, welcome.id).status == MessageStatus.DELIVERED
    # Unknown message ids and sids are acknowledged, and change nothing.
    assert (
        signed_post(
            client, "/twilio/status/999", {"MessageSid": "SMx", "MessageStatus": "sent"}
        ).status_code
        == 204
    )
    second = rows(web_runtime)[1]
    with transaction(web_runtime.sessions) as session:
        session.get_one(Message, second.id).status = MessageStatus.UNKNOWN
    signed_post(
        client, f"/twilio/status/{second.id}", {"MessageSid": "SMlate", "MessageStatus": "sent"}
    )
    settled = get(web_runtime, second.id)
    assert (settled.status, settled.provider_id) == (MessageStatus.SENT, "SMlate")


def test_undelivered_sms_falls_back_to_email_when_the_step_allows(
    web_runtime: Runtime, client: TestClient
) -> None:
    welcome = sent_welcome(web_runtime)
    assert welcome.email_fallback
    signed_post(
        client,
        f"/twilio/status/{welcome.id}",
        {
            "MessageSid": welcome.provider_id or "",
            "MessageStatus": "undelivered",
            "ErrorCode": "30003",
        },
    )
    failed = get(web_runtime, welcome.id)
    assert (failed.status, failed.error_code) == (MessageStatus.UNDELIVERED, "30003")
    fallback = [m for m in rows(web_runtime) if m.step == "welcome" and m.channel == "email"]
    assert len(fallback) == 1 and fallback[0].status == MessageStatus.SCHEDULED


def test_one_tap_answer_records_once_alerts_on_a_high_score_and_takes_a_note(
    web_runtime: Runtime, client: TestClient
) -> None:
    enrol_visit(web_runtime, add_patient(web_runtime, preferred="email"))
    message_id = rows(web_runtime)[2].id  # the warning-signs check-in
    url = Links(web_runtime.settings).answer_urls(message_id)[8].removeprefix(PUBLIC)
    page = client.get(url)
    assert page.status_code == 200 and "8</strong> out of 10" in page.text
    assert count(web_runtime, Reply) == 0  # a mail scanner's GET records nothing
    thanks = client.post(url)
    client.post(url)
    assert "We recorded your answer" in thanks.text
    assert re.search(r"call you back (today|tomorrow|on \w+)", thanks.text)
    [reply] = replies(web_runtime)
    assert (reply.channel, reply.pain, reply.triage, reply.message_id) == (
        "email",
        8,
        "attention",
        message_id,
    )
    assert count(web_runtime, Alert) == 1
    note = client.post(url + "/note", data={"note": "numb around the groin since last night"})
    assert "call 911" in note.text
    assert [r.triage for r in replies(web_runtime)] == ["attention", "emergency"]


def test_tampered_or_expired_links_show_a_clear_page_and_record_nothing(
    web_runtime: Runtime, client: TestClient
) -> None:
    enrol_visit(web_runtime, add_patient(web_runtime, preferred="email"))
    url = Links(web_runtime.settings).answer_urls(rows(web_runtime)[2].id)[3].removeprefix(PUBLIC)
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    for response in (client.get(tampered), client.post(tampered), client.post("/u/garbage")):
        assert response.status_code == 400
        assert "not valid or has expired" in response.text
    expiring = Links(web_runtime.settings.with_overrides(link_max_age_days=0))
    stale = expiring.answer_urls(rows(web_runtime)[2].id)[3].removeprefix(PUBLIC)
    time.sleep(1.1)
    app = create_app(Runtime(web_runtime.settings.with_overrides(link_max_age_days=0)))
    with TestClient(app, base_url=PUBLIC) as strict:
        assert strict.post(stale).status_code == 400
    assert count(web_runtime, Reply) == 0


def test_one_click_unsubscribe_revokes_email_consent(
    web_runtime: Runtime, client: TestClient
) -> None:
    enrol_visit(web_runtime, add_patient(web_runtime, preferred="email"))
    first = rows(web_runtime)[0]
    patient_id = first.patient_id or 0  # a plan message always has its patient
    url = Links(web_runtime.settings).unsubscribe_url(first.id).removeprefix(PUBLIC)
    assert "Unsubscribe</button>" in client.get(url).text
    with web_runtime.sessions() as session:
        assert has_consent(session, patient_id, Channel.EMAIL, Purpose.CARE)
    response = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "You are unsubscribed" in response.text
    with web_runtime.sessions() as session:
        assert not has_consent(session, patient_id, Channel.EMAIL, Purpose.CARE)
        assert not has_consent(session, patient_id, Channel.EMAIL, Purpose.CAMPAIGN)
    assert {m.status for m in rows(web_runtime)} == {MessageStatus.CANCELLED}


def test_without_twilio_keyword_handling_we_answer_help_and_stop(
    web_runtime: Runtime,
) -> None:
    runtime = Runtime(web_runtime.settings.with_overrides(twilio_answers_keywords=False))
    add_patient(runtime)
    with TestClient(create_app(runtime), base_url=PUBLIC) as client:
        assert "follow-up messages after your visit. Call +12015550100" in sms(client, "HELP").text
        assert "You will not get more texts" in sms(client, "STOP", sid="SM2").text
        assert "You will receive texts from" in sms(client, "START", sid="SM3").text
    runtime.close()


def test_a_spanish_speaking_patient_opens_the_answer_and_unsubscribe_pages_in_spanish(
    web_runtime: Runtime, client: TestClient
) -> None:
    spanish_visit(web_runtime, "P1", "email", "+12015550111")
    message_id = rows(web_runtime)[2].id
    links = Links(web_runtime.settings)
    answer = links.answer_urls(message_id)[8].removeprefix(PUBLIC)
    page = client.get(answer)
    assert '<html lang="es">' in page.text and "Su respuesta: <strong>8</strong> de 10" in page.text
    thanks = client.post(answer).text
    assert "Gracias, Pat. Guardamos su respuesta" in thanks
    assert "Estamos avisando a nuestro equipo para que le llame" in thanks
    assert "entre las 8:00 y las 18:00" in thanks
    unsubscribe = links.unsubscribe_url(message_id).removeprefix(PUBLIC)
    assert "Darme de baja</button>" in client.get(unsubscribe).text
    assert "Se ha dado de baja" in client.post(unsubscribe).text
    # A link that names nobody is answered in the browser's language.
    spanish = client.get("/r/garbage", headers={"Accept-Language": "es-US,es;q=0.9,en;q=0.8"})
    assert spanish.status_code == 400 and "Este enlace no es válido" in spanish.text
    assert "This link is not valid" in client.get("/r/garbage").text
