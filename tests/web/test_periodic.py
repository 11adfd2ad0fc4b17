"""`followup serve` with no broker in development does beat's periodic work itself."""

from __future__ import annotations

import time
from datetime import timedelta

from starlette.testclient import TestClient

from followup.config import Settings
from followup.db import transaction
from followup.models.base import Channel, utcnow
from followup.models.outbox import Message, MessageStatus
from followup.models.staff import Role
from followup.replies.conversations import queue_answer
from followup.runtime import Runtime, use
from followup.web.app import create_app
from followup.web.periodic import runs_in_process, with_in_process_beat
from followup.worker import create_celery
from tests.conftest import add_patient


def test_only_development_without_a_broker_runs_the_periodic_work_in_process() -> None:
    assert runs_in_process(Settings())
    assert not runs_in_process(Settings(redis_url="redis://127.0.0.1:6379/0"))


def test_the_served_app_dispatches_an_answer_by_itself(runtime: Runtime) -> None:
    patient = add_patient(runtime)
    with transaction(runtime.sessions) as session:
        answer = queue_answer(
            session,
            patient=session.merge(patient),
            channel=Channel.EMAIL,
            text="We moved your visit to Friday.",
            by="maria",
            role=Role.STAFF,
            safety_call_back=False,
            settings=runtime.settings,
            now=utcnow() - timedelta(seconds=1),
        )
        answer_id = answer.id
    celery = create_celery(runtime.settings, runtime)
    try:
        app = create_app(runtime, lifespan=with_in_process_beat(celery))
        with TestClient(app):  # the lifespan runs while the server does
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with runtime.sessions() as session:
                    status = session.get_one(Message, answer_id).status
                if status == MessageStatus.SENT:
                    break
                time.sleep(0.2)
    finally:
        use(None)
    assert status == MessageStatus.SENT
