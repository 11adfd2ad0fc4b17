"""The outbox state machine against the Twilio-compatible server and a real SMTP server."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

from sqlalchemy import select, update

from followup.care.patients import has_consent, record_consent
from followup.config import Settings
from followup.db import transaction
from followup.delivery.claims import claim_due
from followup.models.base import Channel
from followup.models.care import Consent, Patient
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.runtime import Runtime
from tests.conftest import SmtpRecorder, add_patient, enrol_visit, live_settings, tick
from tests.peers.twilio_server import TwilioPeer


def rows(runtime: Runtime) -> list[Message]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Message).order_by(Message.due_at, Message.id)))


def first_due(runtime: Runtime) -> datetime:
    return rows(runtime)[0].due_at


def only_first_step(runtime: Runtime) -> Message:
    """Leave only the first message scheduled, so a tick touches just that one."""
    first = rows(runtime)[0]
    with transaction(runtime.sessions) as session:
        session.execute(
            update(Message).where(Message.id != first.id).values(status=MessageStatus.CANCELLED)
        )
    return first


def get(runtime: Runtime, message_id: int) -> Message:
    with runtime.sessions() as session:
        return session.get_one(Message, message_id)


def part(email: EmailMessage, subtype: str) -> str:
    body = email.get_body((subtype,))
    assert body is not None, f"no {subtype} part"
    return str(body.get_content())


def test_due_sms_is_sent_through_twilio_and_recorded(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient = add_patient(live_runtime)
    enrol_visit(live_runtime, patient)
    first = only_first_step(live_runtime)
    tick(live_runtime, first.due_at - timedelta(minutes=1))
    assert twilio_server.messages == []
    tick(live_runtime, first.due_at)
    sent = get(live_runtime, first.id)
    [received] = twilio_server.messages
    assert sent.status == MessageStatus.SENT
    assert sent.provider_id == received["sid"]
    assert sent.body == received["body"] and sent.recipient == received["to"] == patient.phone
    assert sent.attempts == 1
    assert str(received["body"]).endswith("Reply STOP to opt out.")
    assert received["status_callback"] == f"http://localhost:8000/twilio/status/{first.id}"
    assert received["from"] == "+12015550199"


def test_email_has_text_and_html_parts_unsubscribe_header_and_plain_subject(
    live_runtime: Runtime, smtp_server: tuple[object, SmtpRecorder]
) -> None:
    patient = add_patient(live_runtime, preferred="email")
    enrol_visit(live_runtime, patient)
    first = only_first_step(live_runtime)
    tick(live_runtime, first.due_at)
    [envelope] = smtp_server[1].envelopes
    email = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[arg-type]
    assert envelope.rcpt_tos == ["pat@example.com"]
    assert email["Subject"] == "Thank you for your visit to Spine & PT Clinic"
    assert email["List-Unsubscribe"].strip().startswith("<http://localhost:8000/u/")
    assert "<mailto:care@clinic.example?subject=unsubscribe" in email["List-Unsubscribe"]
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert part(email, "plain").startswith("Hi Pat,")
    assert "<p>Hi Pat,</p>" in part(email, "html")
    stored = get(live_runtime, first.id)
    assert stored.status == MessageStatus.SENT and stored.provider_id == email["Message-ID"]


def test_html_email_escapes_patient_data(
    live_runtime: Runtime, smtp_server: tuple[object, SmtpRecorder]
) -> None:
    patient = add_patient(live_runtime, preferred="email")
    with transaction(live_runtime.sessions) as session:
        session.merge(patient).first_name = "<b>Pat</b>"
    enrol_visit(live_runtime, patient)
    tick(live_runtime, only_first_step(live_runtime).due_at)
    email = message_from_bytes(smtp_server[1].envelopes[0].content, policy=policy.default)  # type: ignore[arg-type]
    assert "&lt;b&gt;Pat&lt;/b&gt;" in part(email, "html")


def test_a_send_task_delivered_twice_sends_once(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime))
    first = only_first_step(live_runtime)
    [batch] = claim_due(live_runtime.sessions, now=first.due_at, limit=10, batch_size=10)
    dispatcher = live_runtime.dispatcher(lambda: first.due_at)
    threads = [
        threading.Thread(target=dispatcher.send_batch, args=(batch.message_ids,)) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dispatcher.send_batch(batch.message_ids)
    assert len(twilio_server.messages) == 1
    assert get(live_runtime, first.id).attempts == 1


def test_claiming_twice_hands_each_row_to_one_dispatcher(live_runtime: Runtime) -> None:
    for n in range(3):
        patient = add_patient(live_runtime, f"P{n}", phone=f"+1201555012{n}")
        enrol_visit(live_runtime, patient, ref=f"V{n}")
    due = first_due(live_runtime)
    first = claim_due(live_runtime.sessions, now=due, limit=100, batch_size=100)
    second = claim_due(live_runtime.sessions, now=due, limit=100, batch_size=100)
    assert sum(len(b.message_ids) for b in first) == 3
    assert second == []


def test_a_429_is_retried_with_backoff_without_counting_an_attempt(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime))
    first = only_first_step(live_runtime)
    twilio_server.fail_next(status=429, code=20429)
    tick(live_runtime, first.due_at)
    retrying = get(live_runtime, first.id)
    assert retrying.status == MessageStatus.SCHEDULED
    assert retrying.error_code == "20429" and "429" in (retrying.last_error or "")
    # Equal jitter on a 60 s base: the retry is 30 to 60 s later, never at once.
    delay = retrying.due_at - first.due_at
    assert timedelta(seconds=30) <= delay <= timedelta(seconds=60)
    tick(live_runtime, first.due_at + timedelta(seconds=10))
    assert twilio_server.messages == []
    tick(live_runtime, retrying.due_at)
    sent = get(live_runtime, first.id)
    # Twilio did not process the 429'd request: it is not an attempt of this message.
    assert sent.status == MessageStatus.SENT and sent.attempts == 1 and sent.last_error is None
    assert len(twilio_server.messages) == 1


def test_refused_connection_is_retried_and_gives_up_after_the_bound(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime))
    first = only_first_step(live_runtime)
    twilio_server.stop()  # nothing listens on the port any more
    now = first.due_at
    for _ in range(live_runtime.settings.max_attempts):
        tick(live_runtime, now)
        now = get(live_runtime, first.id).due_at
    failed = get(live_runtime, first.id)
    assert failed.status == MessageStatus.FAILED
    assert failed.attempts == live_runtime.settings.max_attempts
    assert failed.last_error is not None and failed.last_error.startswith(
        "gave up after 5 attempts"
    )


def test_permanent_errors_fail_at_once_with_the_code(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime))
    first = only_first_step(live_runtime)
    twilio_server.fail_next(status=400, code=30006)
    tick(live_runtime, first.due_at)
    failed = get(live_runtime, first.id)
    assert (failed.status, failed.error_code, failed.attempts) == (MessageStatus.FAILED, "30006", 1)
    assert "landline" in (failed.last_error or "")


def test_unsubscribed_error_records_the_opt_out_and_cancels_pending_sms(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient = add_patient(live_runtime)
    enrol_visit(live_runtime, patient)
    first = rows(live_runtime)[0]
    twilio_server.fail_next(status=400, code=21610)
    tick(live_runtime, first.due_at)
    assert get(live_runtime, first.id).error_code == "21610"
    with live_runtime.sessions() as session:
        assert not has_consent(session, patient.id, Channel.SMS, Purpose.CARE)
        source = session.get_one(Consent, (patient.id, "sms", "care")).source
    assert source == "twilio-21610"
    assert {row.status for row in rows(live_runtime)[1:]} == {MessageStatus.CANCELLED}


def test_invalid_number_is_refused_by_the_provider_with_21211(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime))
    first = only_first_step(live_runtime)
    with transaction(live_runtime.sessions) as session:
        # A number that passed our checks once but the provider refuses.
        session.execute(update(Patient).values(phone="+1555"))
    tick(live_runtime, first.due_at)
    failed = get(live_runtime, first.id)
    assert (failed.status, failed.error_code) == (MessageStatus.FAILED, "21211")


def test_revoked_consent_is_never_sent_even_after_claim(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient = add_patient(live_runtime)
    enrol_visit(live_runtime, patient)
    first = only_first_step(live_runtime)
    [batch] = claim_due(live_runtime.sessions, now=first.due_at, limit=10, batch_size=10)
    with transaction(live_runtime.sessions) as session:
        record_consent(
            session,
            session.merge(patient),
            channel=Channel.SMS,
            purpose=Purpose.CARE,
            granted=False,
            source="sms keyword STOP",
            by="patient",
        )
    live_runtime.dispatcher(lambda: first.due_at).send_batch(batch.message_ids)
    assert twilio_server.messages == []
    cancelled = get(live_runtime, first.id)
    assert cancelled.status == MessageStatus.CANCELLED
    assert cancelled.last_error == "sms consent revoked (sms keyword STOP)"


def test_no_consent_on_record_means_skipped_with_the_reason(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient = add_patient(live_runtime, consents={Channel.SMS: True})
    enrol_visit(live_runtime, patient)
    first = only_first_step(live_runtime)
    with transaction(live_runtime.sessions) as session:
        session.execute(update(Consent).values(granted=False))
    tick(live_runtime, first.due_at)
    skipped = get(live_runtime, first.id)
    assert (skipped.status, skipped.last_error) == (
        MessageStatus.SKIPPED,
        "no sms consent for care messages",
    )
    assert twilio_server.messages == []


def test_late_sms_waits_for_the_window_and_expired_step_is_skipped(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime))
    all_rows = rows(live_runtime)
    welcome, keep_moving = all_rows[0], all_rows[1]
    # The dispatcher was down: at 22:30 local the welcome (expires after 24 h) waits
    # for 08:00; keep-moving (12 h) is already past its expiry and is skipped.
    late = keep_moving.expires_at + timedelta(minutes=1)
    tick(live_runtime, late)
    assert get(live_runtime, keep_moving.id).status == MessageStatus.SKIPPED
    assert "expired" in (get(live_runtime, keep_moving.id).last_error or "")
    assert get(live_runtime, welcome.id).status == MessageStatus.SKIPPED
    assert twilio_server.messages == []


def test_sms_due_outside_quiet_hours_is_deferred_to_the_window(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime))
    welcome = only_first_step(live_runtime)
    night = welcome.due_at.replace(hour=2, minute=0) + timedelta(days=1)  # 21:00 local
    with transaction(live_runtime.sessions) as session:
        session.execute(
            update(Message)
            .where(Message.id == welcome.id)
            .values(due_at=night, expires_at=night + timedelta(days=1))
        )
    tick(live_runtime, night)
    deferred = get(live_runtime, welcome.id)
    assert deferred.status == MessageStatus.SCHEDULED
    assert deferred.due_at == night + timedelta(hours=11)  # 08:00 local next morning
    assert twilio_server.messages == []
    tick(live_runtime, deferred.due_at)
    assert len(twilio_server.messages) == 1


def test_smtp_temporary_refusal_retries_and_permanent_refusal_fails(
    live_runtime: Runtime, smtp_server: tuple[object, SmtpRecorder]
) -> None:
    patient = add_patient(live_runtime, preferred="email")
    enrol_visit(live_runtime, patient)
    first, second = rows(live_runtime)[0], rows(live_runtime)[1]
    recorder = smtp_server[1]
    recorder.rcpt_reply = "450 mailbox busy"
    tick(live_runtime, first.due_at)
    retrying = get(live_runtime, first.id)
    assert (retrying.status, retrying.error_code) == (MessageStatus.SCHEDULED, "450")
    recorder.rcpt_reply = "550 no such user"
    tick(live_runtime, second.due_at)
    failed = get(live_runtime, second.id)
    assert (failed.status, failed.error_code) == (MessageStatus.FAILED, "550")
    assert recorder.envelopes == []


def test_a_missing_template_fails_the_message_with_its_name(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime))
    first = only_first_step(live_runtime)
    with transaction(live_runtime.sessions) as session:
        session.get_one(Message, first.id).template = "no-such-template"
    tick(live_runtime, first.due_at)
    failed = get(live_runtime, first.id)
    assert failed.status == MessageStatus.FAILED
    assert "sms/en/no-such-template.txt" in (failed.last_error or "")
    assert twilio_server.messages == []


def test_messaging_service_sid_is_used_when_configured(
    settings: Settings, twilio_server: TwilioPeer
) -> None:
    runtime = Runtime(
        live_settings(
            settings,
            twilio_server,
            twilio_from_number="",
            twilio_messaging_service_sid="MG" + "1" * 32,
        )
    )
    enrol_visit(runtime, add_patient(runtime))
    tick(runtime, only_first_step(runtime).due_at)
    [received] = twilio_server.messages
    assert received["messaging_service_sid"] == "MG" + "1" * 32
    assert received["from"] is None
    runtime.close()
