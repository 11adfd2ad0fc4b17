"""Ambiguous sends are settled by asking the provider before anything is resent."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from followup.db import transaction
from followup.delivery.reconcile import Settlement, reconcile_unknown
from followup.models.outbox import Message, MessageStatus
from followup.runtime import Runtime
from tests.conftest import add_patient, enrol_visit, live_settings, tick
from tests.delivery.test_dispatch import get, only_first_step
from tests.peers.twilio_server import TwilioPeer

SETTLE = timedelta(minutes=1)  # past reconcile_after_seconds (30 s)


def reconcile(runtime: Runtime, at: datetime) -> Settlement:
    return reconcile_unknown(
        runtime.sessions, channels=runtime.channels, now=at, settings=runtime.settings
    )


def make_unknown(runtime: Runtime, message: Message, at: datetime, to: str) -> None:
    """Leave `message` as an interrupted send does: unknown, with its text and time."""
    with transaction(runtime.sessions) as session:
        session.execute(
            update(Message)
            .where(Message.id == message.id)
            .values(
                status=MessageStatus.UNKNOWN,
                attempted_at=at,
                settle_at=at,
                attempts=1,
                recipient=to,
                body=f"text {message.id}",
                last_error="connection lost during DATA",
            )
        )


def test_provider_error_after_accepting_is_settled_without_a_second_send(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime))
    first = only_first_step(live_runtime)
    twilio_server.fail_next(status=500, accept=True)
    tick(live_runtime, first.due_at)
    unknown = get(live_runtime, first.id)
    assert unknown.status == MessageStatus.UNKNOWN and "500" in (unknown.last_error or "")
    # Not before the provider had time to show it, and dispatch never resends it.
    reconcile(live_runtime, first.due_at + timedelta(seconds=10))
    tick(live_runtime, first.due_at + SETTLE)
    assert get(live_runtime, first.id).status == MessageStatus.UNKNOWN
    settlement = reconcile(live_runtime, first.due_at + SETTLE)
    settled = get(live_runtime, first.id)
    [received] = twilio_server.messages
    assert settlement.confirmed_sent == 1
    assert settled.status == MessageStatus.SENT and settled.provider_id == received["sid"]
    tick(live_runtime, first.due_at + 2 * SETTLE)
    assert len(twilio_server.messages) == 1


def test_provider_error_before_accepting_is_resent_once_after_the_look_up(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime))
    first = only_first_step(live_runtime)
    twilio_server.fail_next(status=503, accept=False)
    tick(live_runtime, first.due_at)
    assert get(live_runtime, first.id).status == MessageStatus.UNKNOWN
    settlement = reconcile(live_runtime, first.due_at + SETTLE)
    assert settlement.retrying == 1
    tick(live_runtime, first.due_at + SETTLE)
    sent = get(live_runtime, first.id)
    assert sent.status == MessageStatus.SENT and sent.attempts == 2
    assert len(twilio_server.messages) == 1


def test_timeout_after_the_request_went_out_is_ambiguous(
    settings: object, twilio_server: TwilioPeer
) -> None:
    from followup.runtime import Runtime as RuntimeClass

    runtime = RuntimeClass(live_settings(settings, twilio_server, twilio_timeout=0.3))  # type: ignore[arg-type]
    enrol_visit(runtime, add_patient(runtime))
    first = only_first_step(runtime)
    twilio_server.fail_next(status=500, accept=True, delay=1.0)
    tick(runtime, first.due_at)
    timed_out = get(runtime, first.id)
    assert timed_out.status == MessageStatus.UNKNOWN
    assert "ReadTimeout" in (timed_out.last_error or "")
    reconcile(runtime, first.due_at + SETTLE)
    assert get(runtime, first.id).status == MessageStatus.SENT
    assert len(twilio_server.messages) == 1
    runtime.close()


def test_email_that_may_have_been_sent_waits_for_staff(live_runtime: Runtime) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime, preferred="email"))
    first = only_first_step(live_runtime)
    make_unknown(live_runtime, first, first.due_at, "pat@example.com")
    settlement = reconcile(live_runtime, first.due_at + SETTLE)
    left = get(live_runtime, first.id)
    # Set aside for staff at once: it will not be selected again, ahead of what can be.
    assert settlement.for_staff == 1
    assert (left.status, left.settle_at) == (MessageStatus.UNKNOWN, None)
    assert (left.last_error or "").startswith("connection lost during DATA")
    assert "staff decide" in (left.last_error or "")
    assert reconcile(live_runtime, first.due_at + 2 * SETTLE) == Settlement()
