"""What staff do with a message nobody can confirm, recorded with who and why.

An `unknown` message may or may not have reached the patient: an email whose
connection dropped during DATA, a text the provider's records cannot tell apart. A
person decides, having asked the patient or checked the provider's console:

    mark-sent   it reached the patient
    resend      it did not: send it again now (through consent and quiet hours, and
                past the repeat guard, since staff mean it)
    cancel      leave it unsent
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import update
from sqlalchemy.orm import Session

from followup.db import rows_changed
from followup.delivery.reconcile import NOTE
from followup.exceptions import InvalidInput, NotFound
from followup.models.outbox import Message, MessageStatus
from followup.models.staff import AuditEntry

Settlement = Literal["mark-sent", "resend", "cancel"]
ACTIONS: tuple[str, ...] = get_args(Settlement)


def settle_by_staff(
    session: Session, message_id: int, action: str, *, by: str, reason: str, now: datetime
) -> None:
    """Apply `action` to the unknown message `message_id` and write it to the audit log."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}: choose one of {', '.join(ACTIONS)}")
    if not by.strip() or not reason.strip():
        raise InvalidInput("say who settles the message (--by) and the reason (--reason)")
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"no message #{message_id}")
    if message.status != MessageStatus.UNKNOWN:
        raise InvalidInput(
            f"message #{message_id} is {message.status}: only an unknown message is settled by staff"
        )
    cause = (message.last_error or "").split(NOTE)[0]
    note = f"{cause}{NOTE}{action} by {by.strip()}: {reason.strip()}"
    values: dict[str, object] = {"settle_at": None, "last_error": note, "updated_at": now}
    if action == "mark-sent":
        values |= {"status": MessageStatus.SENT, "sent_at": message.attempted_at or now}
    elif action == "resend":
        values |= {
            "status": MessageStatus.SCHEDULED,
            "due_at": now,
            "attempts": 0,
            "allow_repeat": True,
            "claimed_by": None,
        }
    else:
        values["status"] = MessageStatus.CANCELLED
    changed = rows_changed(
        session,
        update(Message)
        .where(Message.id == message_id, Message.status == MessageStatus.UNKNOWN)
        .values(**values),
    )
    if not changed:
        raise InvalidInput(f"message #{message_id} was settled meanwhile; nothing changed")
    session.add(
        AuditEntry(
            at=now,
            actor=by.strip(),
            action=f"message-{action}",
            message_id=message_id,
            detail=reason.strip(),
        )
    )
