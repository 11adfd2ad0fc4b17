"""Where a patient stands on one channel and purpose, and which "no" is an opt-out.

A "no" is recorded the same way whoever says it (`record_consent`), but it means two
things: a patient who never consented (a "no" cell of an import, an intake form left
unticked) and a patient who consented and then withdrew it (STOP, an unsubscribe link,
the carrier's 21610, staff recording their documented request). Only the second is an
opt-out. The history tells them apart: consent events are recorded only when the
decision changes, so a "no" is a revocation exactly when a "yes" came before it.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, case, exists, func, select
from sqlalchemy.orm import Session, aliased

from followup.exceptions import NotFound
from followup.models.base import Channel
from followup.models.care import Consent, ConsentEvent, Patient
from followup.models.outbox import Purpose


class ConsentStanding(StrEnum):
    NEVER_ASKED = "never asked"  # no decision on record
    NEVER_CONSENTED = "never consented"  # "no" from the start: not an opt-out
    GRANTED = "granted"
    REVOKED = "revoked"  # granted once, then withdrawn: an opt-out


def standing_of(granted: bool | None, *, granted_before: bool) -> ConsentStanding:
    """The standing from the current decision (None: none on record) and whether the
    history holds a consent given: `standing_column`, for rows already loaded."""
    if granted is None:
        return ConsentStanding.NEVER_ASKED
    if granted:
        return ConsentStanding.GRANTED
    return ConsentStanding.REVOKED if granted_before else ConsentStanding.NEVER_CONSENTED


def standing_case(
    granted: SQLColumnExpression[bool | None], granted_before: SQLColumnExpression[bool]
) -> ColumnElement[str]:
    """`standing_of` in SQL, over columns of the current decision (NULL: none on record)
    and of whether the history holds a consent given."""
    return case(
        (granted.is_(None), ConsentStanding.NEVER_ASKED.value),
        (granted.is_(True), ConsentStanding.GRANTED.value),
        (granted_before, ConsentStanding.REVOKED.value),
        else_=ConsentStanding.NEVER_CONSENTED.value,
    )


def is_revocation() -> ColumnElement[bool]:
    """For a query over `ConsentEvent`: this event withdrew a consent once granted."""
    earlier = aliased(ConsentEvent)
    return and_(
        ConsentEvent.granted.is_(False),
        exists().where(
            earlier.patient_id == ConsentEvent.patient_id,
            earlier.channel == ConsentEvent.channel,
            earlier.purpose == ConsentEvent.purpose,
            earlier.granted.is_(True),
            earlier.id < ConsentEvent.id,
        ),
    )


def standing_column(channel: Channel, purpose: Purpose) -> ColumnElement[str]:
    """For a query over `Patient`: the patient's `ConsentStanding` value on this
    channel and purpose (to list or count many patients in one statement). One look-up
    of the current decision by its key; the history is read only for a "no"."""
    ever_granted = exists().where(
        ConsentEvent.patient_id == Consent.patient_id,
        ConsentEvent.channel == Consent.channel,
        ConsentEvent.purpose == Consent.purpose,
        ConsentEvent.granted.is_(True),
    )
    decided = (
        select(standing_case(Consent.granted, ever_granted))
        .where(
            Consent.patient_id == Patient.id,
            Consent.channel == channel.value,
            Consent.purpose == purpose.value,
        )
        .correlate(Patient)
        .scalar_subquery()
    )
    return func.coalesce(decided, ConsentStanding.NEVER_ASKED.value)


def consent_standing(
    session: Session, patient_id: int, channel: Channel, purpose: Purpose
) -> ConsentStanding:
    """Where one patient stands on one channel and purpose."""
    value = session.scalar(
        select(standing_column(channel, purpose)).where(Patient.id == patient_id)
    )
    if value is None:
        raise NotFound(f"no patient #{patient_id}")
    return ConsentStanding(value)
