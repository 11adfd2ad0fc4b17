"""Signed-in browsers. The cookie holds a random token; the database keeps its hash,
whose staff member it is, its CSRF token, and when it was last used.

A session ends when its member signs out or is disabled, after `idle` without a
request, or at most `LONGEST` after it began.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from followup.models.staff import Role, StaffMember, StaffSession

LONGEST = timedelta(hours=12)
# `seen_at` is written at most this often, not on every request.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SignedIn:
    """Who a request comes from."""

    session_id: int
    staff_id: int
    name: str
    role: Role
    csrf_token: str
    verified: bool  # the second factor too, where one is needed

    def may(self, needed: Role) -> bool:
        return self.verified and self.role.may(needed)


def start_session(session: Session, member: StaffMember, *, verified: bool, now: datetime) -> str:
    """A new session for `member`; returns the token for the cookie (not stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=_hash(token),
            staff_id=member.id,
            csrf_token=secrets.token_urlsafe(32),
            verified=verified,
            created_at=now,
            seen_at=now,
        )
    )
    return token


def find_session(
    session: Session, token: str, *, now: datetime, idle: timedelta
) -> SignedIn | None:
    row = session.execute(
        select(StaffSession, StaffMember)
        .join(StaffMember, StaffSession.staff_id == StaffMember.id)
        .where(StaffSession.token_hash == _hash(token), StaffSession.ended_at.is_(None))
    ).first()
    if row is None:
        return None
    found, member = row
    if (
        member.disabled_at is not None
        or now - found.seen_at > idle
        or now - found.created_at > LONGEST
    ):
        found.ended_at = now
        return None
    if now - found.seen_at > TOUCH_EVERY:
        found.seen_at = now
    return SignedIn(
        found.id, member.id, member.name, Role(member.role), found.csrf_token, found.verified
    )


def verify_session(session: Session, session_id: int) -> None:
    """The second factor was given: the session may now do what its role allows."""
    session.execute(update(StaffSession).where(StaffSession.id == session_id).values(verified=True))


def end_sessions(
    session: Session, *, now: datetime, session_id: int | None = None, staff_id: int | None = None
) -> None:
    """End one session (sign-out), or all of a member's (disabled, password reset)."""
    statement = update(StaffSession).where(StaffSession.ended_at.is_(None))
    if session_id is not None:
        statement = statement.where(StaffSession.id == session_id)
    if staff_id is not None:
        statement = statement.where(StaffSession.staff_id == staff_id)
    session.execute(statement.values(ended_at=now))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
