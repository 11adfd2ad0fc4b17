"""Signed-in browsers. The cookie holds a random token; the database keeps its hash,
whose staff member it is, its CSRF token, and when it was last used.

A session ends when its member signs out or is disabled, after `idle` without a
request, or at most `LONGEST` after it began. Each change of privilege (the second
factor given) ends the session and starts a new one, with a new token and CSRF token,
so a cookie seen before the change is worth nothing after it. A session can carry one
flash: a status line the server chose, shown once on the next page.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from followup.models.staff import Role, StaffMember, StaffSession
from followup.staff.access import Ability, may, reads_reply_text

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
    flash: str | None = None  # shown once, on this request's page

    def can(self, ability: Ability | str) -> bool:
        return self.verified and may(self.role, Ability(ability))

    def reads_reply(self, triage: str | None) -> bool:
        """Whether this member reads the words of a reply of this triage."""
        return self.verified and reads_reply_text(self.role, triage)


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
    flash, found.flash = found.flash, None
    return SignedIn(
        found.id,
        member.id,
        member.name,
        Role(member.role),
        found.csrf_token,
        found.verified,
        flash,
    )


def verify_session(session: Session, session_id: int, *, now: datetime) -> str:
    """The second factor was given: end the password-only session and start a new,
    verified one; returns its token for the cookie."""
    ended = session.get_one(StaffSession, session_id)
    ended.ended_at = now
    member = session.get_one(StaffMember, ended.staff_id)
    return start_session(session, member, verified=True, now=now)


def set_flash(session: Session, session_id: int, message: str) -> None:
    """What the next page of this session says, once."""
    session.execute(
        update(StaffSession).where(StaffSession.id == session_id).values(flash=message[:300])
    )


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
