"""Inbound texts stored in batches: order, duplicates, actions, and failures kept apart."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from followup.care.patients import has_consent
from followup.db import transaction
from followup.models.base import Channel, utcnow
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.models.replies import Alert, Reply
from followup.replies.inbound_sms import InboundSms, Received, receive_sms
from followup.runtime import Runtime
from followup.web.inbox import SmsInbox
from followup.web.twilio import store_texts
from tests.conftest import add_patient, enrol_visit

ANA, BEN, STRANGER = "+12015550111", "+12015550222", "+12015550999"


def store(runtime: Runtime, messages: Sequence[InboundSms]) -> list[Received]:
    with transaction(runtime.sessions) as session:
        return receive_sms(
            session,
            settings=runtime.settings.with_overrides(oncall_sms="+12015550900"),
            renderer=runtime.renderer,
            messages=messages,
            now=utcnow(),
        )


def count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_batch_is_stored_once_per_sid_in_order_with_its_consent_changes_and_alerts(
    runtime: Runtime,
) -> None:
    ana = add_patient(runtime, "P1", phone=ANA)
    add_patient(runtime, "P2", phone=BEN, email="ben@example.com")
    (earlier,) = store(runtime, [InboundSms("SM0", ANA, "a bit better")])
    batch = [
        InboundSms("SM1", ANA, "7"),
        InboundSms("SM2", STRANGER, "hi, new number"),
        InboundSms("SM1", ANA, "7"),
        InboundSms("SM0", ANA, "a bit better"),
        InboundSms("SM3", BEN, "I wet myself and my legs are weak"),
        InboundSms("SM4", ANA, "STOP"),
    ]
    results = store(runtime, batch)
    assert [r.reading.triage for r in results] == [
        "attention",
        "routine",
        "attention",
        "routine",
        "emergency",
        None,
    ]
    assert results[0].reply_id == results[2].reply_id
    assert results[3].reply_id == earlier.reply_id
    assert [r.language for r in results] == ["en", None, "en", "en", "en", "en"]
    assert [r.consent_change for r in results] == [None] * 5 + ["stopped"]
    assert count(runtime, Reply) == 5
    with runtime.sessions() as session:
        alerted = session.scalars(select(Alert.reply_id).order_by(Alert.reply_id)).all()
        notices = session.scalars(
            select(Message.recipient).where(Message.purpose == Purpose.ALERT)
        ).all()
        assert alerted == [results[0].reply_id, results[4].reply_id]
        assert notices == ["+12015550900", "+12015550900"]
        assert not has_consent(session, ana.id, Channel.SMS, Purpose.CARE)
    store(runtime, batch)
    assert (count(runtime, Reply), count(runtime, Alert)) == (5, 2)


def test_a_shared_number_belongs_to_the_patient_texted_last_else_the_newest(
    runtime: Runtime,
) -> None:
    parent = add_patient(runtime, "P1", phone=ANA)
    child = add_patient(runtime, "P2", phone=ANA, email="kid@example.com")
    (before,) = store(runtime, [InboundSms("SM1", ANA, "ok")])
    enrol_visit(runtime, parent)
    with transaction(runtime.sessions) as session:
        first = session.scalars(
            select(Message).where(Message.patient_id == parent.id).order_by(Message.due_at)
        ).first()
        assert first is not None
        first.sent_at, first.status = utcnow(), MessageStatus.SENT
    (after,) = store(runtime, [InboundSms("SM2", ANA, "ok")])
    with runtime.sessions() as session:
        owners = [session.get_one(Reply, r.reply_id) for r in (before, after)]
        assert [(r.patient_id, r.message_id) for r in owners] == [
            (child.id, None),
            (parent.id, first.id),
        ]


def test_texts_arriving_together_share_one_batch(runtime: Runtime) -> None:
    add_patient(runtime, phone=ANA)
    batches: list[int] = []

    def recording(messages: Sequence[InboundSms]) -> list[Received]:
        batches.append(len(messages))
        return store_texts(runtime, messages)

    async def twenty_at_once() -> list[Received]:
        inbox = SmsInbox(recording)
        texts = [InboundSms(f"SM{n}", ANA, f"pain {n % 5}") for n in range(20)]
        return await asyncio.gather(*(inbox.receive(sms) for sms in texts))

    results = asyncio.run(twenty_at_once())
    assert batches == [20]
    assert [r.reading.pain for r in results] == [n % 5 for n in range(20)]
    assert count(runtime, Reply) == 20


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_text_the_database_refuses_fails_alone(runtime: Runtime) -> None:
    add_patient(runtime, phone=ANA)

    async def three_at_once() -> list[Received | BaseException]:
        inbox = SmsInbox(lambda messages: store_texts(runtime, messages))
        texts = [
            InboundSms("SMgood1", ANA, "better"),
            InboundSms("SM" + "x" * 100, ANA, "longer sid than a reply row holds"),
            InboundSms("SMgood2", ANA, "much better"),
        ]
        return await asyncio.gather(*(inbox.receive(sms) for sms in texts), return_exceptions=True)

    first, refused, last = asyncio.run(three_at_once())
    assert isinstance(first, Received) and isinstance(last, Received)
    assert isinstance(refused, Exception)
    with runtime.sessions() as session:
        stored = session.scalars(select(Reply.provider_id).order_by(Reply.id)).all()
    assert stored == ["SMgood1", "SMgood2"]


class Interrupted(BaseException):
    """What a store sees when the process is being torn down under it."""


def test_an_interrupted_batch_fails_every_request_in_it_rather_than_leave_one_waiting() -> None:
    def interrupted(messages: Sequence[InboundSms]) -> list[Received]:
        raise Interrupted

    async def three_at_once() -> list[Received | BaseException]:
        inbox = SmsInbox(interrupted)
        texts = [InboundSms(f"SM{n}", ANA, "better") for n in range(3)]
        return await asyncio.gather(*(inbox.receive(sms) for sms in texts), return_exceptions=True)

    first, second, third = asyncio.run(asyncio.wait_for(three_at_once(), timeout=10))
    assert isinstance(first, Interrupted)
    assert isinstance(second, RuntimeError) and isinstance(third, RuntimeError)
