"""Follow-up plans: a TOML file per plan, and the time and channel of each step.

A step says when (days after the visit, local time), how (sms, email, or the
patient's preferred channel with email as fallback), what (a template), how late it
may still go out (expiry), for whom (optional: only visits with one of its `tags`) and
whether it waits for a booked next appointment (`not_while_booked`). The series of an
episode of care is written from these by `followup.care.episodes`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.db import insert_rows
from followup.exceptions import InvalidInput, NotFound
from followup.models.base import Channel
from followup.models.care import Consent, Patient
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.schedule import into_sending_window, local_datetime, step_due_at

PREFERRED = "preferred"


@dataclass(frozen=True)
class Step:
    key: str
    day: int
    at: time
    channel: str  # "sms", "email" or "preferred"
    template: str
    expires_after: timedelta
    # Only for episodes whose visits carry one of these tags; empty: for everyone.
    tags: frozenset[str] = frozenset()
    # Held until the day after a booked next appointment (a rebook nudge).
    not_while_booked: bool = False

    def applies(self, tags: set[str]) -> bool:
        return not self.tags or bool(self.tags & tags)


@dataclass(frozen=True)
class Plan:
    name: str
    title: str
    source: str
    steps: tuple[Step, ...]


def load_plan(plans_dir: Path, name: str) -> Plan:
    """The plan file `name`, parsed once while it is unchanged (an import reads it for
    every row)."""
    path = plans_dir / f"{name}.toml"
    if not path.is_file():
        # Named, not their folder: the server's paths are no business of staff.
        names = sorted(found.stem for found in plans_dir.glob("*.toml"))
        there = "there are no plans"
        if names:
            there = (
                f"the plans are {', '.join(names)}" if names[1:] else f"the one plan is {names[0]}"
            )
        raise NotFound(f"no plan named {name!r}; {there}")
    stat = path.stat()
    return _read_plan(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _read_plan(path: Path, _mtime_ns: int, _size: int) -> Plan:
    return parse_plan(path.stem, path.read_text(encoding="utf-8"))


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
        tags=frozenset(str(tag).lower() for tag in _list(raw.get("tags", []))),
        not_while_booked=raw.get("not_while_booked", False) is True,
    )


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise ValueError(f"tags must be a list, not {value!r}")
    return value


def step_times(
    step: Step,
    anchor: tuple[datetime, datetime | None],
    patient: Patient,
    channel: Channel,
    settings: Settings,
) -> tuple[datetime, datetime]:
    """(due, expiry) of `step` after the anchor visit (its time, its next appointment),
    in the patient's sending window."""
    zone = ZoneInfo(patient.timezone)
    visited_at, booked = anchor
    planned = step_due_at(visited_at, day_offset=step.day, at=step.at, zone=zone)
    if step.not_while_booked and booked is not None:
        day_after = booked.astimezone(zone).date() + timedelta(days=1)
        planned = max(planned, local_datetime(day_after, step.at, zone).astimezone(UTC))
    expires_at = planned + step.expires_after
    if channel is Channel.SMS:
        planned = into_sending_window(
            planned, zone=zone, start=settings.quiet_hours_start, end=settings.quiet_hours_end
        )
    return planned, expires_at


def care_consents(session: Session, patient_id: int) -> dict[Channel, bool]:
    rows = session.execute(
        select(Consent.channel, Consent.granted).where(
            Consent.patient_id == patient_id, Consent.purpose == Purpose.CARE.value
        )
    ).all()
    return {Channel(channel): granted for channel, granted in rows}


def resolve_channel(
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


def add_care_message(
    session: Session,
    *,
    patient: Patient,
    episode_id: int,
    visit_id: int | None,
    step: str,
    template: str,
    due_at: datetime,
    expires_at: datetime,
    settings: Settings,
    now: datetime,
) -> int:
    """Add one care message outside the plan's steps (an appointment reminder, the
    discharge form) on the patient's preferred channel with email as fallback, due at
    `due_at` (for a text, in the sending window) until `expires_at`. Returns 1 if added;
    0 when the episode has it already, or the window opens too late for it."""
    row = care_message_row(
        patient,
        care_consents(session, patient.id),
        episode_id=episode_id,
        visit_id=visit_id,
        step=step,
        template=template,
        due_at=due_at,
        expires_at=expires_at,
        settings=settings,
        now=now,
    )
    return len(insert_care_messages(session, [row] if row else []))


def insert_care_messages(session: Session, rows: list[dict[str, Any]]) -> list[Row[Any]]:
    """Insert outbox rows (all with the same keys) but those an episode has already
    (episode, step, channel); returns the (episode_id, step, channel, status) inserted."""
    return insert_rows(
        session,
        Message,
        rows,
        unique=("episode_id", "step", "channel"),
        returning=("episode_id", "step", "channel", "status"),
    )


def care_message_row(
    patient: Patient,
    consents: dict[Channel, bool],
    *,
    episode_id: int,
    visit_id: int | None,
    step: str,
    template: str,
    due_at: datetime,
    expires_at: datetime,
    settings: Settings,
    now: datetime,
) -> dict[str, Any] | None:
    """The outbox row `add_care_message` adds, or None when the window opens too late."""
    channel, fallback = resolve_channel(PREFERRED, patient, consents)
    if channel is Channel.SMS:
        due_at = into_sending_window(
            due_at,
            zone=ZoneInfo(patient.timezone),
            start=settings.quiet_hours_start,
            end=settings.quiet_hours_end,
        )
    if due_at >= expires_at:
        return None
    return {
        "patient_id": patient.id,
        "visit_id": visit_id,
        "episode_id": episode_id,
        "step": step,
        "channel": channel.value,
        "purpose": Purpose.CARE.value,
        "template": template,
        "email_fallback": fallback,
        "status": MessageStatus.SCHEDULED.value,
        "last_error": None,
        "due_at": due_at,
        "expires_at": expires_at,
        "attempts": 0,
        "updated_at": now,
        "created_at": now,
    }
