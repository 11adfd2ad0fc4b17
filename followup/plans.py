"""Follow-up plans: a TOML file per plan, and enrolment of a visit into one.

A step says when (days after the visit, local time), how (sms, email, or the
patient's preferred channel with email as fallback), what (a template) and how late
it may still go out (expiry). Enrolment writes one outbox row per step, at most once
per (visit, step, channel).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.db import insert, rows_changed
from followup.exceptions import InvalidInput, NotFound
from followup.models import (
    PENDING_STATUSES,
    Channel,
    Consent,
    Message,
    MessageStatus,
    Patient,
    Purpose,
    Visit,
    utcnow,
)
from followup.schedule import into_sending_window, step_due_at

PREFERRED = "preferred"


@dataclass(frozen=True)
class Step:
    key: str
    day: int
    at: time
    channel: str  # "sms", "email" or "preferred"
    template: str
    expires_after: timedelta


@dataclass(frozen=True)
class Plan:
    name: str
    title: str
    source: str
    steps: tuple[Step, ...]


def load_plan(plans_dir: Path, name: str) -> Plan:
    path = plans_dir / f"{name}.toml"
    if not path.is_file():
        raise NotFound(f"no plan named {name!r} in {plans_dir}")
    return parse_plan(name, path.read_text(encoding="utf-8"))


def list_plans(plans_dir: Path) -> list[Plan]:
    return [load_plan(plans_dir, path.stem) for path in sorted(plans_dir.glob("*.toml"))]


def parse_plan(name: str, text: str) -> Plan:
    """Read a plan file; raise `InvalidInput` naming the plan and the bad step."""
    try:
        data = tomllib.loads(text)
        steps = tuple(_parse_step(raw) for raw in data["steps"])
        plan = Plan(name=name, title=data["title"], source=data.get("source", ""), steps=steps)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"plan {name!r}: {exc}") from None
    keys = [step.key for step in plan.steps]
    if len(set(keys)) != len(keys):
        raise InvalidInput(f"plan {name!r}: step keys must be unique")
    return plan


def _parse_step(raw: dict[str, object]) -> Step:
    channel = str(raw["channel"])
    if channel not in {Channel.SMS, Channel.EMAIL, PREFERRED}:
        raise ValueError(f"step {raw['key']!r}: channel {channel!r} is not sms, email or preferred")
    day = int(str(raw["day"]))
    if day < 0:
        raise ValueError(f"step {raw['key']!r}: day must not be negative")
    return Step(
        key=str(raw["key"]),
        day=day,
        at=time.fromisoformat(str(raw["at"])),
        channel=channel,
        template=str(raw["template"]),
        expires_after=timedelta(hours=float(str(raw["expires_after_hours"]))),
    )


def enrol(
    session: Session, *, visit: Visit, plan: Plan, settings: Settings, now: datetime | None = None
) -> int:
    """Write the plan's messages for `visit`; returns how many rows were new."""
    now = now or utcnow()
    patient = visit.patient
    consents = _care_consents(session, patient.id)
    rows = []
    for step in plan.steps:
        channel, fallback = _resolve_channel(step.channel, patient, consents)
        due_at, expires_at = _step_times(step, visit.visited_at, patient, channel, settings)
        rows.append(
            {
                "patient_id": patient.id,
                "visit_id": visit.id,
                "step": step.key,
                "channel": channel.value,
                "purpose": Purpose.CARE.value,
                "template": step.template,
                "email_fallback": fallback,
                "status": MessageStatus.SCHEDULED.value,
                "due_at": due_at,
                "expires_at": expires_at,
                "attempts": 0,
                "updated_at": now,
                "created_at": now,
            }
        )
    if not rows:
        return 0
    statement = (
        insert(session, Message)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["visit_id", "step", "channel"])
        .returning(Message.id)
    )
    return len(session.execute(statement).all())


def move_pending(
    session: Session, *, visit: Visit, plan: Plan, settings: Settings, now: datetime | None = None
) -> int:
    """Recompute send times of the visit's pending messages after it moved."""
    now = now or utcnow()
    steps = {step.key: step for step in plan.steps}
    pending = session.scalars(
        select(Message).where(Message.visit_id == visit.id, Message.status.in_(PENDING_STATUSES))
    ).all()
    moved = 0
    for message in pending:
        step = steps.get(message.step or "")
        if step is None:
            continue
        due_at, expires_at = _step_times(
            step, visit.visited_at, visit.patient, Channel(message.channel), settings
        )
        # Conditional: a row a worker claimed meanwhile is left to the worker.
        moved += rows_changed(
            session,
            update(Message)
            .where(Message.id == message.id, Message.status.in_(PENDING_STATUSES))
            .values(
                status=MessageStatus.SCHEDULED,
                due_at=due_at,
                expires_at=expires_at,
                updated_at=now,
            ),
        )
    return moved


def _step_times(
    step: Step, visited_at: datetime, patient: Patient, channel: Channel, settings: Settings
) -> tuple[datetime, datetime]:
    zone = ZoneInfo(patient.timezone)
    planned = step_due_at(visited_at, day_offset=step.day, at=step.at, zone=zone)
    expires_at = planned + step.expires_after
    if channel is Channel.SMS:
        planned = into_sending_window(
            planned, zone=zone, start=settings.quiet_hours_start, end=settings.quiet_hours_end
        )
    return planned, expires_at


def _care_consents(session: Session, patient_id: int) -> dict[Channel, bool]:
    rows = session.execute(
        select(Consent.channel, Consent.granted).where(
            Consent.patient_id == patient_id, Consent.purpose == Purpose.CARE.value
        )
    ).all()
    return {Channel(channel): granted for channel, granted in rows}


def _resolve_channel(
    wanted: str, patient: Patient, consents: dict[Channel, bool]
) -> tuple[Channel, bool]:
    """The concrete channel for a step, and whether it may fall back to email."""
    if wanted != PREFERRED:
        return Channel(wanted), False

    def reachable(channel: Channel) -> bool:
        address = patient.phone if channel is Channel.SMS else patient.email
        return bool(address) and consents.get(channel, False)

    preferred = Channel(patient.preferred_channel)
    other = Channel.EMAIL if preferred is Channel.SMS else Channel.SMS
    chosen = preferred if reachable(preferred) or not reachable(other) else other
    return chosen, chosen is Channel.SMS and reachable(Channel.EMAIL)
