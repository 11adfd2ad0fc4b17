"""Launching a campaign: its outbox rows written by the database, a chunk at a time.

A launch is asked for (`request_launch`, in the caller's transaction, audited), then
written (`write_launch`, a Celery task in production) by one `INSERT ... SELECT` per
chunk of the segment: the database chooses each patient's channel, spreads the slots
at the campaign's rate with `row_number()` and moves texts into the patient's sending
window (`followup.sql_time`). No row passes through Python, so memory stays flat;
each chunk commits on its own, so dispatch starts on the first while the rest are
written, and `launch_done` of `launch_total` tells how far it is. Rendering waits for
dispatch. One row per (campaign, patient, channel): launching twice writes once.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, case, false, func, literal, null, or_, select, true
from sqlalchemy.orm import Session, sessionmaker

from followup.campaigns.lifecycle import EXPIRES_AFTER, audit
from followup.campaigns.segments import Segment, reachable
from followup.config import Settings
from followup.content.campaign_text import SKIP, load_texts
from followup.db import Insert, insert, rows_changed, transaction
from followup.exceptions import InvalidInput
from followup.models.base import Channel, UTCDateTime, utcnow
from followup.models.campaigns import Campaign, CampaignStatus
from followup.models.care import Patient
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.sql_time import sending_window, shifted

# Patients per statement. Each statement joins the segment's tables whole (hash joins
# beat index look-ups past a few thousand rows), so a chunk must be large for that to
# stay small beside its rows; it is still under a second's work that commits, and
# shows progress, on its own.
LAUNCH_CHUNK = 25_000
MICROSECOND = timedelta(microseconds=1)
# Written by a launch, in this order.
COLUMNS = (
    "patient_id",
    "campaign_id",
    "channel",
    "purpose",
    "template",
    "email_fallback",
    "status",
    "due_at",
    "expires_at",
    "attempts",
    "updated_at",
    "created_at",
    "last_error",
)


def request_launch(
    session: Session, campaign: Campaign, *, by: str, now: datetime | None = None
) -> None:
    """Mark the campaign launched (a draft starts running) and its writing due."""
    if campaign.status == CampaignStatus.CANCELLED:
        raise InvalidInput(f"campaign {campaign.name!r} was cancelled")
    audit(session, campaign, by, "launch", "writing its messages")
    if campaign.status == CampaignStatus.DRAFT:
        campaign.status = CampaignStatus.RUNNING
    campaign.launch_requested_at = now or utcnow()
    campaign.launch_total, campaign.launch_done, campaign.launch_finished_at = None, 0, None


def launch(
    sessions: sessionmaker[Session],
    campaign_id: int,
    *,
    settings: Settings,
    by: str,
    now: datetime | None = None,
) -> int:
    """Ask for a launch and write it now, in this process; returns rows written."""
    with transaction(sessions) as session:
        request_launch(session, session.get_one(Campaign, campaign_id), by=by, now=now)
    return write_launch(sessions, campaign_id, settings=settings, by=by, now=now)


def write_launch(
    sessions: sessionmaker[Session],
    campaign_id: int,
    *,
    settings: Settings,
    by: str,
    now: datetime | None = None,
    chunk: int = LAUNCH_CHUNK,
) -> int:
    """Write the campaign's rows a chunk at a time; returns how many were new.

    Stops if the campaign is cancelled meanwhile: each chunk locks the campaign first,
    so a cancel waits for the chunk being written, then cancels its rows too.
    """
    now = now or utcnow()
    with sessions() as session:
        campaign = session.get_one(Campaign, campaign_id)
        everyone = reachable(
            Segment.from_json(campaign.segment),
            wanted=campaign.channel,
            zone=ZoneInfo(settings.default_timezone),
            now=now,
        )
        covered = list(load_texts(campaign.texts))
        skips = campaign.missing_text == SKIP and not campaign.template
        source = everyone.where(Patient.language.in_(covered)) if skips else everyone
        start = max(campaign.start_at, now)
        ends = session.execute(_chunk_ends(source, chunk)).all()
    total = ends[-1].total if ends else 0
    written, after = 0, 0
    for index, (last, _) in enumerate(ends):
        with transaction(sessions) as session:
            campaign = _locked(session, campaign_id)
            if campaign.status == CampaignStatus.CANCELLED:
                return written
            chosen = source.where(Patient.id > after, Patient.id <= last)
            window = (settings.quiet_hours_start, settings.quiet_hours_end)
            rows = _outbox_rows(
                campaign, chosen, start=start, offset=index * chunk, now=now, window=window
            )
            written += rows_changed(session, _insert(session, rows))
            campaign.launch_total = total
            campaign.launch_done = min(total, (index + 1) * chunk)
        after = last
    with transaction(sessions) as session:
        campaign = _locked(session, campaign_id)
        if skips and campaign.status != CampaignStatus.CANCELLED:
            without = everyone.where(Patient.language.not_in(covered))
            written += rows_changed(
                session, _insert(session, _skipped_rows(campaign, without, now))
            )
        campaign.launch_total, campaign.launch_done = total, total
        campaign.launch_finished_at = utcnow()
        audit(session, campaign, by, "launched", f"{written} messages written")
    return written


def _chunk_ends(source: Select[Any], chunk: int) -> Select[Any]:
    """The id of every `chunk`-th reachable patient and of the last, with how many are
    reachable: each chunk is then a range of ids, and its first slot is known."""
    ranked = source.subquery()
    numbered = (
        select(
            ranked.c.id,
            func.row_number().over(order_by=ranked.c.id).label("n"),
            func.count().over().label("total"),
        )
        .where(ranked.c.channel.is_not(None))
        .subquery()
    )
    return (
        select(numbered.c.id, numbered.c.total)
        .where(or_(numbered.c.n % chunk == 0, numbered.c.n == numbered.c.total))
        .order_by(numbered.c.id)
    )


def _outbox_rows(
    campaign: Campaign,
    chosen: Select[Any],
    *,
    start: datetime,
    offset: int,
    now: datetime,
    window: tuple[time, time],
) -> Select[Any]:
    """The chunk's rows in `COLUMNS` order: slot `offset + n` for its n-th reachable
    patient, a text moved into its patient's sending window."""
    ranked = chosen.subquery()
    spacing = timedelta(seconds=1 / campaign.rate) // MICROSECOND
    position = literal(offset) + func.row_number().over(order_by=ranked.c.id) - 1
    slotted = (
        select(
            ranked.c.id,
            ranked.c.channel,
            ranked.c.timezone,
            shifted(literal(start, UTCDateTime()), position * spacing).label("slot"),
        )
        .where(ranked.c.channel.is_not(None))
        .subquery()
    )
    due = case(
        (
            slotted.c.channel == Channel.SMS.value,
            sending_window(slotted.c.slot, slotted.c.timezone, start=window[0], end=window[1]),
        ),
        else_=slotted.c.slot,
    )
    timed = select(slotted.c.id, slotted.c.channel, due.label("due_at")).subquery()
    expires = shifted(timed.c.due_at, EXPIRES_AFTER // MICROSECOND)
    # SQLite reads ON CONFLICT after a SELECT without WHERE as a join's ON.
    return _row(campaign, timed.c, MessageStatus.SCHEDULED, timed.c.due_at, expires, now).where(
        true()
    )


def _skipped_rows(campaign: Campaign, chosen: Select[Any], now: datetime) -> Select[Any]:
    """Rows in `COLUMNS` order, already skipped with the reason, for the reachable
    patients whose language has no text when the campaign skips them."""
    ranked = chosen.subquery()
    stamp = literal(now, UTCDateTime())
    reason = (
        literal("no campaign text in the patient's language (")
        + ranked.c.language
        + literal("): the campaign skips patients without one")
    )
    row = _row(campaign, ranked.c, MessageStatus.SKIPPED, stamp, stamp, now, reason)
    return row.where(ranked.c.channel.is_not(None))


def _row(
    campaign: Campaign,
    patient: Any,
    status: MessageStatus,
    due_at: ColumnElement[Any],
    expires_at: ColumnElement[Any],
    now: datetime,
    error: ColumnElement[Any] | None = None,
) -> Select[Any]:
    """The `COLUMNS` of one outbox row per `patient` (columns id and channel)."""
    stamp = literal(now, UTCDateTime())
    return select(
        patient.id,
        literal(campaign.id),
        patient.channel,
        literal(Purpose.CAMPAIGN.value),
        literal(campaign.template or f"campaign:{campaign.id}"),
        false(),
        literal(status.value),
        due_at,
        expires_at,
        literal(0),
        stamp,
        stamp,
        null() if error is None else error,
    )


def _insert(session: Session, rows: Select[Any]) -> Insert:
    return (
        insert(session, Message)
        .from_select(COLUMNS, rows)
        .on_conflict_do_nothing(index_elements=["campaign_id", "patient_id", "channel"])
        # SQLAlchemy keeps the driver's count for UPDATE and DELETE only, unless asked.
        .execution_options(preserve_rowcount=True)
    )


def _locked(session: Session, campaign_id: int) -> Campaign:
    return session.scalars(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update()
    ).one()
