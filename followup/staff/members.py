"""Staff members, their own phone and email, and their API tokens (stored hashed);
roles are in `models.Role`, what they may do in `followup.staff.access`."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from followup.care.patients import normalize_email, normalize_phone
from followup.db import rows_changed
from followup.exceptions import InvalidInput, NotFound
from followup.models.base import Channel, utcnow
from followup.models.staff import ApiToken, Role, StaffMember, StaffSession

TOKEN_PREFIX = "fu_"


def add_staff(session: Session, *, name: str, role: str) -> StaffMember:
    name = name.strip()
    if not name:
        raise InvalidInput("a staff member needs a name")
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(r.value for r in Role)}")
    if session.scalar(select(StaffMember.id).where(StaffMember.name == name)) is not None:
        raise InvalidInput(f"staff member {name!r} exists")
    member = StaffMember(name=name, role=role)
    session.add(member)
    session.flush()
    return member


def get_staff(session: Session, name: str) -> StaffMember:
    member = session.scalar(select(StaffMember).where(StaffMember.name == name))
    if member is None:
        raise NotFound(f"no staff member named {name!r}")
    return member


def set_contacts(member: StaffMember, *, phone: str, email: str) -> None:
    """An admin records the member's own phone and email (blank clears one); they
    vouch for them, and a campaign's test-send goes nowhere else."""
    member.phone = normalize_phone(phone) if phone.strip() else None
    member.email = normalize_email(email) if email.strip() else None


def own_address(member: StaffMember, channel: Channel) -> str:
    """Where a test-send to `member` by `channel` goes: their own recorded contact."""
    address = member.phone if channel is Channel.SMS else member.email
    if not address:
        kind = "phone" if channel is Channel.SMS else "email"
        raise InvalidInput(f"no {kind} of yours is on record: ask an admin to add it")
    return address


def disable(session: Session, member: StaffMember, *, now: datetime) -> None:
    """Every credential stops at once: sign-in, console sessions and API tokens."""
    member.disabled_at = now
    session.execute(
        update(ApiToken)
        .where(ApiToken.staff_id == member.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == member.id, StaffSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def issue_token(session: Session, member: StaffMember) -> tuple[int, str]:
    """A new token for `member`: (its id, the token). The token is shown only now."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(staff_id=member.id, token_hash=_hash(token))
    session.add(record)
    session.flush()
    return record.id, token


def revoke_token(session: Session, token_id: int, *, now: datetime | None = None) -> None:
    changed = rows_changed(
        session,
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow()),
    )
    if not changed:
        raise NotFound(f"no active token #{token_id}")


def authenticate(session: Session, token: str) -> StaffMember | None:
    """The staff member a presented token belongs to, if it is valid, not revoked and
    its member not disabled (checked on every request)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return session.scalar(
        select(StaffMember)
        .join(ApiToken, ApiToken.staff_id == StaffMember.id)
        .where(
            ApiToken.token_hash == _hash(token),
            ApiToken.revoked_at.is_(None),
            StaffMember.disabled_at.is_(None),
        )
    )


def _hash(token: str) -> str:
    # Tokens are long and random, so a fast hash is enough (no password stretching).
    return hashlib.sha256(token.encode()).hexdigest()
