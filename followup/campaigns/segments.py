"""Campaign segments: filters staff combine, evaluated in the database.

A segment selects patients; who among them can be reached, and on which channel, is
decided per patient (`followup.campaigns.reach`) from campaign consent and contact
details, streaming the rows so memory does not grow with the number of patients.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from followup.care.patients import parse_language
from followup.care.plans import PREFERRED
from followup.care.visits import parse_office
from followup.db import escape_like
from followup.exceptions import InvalidInput
from followup.models.base import Channel, utcnow
from followup.models.care import Consent, ConsentEvent, Patient, Visit
from followup.models.outbox import Purpose
from followup.models.replies import Reply
from followup.schedule import start_of_day

STREAM_CHUNK = 1000
# A hundred years: a longer "not seen for" would reach before any date a database keeps.
MAX_DAYS = 36500


@dataclass(frozen=True)
class Segment:
    offices: tuple[str, ...] = ()
    visited_from: date | None = None
    visited_to: date | None = None
    not_seen_days: int | None = None  # last visit older than this many days
    tags: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    min_pain: int | None = None  # latest pain score at or above
    replied_since: date | None = None
    not_replied_since: date | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Segment:
        raw = json.loads(text)
        return cls.parse(**raw)

    @classmethod
    def parse(cls, **raw: object) -> Segment:
        """Validate loose values (from a CLI, a JSON body); `InvalidInput` names the field."""
        try:
            offices = tuple(parse_office(str(o)).value for o in _seq(raw.get("offices")))
            segment = cls(
                offices=offices,
                visited_from=_date(raw.get("visited_from")),
                visited_to=_date(raw.get("visited_to")),
                not_seen_days=_int(raw.get("not_seen_days"), "not_seen_days", low=0, high=MAX_DAYS),
                tags=tuple(str(t).strip().lower() for t in _seq(raw.get("tags")) if str(t).strip()),
                languages=tuple(parse_language(str(x)) for x in _seq(raw.get("languages"))),
                min_pain=_int(raw.get("min_pain"), "min_pain", low=0, high=10),
                replied_since=_date(raw.get("replied_since")),
                not_replied_since=_date(raw.get("not_replied_since")),
            )
        except ValueError as exc:
            raise InvalidInput(f"segment: {exc}") from None
        if (
            segment.visited_from
            and segment.visited_to
            and segment.visited_from > segment.visited_to
        ):
            raise InvalidInput("segment: visited_from is after visited_to")
        return segment

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in asdict(self).items() if v not in (None, ())]
        return ", ".join(parts) or "every patient"


class Candidate(NamedTuple):
    """A patient of the segment, with what deciding their channel needs."""

    patient_id: int
    first_name: str
    language: str
    timezone: str
    phone: str | None
    email: str | None
    preferred_channel: str
    discharged: bool
    sms_consent: bool | None  # None: never asked
    email_consent: bool | None
    sms_granted_before: bool  # some campaign consent on this channel was ever given
    email_granted_before: bool


def candidates(
    session: Session, segment: Segment, *, zone: ZoneInfo, now: datetime | None = None
) -> Iterator[Candidate]:
    """Stream the segment's patients, a chunk at a time, ordered by id. Dates in the
    segment are days in `zone`, the clinic's time zone."""
    query = _query(segment, now or utcnow(), zone)
    last_id = 0
    while True:
        rows = session.execute(
            query.where(Patient.id > last_id).order_by(Patient.id).limit(STREAM_CHUNK)
        ).all()
        for row in rows:
            yield Candidate._make(row)
        if len(rows) < STREAM_CHUNK:
            return
        last_id = rows[-1][0]


def reachable(
    segment: Segment, *, wanted: str, zone: ZoneInfo, now: datetime | None = None
) -> Select[tuple[int, str | None, str, str]]:
    """The segment's patients as (id, channel, time zone, language), the channel chosen
    in the database exactly as `reach.choose_channel` chooses it (None: not reachable)."""
    sms, email = aliased(Consent), aliased(Consent)
    channel = _channel_case(wanted, sms, email).label("channel")
    query = _with_consents(
        select(Patient.id, channel, Patient.timezone, Patient.language), sms, email
    )
    return _filtered(query, segment, now or utcnow(), zone)


def candidates_with_channel(
    segment: Segment, *, wanted: str, zone: ZoneInfo, now: datetime | None = None
) -> Select[*tuple[Any, ...]]:
    """The segment's patients with every `Candidate` column (by its field's name) and
    `channel`, chosen in the database as `reach.choose_channel` chooses it."""
    sms, email = aliased(Consent), aliased(Consent)
    columns = _candidate_columns(sms, email)
    query = _with_consents(
        select(*columns, _channel_case(wanted, sms, email).label("channel")), sms, email
    )
    return _filtered(query, segment, now or utcnow(), zone)


def _channel_case(wanted: str, sms: type[Consent], email: type[Consent]) -> ColumnElement[Any]:
    can = {
        Channel.SMS: and_(func.coalesce(Patient.phone, "") != "", sms.granted == true()),
        Channel.EMAIL: and_(func.coalesce(Patient.email, "") != "", email.granted == true()),
    }
    if wanted == PREFERRED:
        prefers_email = Patient.preferred_channel == Channel.EMAIL.value
        order = [
            (and_(prefers_email, can[Channel.EMAIL]), Channel.EMAIL),
            (and_(prefers_email, can[Channel.SMS]), Channel.SMS),
            (can[Channel.SMS], Channel.SMS),
            (can[Channel.EMAIL], Channel.EMAIL),
        ]
    else:
        order = [(can[Channel(wanted)], Channel(wanted))]
    return case(
        (Patient.discharged_at.is_not(None), null()),
        *((rule, literal(kind.value)) for rule, kind in order),
        else_=null(),
    )


def _query(segment: Segment, now: datetime, zone: ZoneInfo) -> Select[*tuple[Any, ...]]:
    sms, email = aliased(Consent), aliased(Consent)
    columns = select(*_candidate_columns(sms, email))
    return _filtered(_with_consents(columns, sms, email), segment, now, zone)


def _candidate_columns(sms: type[Consent], email: type[Consent]) -> list[ColumnElement[Any]]:
    """A `Candidate`'s columns, each labelled with its field's name."""
    columns: list[Any] = [
        Patient.id,
        Patient.first_name,
        Patient.language,
        Patient.timezone,
        Patient.phone,
        Patient.email,
        Patient.preferred_channel,
        Patient.discharged_at.is_not(None),
        sms.granted,
        email.granted,
        _ever_granted(Channel.SMS),
        _ever_granted(Channel.EMAIL),
    ]
    return [c.label(name) for c, name in zip(columns, Candidate._fields, strict=True)]


def _ever_granted(channel: Channel) -> ColumnElement[bool]:
    """Whether the patient's history holds a campaign consent given on `channel`: a
    "no" after one is a revocation, a "no" without one was never a "yes"."""
    return exists().where(
        ConsentEvent.patient_id == Patient.id,
        ConsentEvent.channel == channel.value,
        ConsentEvent.purpose == Purpose.CAMPAIGN.value,
        ConsentEvent.granted == true(),
    )


def _with_consents(
    query: Select[*tuple[Any, ...]], sms: type[Consent], email: type[Consent]
) -> Select[*tuple[Any, ...]]:
    """`query` with the patient's campaign consent on each channel, if any."""
    for alias, channel in ((sms, Channel.SMS), (email, Channel.EMAIL)):
        query = query.outerjoin(
            alias,
            and_(
                alias.patient_id == Patient.id,
                alias.channel == channel.value,
                alias.purpose == Purpose.CAMPAIGN.value,
            ),
        )
    return query


def _filtered(
    query: Select[*tuple[Any, ...]], segment: Segment, now: datetime, zone: ZoneInfo
) -> Select[*tuple[Any, ...]]:
    visit_rules: list[ColumnElement[bool]] = []
    if segment.offices:
        visit_rules.append(Visit.office.in_(segment.offices))
    if segment.visited_from:
        visit_rules.append(Visit.visited_at >= start_of_day(segment.visited_from, zone))
    if segment.visited_to:
        visit_rules.append(
            Visit.visited_at < start_of_day(segment.visited_to + timedelta(days=1), zone)
        )
    if segment.tags:
        wrapped = literal(",") + Visit.tags + literal(",")
        # A tag is matched literally: % and _ in it are not wildcards.
        visit_rules.append(
            or_(*(wrapped.like(f"%,{escape_like(tag)},%", escape="\\") for tag in segment.tags))
        )
    if visit_rules:
        query = query.where(
            exists().where(
                Visit.patient_id == Patient.id, Visit.cancelled_at.is_(None), *visit_rules
            )
        )
    if segment.not_seen_days is not None:
        last_visit = (
            select(func.max(Visit.visited_at))
            .where(Visit.patient_id == Patient.id, Visit.cancelled_at.is_(None))
            .scalar_subquery()
        )
        query = query.where(last_visit < now - timedelta(days=segment.not_seen_days))
    if segment.languages:
        query = query.where(Patient.language.in_(segment.languages))
    if segment.min_pain is not None:
        latest_pain = (
            select(Reply.pain)
            .where(Reply.patient_id == Patient.id, Reply.pain.is_not(None))
            .order_by(Reply.received_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = query.where(latest_pain >= segment.min_pain)
    if segment.replied_since:
        query = query.where(
            exists().where(
                Reply.patient_id == Patient.id,
                Reply.received_at >= start_of_day(segment.replied_since, zone),
            )
        )
    if segment.not_replied_since:
        query = query.where(
            ~exists().where(
                Reply.patient_id == Patient.id,
                Reply.received_at >= start_of_day(segment.not_replied_since, zone),
            )
        )
    return query


def _seq(value: object) -> list[object]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise ValueError(f"expected a list, got {value!r}")


def _date(value: object) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _int(value: object, name: str, *, low: int, high: int | None = None) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a whole number") from None
    if number < low or (high is not None and number > high):
        raise ValueError(f"{name} {number} is out of range")
    return number
