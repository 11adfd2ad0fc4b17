"""Staff sign-in credentials: Argon2 passwords, an optional TOTP second factor, and
one-time links to set a password.

Passwords are hashed with Argon2id (argon2-cffi's defaults, rehashed when those
change). A second factor is a TOTP secret (pyotp), required for a role when an admin
says so; each code is accepted once (the member's last accepted time step is kept, and
only a later one passes), and a secret is set only where there is none. A set-password link is signed and names the password it replaces, so it
works once: setting a password makes it stale.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.db import rows_changed
from followup.exceptions import InvalidInput
from followup.models.staff import Role, RolePolicy, StaffMember

HASHER = PasswordHasher()
# Verified against when there is no account, so a wrong name takes as long as a wrong password.
DUMMY_HASH = HASHER.hash("no such account: the time is the same")
MIN_PASSWORD_LENGTH = 12
SET_PASSWORD_LINK_HOURS = 72


def set_password(member: StaffMember, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip().lower() in {member.name.lower(), "password1234", "123456789012"}:
        raise InvalidInput("choose a password that is not your name or a common one")
    member.password_hash = HASHER.hash(password)


def password_matches(member: StaffMember | None, password: str) -> bool:
    """Whether `password` is `member`'s; the same work when there is no such member."""
    stored = member.password_hash if member is not None and member.password_hash else DUMMY_HASH
    try:
        HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    if member is None or stored is DUMMY_HASH or member.disabled_at is not None:
        return False
    if HASHER.check_needs_rehash(stored):
        member.password_hash = HASHER.hash(password)
    return True


def second_factor_required(session: Session, member: StaffMember) -> bool:
    """True when the member has a second factor, or their role requires one."""
    if member.totp_secret:
        return True
    return bool(
        session.scalar(select(RolePolicy.totp_required).where(RolePolicy.role == member.role))
    )


def require_second_factor(session: Session, role: Role, required: bool) -> None:
    policy = session.get(RolePolicy, role.value)
    if policy is None:
        session.add(RolePolicy(role=role.value, totp_required=required))
    else:
        policy.totp_required = required


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, member: StaffMember, settings: Settings) -> str:
    """What an authenticator app reads (as a QR code or typed in)."""
    return pyotp.TOTP(secret).provisioning_uri(name=member.name, issuer_name=settings.clinic_name)


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The TOTP time step a 6-digit code is for, allowing one step of clock drift
    either way; None when it is no code of `secret`'s."""
    digits = "".join(code.split())
    if len(digits) != 6 or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // totp.interval)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def accept_code(session: Session, member: StaffMember, code: str) -> bool:
    """Whether `code` is the member's, and of a later time step than any accepted
    before: a code works once, and an older one never after it."""
    step = matching_step(member.totp_secret, code) if member.totp_secret else None
    if step is None:
        return False
    return (
        rows_changed(
            session,
            update(StaffMember)
            .where(
                StaffMember.id == member.id,
                StaffMember.totp_secret == member.totp_secret,
                or_(StaffMember.totp_last_step.is_(None), StaffMember.totp_last_step < step),
            )
            .values(totp_last_step=step),
        )
        == 1
    )


def enrol_second_factor(session: Session, member: StaffMember, secret: str, code: str) -> bool:
    """Set `secret` as the member's second factor if `code` is one of its codes and the
    member has none (never replacing one: only an admin's reset clears it)."""
    step = matching_step(secret, code)
    if step is None:
        return False
    return (
        rows_changed(
            session,
            update(StaffMember)
            .where(StaffMember.id == member.id, StaffMember.totp_secret.is_(None))
            .values(totp_secret=secret, totp_last_step=step),
        )
        == 1
    )


def reset_second_factor(member: StaffMember) -> None:
    """An admin's reset: the member sets up a new factor at their next sign-in."""
    member.totp_secret = None
    member.totp_last_step = None


class SetPasswordLinks:
    def __init__(self, settings: Settings) -> None:
        self._serializer = URLSafeTimedSerializer(settings.secret_key, salt="followup-password")
        self.base = settings.public_url.rstrip("/")

    def url(self, member: StaffMember) -> str:
        token = self._serializer.dumps([member.id, _fingerprint(member)])
        return f"{self.base}/console/set-password/{token}"

    def member(self, session: Session, token: str) -> StaffMember:
        """The staff member a still-valid link is for; `InvalidInput` otherwise."""
        try:
            staff_id, fingerprint = self._serializer.loads(
                token, max_age=SET_PASSWORD_LINK_HOURS * 3600
            )
        except (BadData, ValueError, TypeError):
            raise InvalidInput("this link has expired or was changed") from None
        member = session.get(StaffMember, staff_id)
        if member is None or member.disabled_at is not None or fingerprint != _fingerprint(member):
            raise InvalidInput("this link has been used already")
        return member


def _fingerprint(member: StaffMember) -> str:
    return hashlib.sha256((member.password_hash or "none").encode()).hexdigest()[:16]
