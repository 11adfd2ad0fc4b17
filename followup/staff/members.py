"""Staff members, their own phone and email, and their API tokens (stored hashed);
roles are in `models.Role`, what they may do in `followup.staff.access`."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from followup.care.patients import normalize_email, normalize_phone
from followup.db import rows_changed
from followup.exceptions import InvalidInput, NotFound
from followup.models.base import Base, Channel, utcnow
from followup.models.replies import Reply
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


@dataclass(frozen=True)
class DisableConsequences:
    """What disabling a member ends, for the admin to read before they confirm."""

    sessions: int  # console sessions signed out at once
    tokens: int  # API tokens revoked
    assigned: int  # replies assigned to them, not yet handled (they stay assigned)


def check_disable(session: Session, member: StaffMember, *, by_id: int) -> DisableConsequences:
    """Raise `InvalidInput` if `member` may not be disabled by the admin `by_id`: not
    themselves, not the last active admin, not twice. Otherwise: what it would end."""
    if member.id == by_id:
        raise InvalidInput("You cannot disable yourself: another admin must do it.")
    if member.disabled_at is not None:
        raise InvalidInput(f"{member.name} is disabled already.")
    if member.role == Role.ADMIN:
        # Locked (PostgreSQL): two admins disabling each other at once cannot both pass.
        admins = session.scalars(
            select(StaffMember.id)
            .where(StaffMember.role == Role.ADMIN, StaffMember.disabled_at.is_(None))
            .with_for_update()
        ).all()
        if set(admins) <= {member.id}:
            raise InvalidInput(
                f"{member.name} is the last active admin: enable or add another admin first."
            )
    return DisableConsequences(
        sessions=_count(
            session,
            StaffSession,
            StaffSession.staff_id == member.id,
            StaffSession.ended_at.is_(None),
        ),
        tokens=_count(
            session, ApiToken, ApiToken.staff_id == member.id, ApiToken.revoked_at.is_(None)
        ),
        assigned=_count(session, Reply, Reply.assigned_to == member.id, Reply.handled_at.is_(None)),
    )


def disable(session: Session, member: StaffMember, *, now: datetime, by_id: int) -> None:
    """Every credential stops at once: sign-in, console sessions and API tokens; refused
    (nothing changed) as `check_disable` says."""
    check_disable(session, member, by_id=by_id)
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


def _count(session: Session, model: type[Base], *conditions: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def _hash(token: str) -> str:
    # Tokens are long and random, so a fast hash is enough (no password stretching).
    return hashlib.sha256(token.encode()).hexdigest()
