"""Delivery through a bad day: provider ids are never shared, nothing starves, an outage
of Redis or of the provider's patience never turns unsent texts into maybe-sent ones,
and the same text never reaches a patient twice by accident."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from kombu.exceptions import OperationalError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from followup.config import Settings
from followup.db import transaction
from followup.delivery.claims import claim_due
from followup.delivery.leases import Lease
from followup.delivery.reconcile import reconcile_unknown, recover_lapsed
from followup.delivery.settlement import settle_by_staff
from followup.models.outbox import Message, MessageStatus
from followup.models.staff import AuditEntry
from followup.runtime import Runtime, use
from followup.web.app import create_app
from followup.worker import create_celery
from tests.conftest import add_patient, enrol_visit, free_port, live_settings, tick
from tests.delivery.test_dispatch import get, rows
from tests.delivery.test_reconcile import make_unknown
from tests.peers.twilio_server import TwilioPeer
from tests.web.test_web import PUBLIC, signed_post

FAMILY_PHONE = "+12015550111"


def reconcile(runtime: Runtime, at: datetime, *, limit: int = 200) -> object:
    return reconcile_unknown(
        runtime.sessions, channels=runtime.channels, now=at, settings=runtime.settings, limit=limit
    )


def first_steps(runtime: Runtime) -> list[Message]:
    """Keep only the first step of every visit scheduled; return those rows."""
    first_due = rows(runtime)[0].due_at
    with transaction(runtime.sessions) as session:
        session.execute(
            update(Message).where(Message.due_at != first_due).values(status="cancelled")
        )
    return [row for row in rows(runtime) if row.status == MessageStatus.SCHEDULED]


def family(runtime: Runtime) -> list[Message]:
    """Two patients who share one phone (a parent's), seen the same day: their texts
    are identical, to one number."""
    for n in (1, 2):
        enrol_visit(runtime, add_patient(runtime, f"P{n}", phone=FAMILY_PHONE), ref=f"V{n}")
    steps = first_steps(runtime)
    assert len(steps) == 2
    return steps


def provider_ids(runtime: Runtime) -> list[str]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Message.provider_id).where(Message.provider_id != "")))


def test_a_look_up_never_takes_a_sid_another_row_holds(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    first, second = family(live_runtime)
    # One of the two identical texts fails before Twilio takes it; the other is sent.
    twilio_server.fail_next(status=503, accept=False)
    tick(live_runtime, first.due_at)
    [lost] = [r for r in rows(live_runtime) if r.status == MessageStatus.UNKNOWN]
    reconcile(live_runtime, first.due_at + timedelta(minutes=1))
    # The sent sibling's sid is not this row's: it was never at Twilio, so it is sent again.
    assert get(live_runtime, lost.id).status == MessageStatus.SCHEDULED
    tick(live_runtime, first.due_at + timedelta(minutes=1))
    ids = provider_ids(live_runtime)
    assert len(ids) == 2 and len(set(ids)) == 2
    assert len(twilio_server.bodies_to(FAMILY_PHONE)) == 2


def test_two_ghosts_with_the_same_text_are_left_for_the_status_callbacks(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    first, _ = family(live_runtime)
    twilio_server.fail_next(status=500, accept=True, times=2)
    tick(live_runtime, first.due_at)
    settlement = reconcile(live_runtime, first.due_at + timedelta(minutes=1))
    assert settlement.unresolved == 2  # type: ignore[attr-defined]
    unknown = [r for r in rows(live_runtime) if r.status == MessageStatus.UNKNOWN]
    assert len(unknown) == 2 and all(r.provider_id is None for r in unknown)
    assert all("status callback" in (r.last_error or "") for r in unknown)
    # Twilio's callbacks carry our own id in their URL: each settles its row for certain.
    for message in twilio_server.messages:
        message_id = int(str(message["status_callback"]).rsplit("/", 1)[1])
        callback(live_runtime, message_id, str(message["sid"]))
    settled = {r.provider_id for r in rows(live_runtime) if r.status == MessageStatus.SENT}
    assert settled == {m["sid"] for m in twilio_server.messages}


def test_the_schema_refuses_one_provider_id_on_two_rows(runtime: Runtime) -> None:
    enrol_visit(runtime, add_patient(runtime))
    first, second = rows(runtime)[:2]
    with transaction(runtime.sessions) as session:
        session.execute(update(Message).where(Message.id == first.id).values(provider_id="SM1"))
    with pytest.raises(IntegrityError), transaction(runtime.sessions) as session:
        session.execute(update(Message).where(Message.id == second.id).values(provider_id="SM1"))


def test_emails_no_look_up_can_settle_do_not_starve_texts_that_one_can(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    for n in range(12):
        enrol_visit(
            live_runtime,
            add_patient(live_runtime, f"E{n}", phone=f"+120155502{n:02d}", preferred="email"),
            ref=f"VE{n}",
        )
    emails = [r for r in rows(live_runtime) if r.channel == "email"][:12]
    enrol_visit(live_runtime, add_patient(live_runtime, "S1", phone="+12015550999"), ref="VS")
    text = next(
        r
        for r in rows(live_runtime)
        if r.channel == "sms" and r.status == "scheduled" and r.id > emails[-1].id
    )
    for email in emails:
        make_unknown(live_runtime, email, text.due_at - timedelta(hours=1), "pat@example.com")
    twilio_server.fail_next(status=500, accept=True)
    tick(live_runtime, text.due_at)
    assert get(live_runtime, text.id).status == MessageStatus.UNKNOWN
    # A small look-up budget per tick, as a couple of hundred unsettleable rows would
    # leave: the emails are set aside for staff once, and the text is settled.
    for minute in range(1, 4):
        reconcile(live_runtime, text.due_at + timedelta(minutes=minute), limit=5)
    assert get(live_runtime, text.id).status == MessageStatus.SENT
    with live_runtime.sessions() as session:
        waiting = session.scalars(
            select(Message.settle_at).where(Message.id.in_([e.id for e in emails]))
        ).all()
    assert waiting == [None] * 12


def test_staff_settle_an_unknown_message_and_it_is_recorded(live_runtime: Runtime) -> None:
    at = datetime(2026, 11, 20, 15, tzinfo=UTC)
    enrol_visit(live_runtime, add_patient(live_runtime, preferred="email"))
    email, other = [r for r in rows(live_runtime) if r.channel == "email"][:2]
    make_unknown(live_runtime, email, at, "pat@example.com")
    make_unknown(live_runtime, other, at, "pat@example.com")
    with transaction(live_runtime.sessions) as session:
        settle_by_staff(
            session, email.id, "mark-sent", by="Maria", reason="patient confirmed it", now=at
        )
        settle_by_staff(session, other.id, "resend", by="Maria", reason="not received", now=at)
    marked, resent = get(live_runtime, email.id), get(live_runtime, other.id)
    assert marked.status == MessageStatus.SENT and "Maria" in (marked.last_error or "")
    assert (resent.status, resent.due_at, resent.allow_repeat) == (
        MessageStatus.SCHEDULED,
        at,
        True,
    )
    with live_runtime.sessions() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.actor, e.action, e.message_id) for e in entries] == [
        ("Maria", "message-mark-sent", email.id),
        ("Maria", "message-resend", other.id),
    ]
    assert "patient confirmed it" in entries[0].detail


def test_only_an_unknown_message_can_be_settled_by_staff(live_runtime: Runtime) -> None:
    from followup.exceptions import InvalidInput

    enrol_visit(live_runtime, add_patient(live_runtime))
    first = rows(live_runtime)[0]
    at = datetime(2026, 11, 20, 15, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="scheduled"), transaction(live_runtime.sessions) as s:
        settle_by_staff(s, first.id, "mark-sent", by="Maria", reason="x", now=at)
    with pytest.raises(InvalidInput, match="reason"), transaction(live_runtime.sessions) as s:
        settle_by_staff(s, first.id, "resend", by="Maria", reason=" ", now=at)
    assert get(live_runtime, first.id).status == MessageStatus.SCHEDULED


def test_a_rate_limiter_outage_holds_texts_back_and_never_makes_them_unknown(
    settings: Settings, twilio_server: TwilioPeer
) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    runtime = Runtime(live_settings(settings, twilio_server, sms_rate=5.0, redis_url=dead_redis))
    for n in range(3):
        enrol_visit(runtime, add_patient(runtime, f"P{n}", phone=f"+1201555013{n}"), ref=f"V{n}")
    due = first_steps(runtime)
    tick(runtime, due[0].due_at)
    held = [get(runtime, r.id) for r in due]
    assert twilio_server.messages == []
    assert {r.status for r in held} == {MessageStatus.SCHEDULED}
    assert all(r.attempts == 0 and "rate limiter" in (r.last_error or "") for r in held)
    runtime.close()


def test_a_burst_of_429s_never_uses_up_the_attempts(
    settings: Settings, twilio_server: TwilioPeer, smtp_server: tuple[object, object]
) -> None:
    runtime = Runtime(live_settings(settings, twilio_server, max_attempts=2))
    enrol_visit(runtime, add_patient(runtime))
    [first] = first_steps(runtime)
    twilio_server.fail_next(status=429, code=20429, times=6)
    at = first.due_at
    for _ in range(7):
        tick(runtime, at)
        at = max(at, get(runtime, first.id).due_at)
    sent = get(runtime, first.id)
    assert sent.status == MessageStatus.SENT and sent.attempts == 1
    assert len(twilio_server.messages) == 1
    runtime.close()


def test_a_dead_workers_rows_are_recovered_within_a_minute(live_runtime: Runtime) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime))
    queued, sending = rows(live_runtime)[:2]
    now = datetime(2026, 11, 20, 15, tzinfo=UTC)
    lease = now + timedelta(seconds=live_runtime.settings.lease_seconds)
    with transaction(live_runtime.sessions) as session:
        session.execute(
            update(Message)
            .where(Message.id == queued.id)
            .values(status="queued", claimed_by="w1", lease_until=lease)
        )
        session.execute(
            update(Message)
            .where(Message.id == sending.id)
            .values(status="sending", claimed_by="w1", lease_until=lease, attempted_at=now)
        )
    # While the lease holds nothing moves; a minute later the worker is known dead.
    assert recover_lapsed(live_runtime.sessions, now=now + timedelta(seconds=5)) == (0, 0)
    assert recover_lapsed(live_runtime.sessions, now=now + timedelta(minutes=1)) == (1, 1)
    assert get(live_runtime, queued.id).status == MessageStatus.SCHEDULED
    lost = get(live_runtime, sending.id)
    assert lost.status == MessageStatus.UNKNOWN
    assert lost.settle_at is not None and lost.settle_at <= now + timedelta(minutes=2)


def in_doubt(runtime: Runtime, twilio_server: TwilioPeer, *, taken: bool) -> Message:
    """The first step, sent into a 503 after Twilio took it (`taken`) or before."""
    enrol_visit(runtime, add_patient(runtime))
    [first] = first_steps(runtime)
    twilio_server.fail_next(status=503, accept=taken)
    tick(runtime, first.due_at)
    return first


def test_a_maybe_sent_text_is_looked_up_within_a_minute(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    first = in_doubt(live_runtime, twilio_server, taken=True)
    reconcile(live_runtime, first.due_at + timedelta(minutes=1))
    assert get(live_runtime, first.id).status == MessageStatus.SENT


def twin_welcomes(runtime: Runtime) -> list[Message]:
    """A patient's welcome planned twice: an episode's series has each step once, but a
    copy from before episodes (migration 0007 keeps one that was sent) or a campaign
    repeating a plan step puts the same text in front of the patient again."""
    enrol_visit(runtime, add_patient(runtime), ref="V1")
    [welcome] = first_steps(runtime)
    with transaction(runtime.sessions) as session:
        session.execute(
            insert(Message).from_select(
                ["patient_id", "visit_id", "step", "channel", "purpose", "template"]
                + ["status", "due_at", "expires_at", "attempts", "updated_at", "created_at"],
                select(
                    Message.patient_id,
                    Message.visit_id,
                    Message.step,
                    Message.channel,
                    Message.purpose,
                    Message.template,
                    Message.status,
                    Message.due_at,
                    Message.expires_at,
                    Message.attempts,
                    Message.updated_at,
                    Message.created_at,
                ).where(Message.id == welcome.id),
            )
        )
    return first_steps(runtime)


def test_the_same_text_never_reaches_a_patient_twice_in_the_window(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    steps = twin_welcomes(live_runtime)
    tick(live_runtime, steps[0].due_at)
    assert len(twilio_server.messages) == 1
    skipped = [
        get(live_runtime, r.id) for r in steps if get(live_runtime, r.id).status == "skipped"
    ]
    assert len(skipped) == 1 and "same text" in (skipped[0].last_error or "")


def test_staff_who_mean_a_repeat_can_send_it(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    steps = twin_welcomes(live_runtime)
    with transaction(live_runtime.sessions) as session:
        session.execute(update(Message).where(Message.id == steps[1].id).values(allow_repeat=True))
    # Only the repeat guard is at stake here: the frequency cap, which a resend shares,
    # would move the second text to the next day (tests/delivery/test_caps.py).
    uncapped = Runtime(live_runtime.settings.with_overrides(sms_per_day=0, sms_per_week=0))
    tick(uncapped, steps[0].due_at)
    uncapped.close()
    assert len(twilio_server.messages) == 2


def callback(runtime: Runtime, message_id: int, sid: str) -> None:
    """Twilio's signed status callback for our message `message_id`, through the web app."""
    web = Runtime(runtime.settings.with_overrides(public_url=PUBLIC))
    use(web)
    with TestClient(create_app(web), base_url=PUBLIC) as client:
        params = {"MessageSid": sid, "MessageStatus": "sent"}
        assert signed_post(client, f"/twilio/status/{message_id}", params).status_code == 204
    web.close()
    use(runtime)


def test_a_callback_for_a_text_waiting_to_be_resent_settles_it(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    # Twilio took it so slowly that the look-up did not see it yet: a resend is planned.
    first = in_doubt(live_runtime, twilio_server, taken=False)
    reconcile(live_runtime, first.due_at + timedelta(minutes=1))
    assert get(live_runtime, first.id).status == MessageStatus.SCHEDULED
    callback(live_runtime, first.id, "SMlate")
    settled = get(live_runtime, first.id)
    assert (settled.status, settled.provider_id) == (MessageStatus.SENT, "SMlate")
    assert "confirmed by Twilio's status callback" in (settled.last_error or "")
    tick(live_runtime, first.due_at + timedelta(minutes=2))
    assert twilio_server.messages == []  # never resent


def test_a_callback_takes_its_message_back_from_a_row_an_old_look_up_credited(
    live_runtime: Runtime,
) -> None:
    enrol_visit(live_runtime, add_patient(live_runtime))
    owner, credited = rows(live_runtime)[:2]
    at = datetime(2026, 11, 20, 15, tzinfo=UTC)
    make_unknown(live_runtime, owner, at, "+12015550111")
    with transaction(live_runtime.sessions) as session:
        session.execute(
            update(Message)
            .where(Message.id == credited.id)
            .values(status="sent", provider_id="SMowned", last_error="settled by look-up")
        )
    callback(live_runtime, owner.id, "SMowned")
    assert get(live_runtime, owner.id).provider_id == "SMowned"
    released = get(live_runtime, credited.id)
    assert (released.status, released.provider_id) == (MessageStatus.UNKNOWN, None)
    assert released.last_error == f"its provider message belongs to message #{owner.id}"


def test_a_batch_longer_than_its_lease_keeps_its_rows_while_it_lives(
    settings: Settings, twilio_server: TwilioPeer
) -> None:
    runtime = Runtime(live_settings(settings, twilio_server, lease_seconds=0.6, sms_concurrency=1))
    for n in range(4):
        enrol_visit(runtime, add_patient(runtime, f"P{n}", phone=f"+1201555014{n}"), ref=f"V{n}")
    due = first_steps(runtime)
    twilio_server.state.latency = 0.5  # four sends, one at a time: about 2 s, past the lease
    started = time.monotonic()

    def clock() -> datetime:  # real time, from when the texts were due
        return due[0].due_at + timedelta(seconds=time.monotonic() - started)

    [batch] = claim_due(runtime.sessions, now=clock(), limit=10, batch_size=10)
    sender = threading.Thread(
        target=runtime.dispatcher(clock).send_batch, args=(batch.message_ids,)
    )
    sender.start()
    recovered = []
    while sender.is_alive():
        recovered.append(recover_lapsed(runtime.sessions, now=clock()))
        time.sleep(0.1)
    sender.join()
    assert set(recovered) == {(0, 0)}  # the heartbeat renewed the lease throughout
    assert {get(runtime, r.id).status for r in due} == {MessageStatus.SENT}
    assert len(twilio_server.messages) == 4
    runtime.close()


def test_the_heartbeat_renews_around_rows_its_task_has_locked(runtime: Runtime) -> None:
    """A chunk being recorded holds its rows locked; the heartbeat skips them rather
    than wait (waiting, in another lock order, could deadlock) and renews the rest."""
    for n in range(2):
        enrol_visit(runtime, add_patient(runtime, f"P{n}", phone=f"+1201555014{n}"), ref=f"V{n}")
    due = first_steps(runtime)
    now = due[0].due_at
    [batch] = claim_due(runtime.sessions, now=now, limit=10, batch_size=10)
    lease = Lease(runtime.sessions, seconds=30, clock=lambda: now)
    held = lease.take(batch.message_ids)
    if runtime.engine.dialect.name == "sqlite":
        assert lease.renew() == len(held)  # one writer at a time: nothing to skip
        return
    with runtime.engine.connect() as recorder:
        recorder.execute(select(Message.id).where(Message.id == held[0]).with_for_update())
        assert lease.renew() == len(held) - 1
        recorder.rollback()


def test_rows_a_dead_broker_did_not_take_go_back_in_line_at_once(
    settings: Settings, twilio_server: TwilioPeer
) -> None:
    from followup.tasks import dispatch_due

    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    runtime = Runtime(live_settings(settings, twilio_server, redis_url=dead_broker))
    create_celery(runtime.settings, runtime)
    enrol_visit(runtime, add_patient(runtime))
    [first] = first_steps(runtime)
    with pytest.raises(OperationalError):
        dispatch_due.apply(args=(first.due_at.isoformat(),)).get()
    back = get(runtime, first.id)
    assert (back.status, back.lease_until) == (MessageStatus.SCHEDULED, None)
    use(None)


def test_an_old_unsettled_twin_does_not_block_a_new_look_up(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    first, second = family(live_runtime)
    # Last week the sibling's identical text was left for staff; it is not a rival now.
    twilio_server.fail_next(status=500, accept=True, to=FAMILY_PHONE)
    tick(live_runtime, first.due_at)
    [ghost] = [r for r in rows(live_runtime) if r.status == MessageStatus.UNKNOWN]
    twin = second if ghost.id == first.id else first
    with twilio_server.state.lock:  # its text went out a week ago, not now
        twilio_server.state.messages = [
            m
            for m in twilio_server.state.messages
            if m["sid"] != get(live_runtime, twin.id).provider_id
        ]
    with transaction(live_runtime.sessions) as session:
        session.execute(
            update(Message)
            .where(Message.id == twin.id)
            .values(
                status=MessageStatus.UNKNOWN,
                provider_id=None,
                settle_at=None,
                attempted_at=first.due_at - timedelta(days=7),
            )
        )
    reconcile(live_runtime, first.due_at + timedelta(minutes=1))
    assert get(live_runtime, ghost.id).status == MessageStatus.SENT
