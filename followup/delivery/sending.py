"""The send path's two writes per chunk: rows into `sending` with the text about to go
out, and rows into `sent` with the provider's id.

Each is one statement for the whole chunk on PostgreSQL (the values as one array per
column, through `unnest`), so a chunk costs one round trip whatever its size. SQLite,
the embedded default, runs the same conditions row by row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    String,
    Text,
    TextClause,
    bindparam,
    exists,
    or_,
    text,
    update,
)
from sqlalchemy.orm import Session

from followup.db import on_postgresql
from followup.delivery.channels import Outgoing
from followup.models.base import UTCDateTime
from followup.models.outbox import MESSAGES, Message, MessageStatus

# What a send may still be recorded over: recovery may have marked it unknown meanwhile.
SENDABLE = (MessageStatus.SENDING, MessageStatus.UNKNOWN)


def _arrays_statement(sql: str, **arrays: Any) -> TextClause:
    """`sql` with `now` (UTC) and one typed array per column for `unnest`."""
    types = [bindparam(name, type_=ARRAY(kind)) for name, kind in arrays.items()]
    return text(sql).bindparams(bindparam("now", type_=UTCDateTime()), *types)


# Written once, as text: built per chunk, SQLAlchemy's constructs cost more than the work.
START_FROM_ARRAYS = _arrays_statement(
    f"""
    UPDATE messages SET status = '{MessageStatus.SENDING.value}', attempts = attempts + 1,
        attempted_at = :now, updated_at = :now, recipient = v.recipient,
        subject = v.subject, body = v.body, fingerprint = v.fingerprint
    FROM unnest(:ids, :recipients, :subjects, :bodies, :fingerprints)
        AS v(id, recipient, subject, body, fingerprint)
    WHERE messages.id = v.id AND messages.status = '{MessageStatus.QUEUED.value}'
        AND messages.claimed_by = :holder
    RETURNING messages.id
    """,
    ids=Integer(),
    recipients=String(),
    subjects=String(),
    bodies=Text(),
    fingerprints=String(),
)
SENT_FROM_ARRAYS = _arrays_statement(
    f"""
    UPDATE messages SET status = '{MessageStatus.SENT.value}', provider_id = v.provider_id,
        sent_at = :now, settle_at = NULL, updated_at = :now, last_error = NULL,
        error_code = NULL
    FROM unnest(:ids, :provider_ids) AS v(id, provider_id)
    WHERE messages.id = v.id
        AND messages.status IN ({", ".join(f"'{status.value}'" for status in SENDABLE)})
        AND NOT EXISTS (
            SELECT 1 FROM messages AS other
            WHERE other.provider_id = v.provider_id AND other.id <> v.id
        )
    RETURNING messages.id
    """,
    ids=Integer(),
    provider_ids=String(),
)


def start_sending(
    session: Session, ready: dict[int, Outgoing], *, holder: str, now: datetime
) -> list[int]:
    """Move the queued rows of `ready` still held by `holder` to `sending`, counting an
    attempt and keeping the exact text; returns their ids, sorted."""
    db = session.connection()
    if on_postgresql(session):
        rows = [ready[message_id] for message_id in sorted(ready)]
        arrays = {
            "ids": [o.message_id for o in rows],
            "recipients": [o.to for o in rows],
            "subjects": [o.subject for o in rows],
            "bodies": [o.body for o in rows],
            "fingerprints": [o.fingerprint or None for o in rows],
        }
        return sorted(db.scalars(START_FROM_ARRAYS, {"now": now, "holder": holder} | arrays))
    started = sorted(
        db.scalars(
            update(MESSAGES)
            .where(
                MESSAGES.c.id.in_(ready),
                MESSAGES.c.status == MessageStatus.QUEUED,
                MESSAGES.c.claimed_by == holder,
            )
            .values(
                status=MessageStatus.SENDING,
                attempts=Message.attempts + 1,
                attempted_at=now,
                updated_at=now,
            )
            .returning(Message.id)
        )
    )
    if started:
        db.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == bindparam("message_id"))
            .values(
                recipient=bindparam("to"),
                subject=bindparam("subject"),
                body=bindparam("body"),
                fingerprint=bindparam("fingerprint"),
            ),
            [
                {
                    "message_id": message_id,
                    "to": ready[message_id].to,
                    "subject": ready[message_id].subject,
                    "body": ready[message_id].body,
                    "fingerprint": ready[message_id].fingerprint or None,
                }
                for message_id in started
            ],
        )
    return started


def mark_sent(
    session: Session, sent: Iterable[tuple[int, str]], *, now: datetime
) -> set[int] | None:
    """Record each (message id, provider id) as sent, unless another row holds that
    provider id; returns the ids recorded (None: not known on this database)."""
    pairs = list(sent)
    db = session.connection()
    if on_postgresql(session):
        arrays = {"ids": [i for i, _ in pairs], "provider_ids": [p for _, p in pairs]}
        return set(db.scalars(SENT_FROM_ARRAYS, {"now": now} | arrays))
    other = MESSAGES.alias("other")
    db.execute(
        update(MESSAGES)
        .where(
            MESSAGES.c.id == bindparam("message_id"),
            # Not IN (...): an expanding list cannot run once per row.
            or_(*(MESSAGES.c.status == status for status in SENDABLE)),
            ~exists().where(
                other.c.provider_id == bindparam("provider_id"),
                other.c.id != bindparam("message_id"),
            ),
        )
        .values(
            status=MessageStatus.SENT,
            provider_id=bindparam("provider_id"),
            sent_at=now,
            settle_at=None,
            updated_at=now,
            last_error=None,
            error_code=None,
        ),
        [{"message_id": i, "provider_id": p} for i, p in pairs],
    )
    return None
