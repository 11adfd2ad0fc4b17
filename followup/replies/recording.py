"""Storing replies once, and the pain trend that can make a reply need attention."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.db import insert_rows
from followup.models.base import Channel
from followup.models.replies import Alert, Reply, Triage
from followup.operations import metrics
from followup.replies.pain_trend import earlier_scores, trend_reason
from followup.replies.reading import Reading


def reply_row(
    *,
    provider_id: str,
    channel: Channel,
    from_address: str,
    patient_id: int | None,
    message_id: int | None,
    visit_id: int | None,
    body: str,
    reading: Reading,
    now: datetime,
) -> dict[str, object]:
    return {
        "provider_id": provider_id,
        "channel": channel.value,
        "from_address": from_address,
        "patient_id": patient_id,
        "message_id": message_id,
        "visit_id": visit_id,
        "body": body,
        "keyword": reading.keyword,
        "pain": reading.pain,
        "triage": reading.triage,
        "reasons": "; ".join(reading.reasons),
        "readers": " ".join(reading.readers),
        "model_probability": reading.model_probability,
        "received_at": now,
    }


def _reader(row: dict[str, object]) -> str:
    """Who decided a reply, for `followup_replies_total`: the keyword list, or which
    readers found an emergency (rules, model, both), else the rules."""
    if row["keyword"]:
        return "keyword"
    found = str(row.get("readers") or "").split()
    return "both" if len(found) > 1 else (found[0] if found else "rules")


def store_replies(session: Session, rows: list[dict[str, object]]) -> dict[str, int]:
    """Insert replies in one statement; returns the ids of those not stored before,
    by provider id."""
    stored = insert_rows(
        session, Reply, rows, unique="provider_id", returning=("provider_id", "id")
    )
    new = {row.provider_id for row in stored}
    for row in rows:
        if row["provider_id"] in new:
            metrics.REPLIES.labels(str(row["triage"] or "none"), _reader(row)).inc()
    return {row.provider_id: row.id for row in stored}


def with_trends(
    session: Session,
    readings: dict[str, Reading],
    patients: dict[str, int],
    *,
    settings: Settings,
    now: datetime,
) -> dict[str, Reading]:
    """The readings (by key, in order) that a pain trend makes `attention`: a score 3 or
    more above the patient's previous one in the episode, or a second 7 or more."""
    scored = {
        key: (patients[key], reading.pain)
        for key, reading in readings.items()
        if reading.pain is not None and key in patients
    }
    if not scored:
        return {}
    history = earlier_scores(
        session, {pid for pid, _ in scored.values()}, settings=settings, now=now
    )
    changed = {}
    for key, (patient_id, pain) in scored.items():
        reading = readings[key]
        reason = trend_reason(history[patient_id], pain)
        if reason is not None:
            triage = Triage.ATTENTION.value if reading.triage == Triage.ROUTINE else reading.triage
            changed[key] = replace(reading, triage=triage, reasons=(*reading.reasons, reason))
        history[patient_id] = history[patient_id].then(pain)
    return changed


def alerted_before(session: Session, reply_ids: list[int]) -> set[int]:
    """Those of `reply_ids` (stored by an earlier request) whose alert notified staff."""
    if not reply_ids:
        return set()
    return set(
        session.scalars(
            select(Alert.reply_id).where(
                Alert.reply_id.in_(reply_ids), Alert.notified_at.is_not(None)
            )
        )
    )
