"""Whether a patient of a segment can be reached, on which channel, and if not, why.

A patient with no campaign consent on record was never asked: that is not an opt-out,
and staff read the two apart (one is a question to ask at the desk, the other an
answer to respect). A recorded "no" is a revocation when a "yes" came before it in the
patient's consent history, else a "no" given when asked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, null
from sqlalchemy.sql.expression import ColumnCollection

from followup.campaigns.segments import Candidate
from followup.care.consent import ConsentStanding, standing_case, standing_of
from followup.care.plans import PREFERRED
from followup.models.base import Channel

# Why a patient's campaign consent leaves them out, in the preview's words.
LEFT_OUT = {
    ConsentStanding.NEVER_ASKED: "no campaign consent on record (never asked)",
    ConsentStanding.REVOKED: "opted out (revoked)",
    ConsentStanding.NEVER_CONSENTED: "said no when asked (never opted in)",
}
NEVER_ASKED = LEFT_OUT[ConsentStanding.NEVER_ASKED]


NO_ROUTE = "no contact route"
DISCHARGED = "discharged"


def choose_channel(candidate: Candidate, wanted: str) -> tuple[Channel | None, str | None]:
    """(channel, None) for a reachable patient, else (None, why not)."""
    if candidate.discharged:
        return None, DISCHARGED
    order = [Channel(wanted)] if wanted != PREFERRED else _preferred_first(candidate)
    reasons = []
    for channel in order:
        reason = _unreachable(candidate, channel)
        if reason is None:
            return channel, None
        reasons.append(reason)
    return None, reasons[0]


def _preferred_first(candidate: Candidate) -> list[Channel]:
    preferred = Channel(candidate.preferred_channel)
    return [preferred, Channel.EMAIL if preferred is Channel.SMS else Channel.SMS]


def _unreachable(candidate: Candidate, channel: Channel) -> str | None:
    sms = channel is Channel.SMS
    if not (candidate.phone if sms else candidate.email):
        return NO_ROUTE
    standing = standing_of(
        candidate.sms_consent if sms else candidate.email_consent,
        granted_before=candidate.sms_granted_before if sms else candidate.email_granted_before,
    )
    return None if standing is ConsentStanding.GRANTED else LEFT_OUT[standing]


def why_not(c: ColumnCollection[str, Any], wanted: str) -> ColumnElement[str | None]:
    """`choose_channel`'s reason, in SQL, over a `Candidate`'s columns by name: None
    for a reachable patient."""
    first: ColumnElement[Any]
    if wanted == PREFERRED:
        first = case(
            (c.preferred_channel == Channel.EMAIL.value, _unreachable_sql(c, Channel.EMAIL)),
            else_=_unreachable_sql(c, Channel.SMS),
        )
    else:
        first = _unreachable_sql(c, Channel(wanted))
    return case(
        (c.discharged, literal(DISCHARGED)),
        (c.channel.is_not(None), null()),
        else_=first,
    )


def _unreachable_sql(c: ColumnCollection[str, Any], channel: Channel) -> ColumnElement[str]:
    sms = channel is Channel.SMS
    standing = standing_case(
        c.sms_consent if sms else c.email_consent,
        c.sms_granted_before if sms else c.email_granted_before,
    )
    return case(
        (func.coalesce(c.phone if sms else c.email, "") == "", literal(NO_ROUTE)),
        (standing == ConsentStanding.GRANTED.value, null()),
        else_=case({kind.value: words for kind, words in LEFT_OUT.items()}, value=standing),
    )
