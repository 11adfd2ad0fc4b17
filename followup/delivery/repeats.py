"""The same text never reaches a patient twice within a window, unless staff mean it.

Two visits on one day, a campaign that says what a plan step says, a retried task:
each may put an identical text in front of the patient again. Just before a message
moves to `sending`, it is compared (by fingerprint, see `followup.delivery.compose`) with what
the patient was sent or is being sent on that channel; a repeat is skipped with the
earlier message named. Staff alerts are not patient messages, and a row staff
re-sent on purpose (`allow_repeat`) goes out regardless.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Integer, String, bindparam, select
from sqlalchemy.orm import Session

from followup.care.patients import lock_patients
from followup.db import dialect_name, per_dialect
from followup.delivery.channels import Outgoing
from followup.delivery.compose import QueuedRow
from followup.models.base import UTCDateTime
from followup.models.outbox import Message, MessageStatus, Purpose

# What the patient has, or may have: a failed or undelivered text never reached them.
REACHED = (
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNKNOWN,
)

Key = tuple[int | None, str, str | None]  # patient, channel, fingerprint

# Built once, run on Core for every chunk the dispatcher starts: building it per
# chunk cost more than running it.
EARLIER = per_dialect(
    lambda member_of: (
        select(Message.patient_id, Message.channel, Message.fingerprint, Message.id)
        .where(
            member_of(Message.patient_id, "patients", Integer()),
            member_of(Message.fingerprint, "prints", String()),
            Message.status.in_(REACHED),
            Message.attempted_at >= bindparam("since", type_=UTCDateTime()),
        )
        .order_by(Message.attempted_at.desc())
    )  # the earliest is kept
)


class RepeatGuard:
    def __init__(self, window: timedelta) -> None:
        self.window = window

    def find(
        self, session: Session, rows: list[QueuedRow], ready: dict[int, Outgoing], now: datetime
    ) -> dict[int, str]:
        """The ids among `ready` that would repeat a recent text, with the reason.

        Locks the patients' rows first (if the caller has not), so two workers starting
        the same patient's messages at once take turns and the second sees the first's
        `sending` row.
        """
        if self.window <= timedelta(0):
            return {}
        checked = [
            row
            for row in rows
            if row.id in ready and row.purpose != Purpose.ALERT and ready[row.id].fingerprint
        ]
        if not checked:
            return {}
        patients = sorted({row.patient_id for row in checked if row.patient_id is not None})
        lock_patients(session, patients)
        db, dialect = session.connection(), dialect_name(session)
        prints = sorted({ready[row.id].fingerprint for row in checked})
        since = now - self.window
        earlier: dict[Key, int] = {
            (patient_id, channel, print_): message_id
            for patient_id, channel, print_, message_id in db.execute(
                EARLIER[dialect], {"patients": patients, "prints": prints, "since": since}
            )
        }
        repeats: dict[int, str] = {}
        for row in sorted(checked, key=lambda r: r.id):
            key = (row.patient_id, row.channel, ready[row.id].fingerprint)
            first = earlier.setdefault(key, row.id)
            if first != row.id and not row.allow_repeat:
                hours = self.window.total_seconds() / 3600
                repeats[row.id] = (
                    f"same text as message #{first}, which this patient had within {hours:g} hours"
                )
        return repeats
