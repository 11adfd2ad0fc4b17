"""The lists staff export: each the same query, with the same filters, as the console
page it comes from (all matching rows, not a page), and no more than the role may see
there: a reply's words and pain score follow `followup.staff.access`, a campaign's
results carry no message text, alerts not the reply that raised them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Select, false, func, select, text
from sqlalchemy.orm import Session

from followup.campaigns.names import get_campaign
from followup.care.consent import standing_column
from followup.care.patients import phone_for_people
from followup.care.search import matching
from followup.exports.sheet import local_time, time_header
from followup.models.base import Channel, utcnow
from followup.models.care import Patient
from followup.models.outbox import Message, Purpose
from followup.models.replies import Alert, Reply
from followup.models.staff import AuditEntry, Role
from followup.replies.closed_alerts import alerts_statement
from followup.replies.inbox import InboxFilter, InboxItem, inbox
from followup.staff.access import Ability, may, reads_reply_text
from followup.staff.audit import AuditQuery, statement

WITHHELD = "(clinician role)"
# What became of each message of a campaign (never its text).
RESULT_COLUMNS = (
    Patient.ref,
    Message.channel,
    Message.status,
    Message.error_code,
    Message.last_error,
    Message.sent_at,
)
CONSENTS = [(c, p) for p in (Purpose.CARE, Purpose.CAMPAIGN) for c in (Channel.SMS, Channel.EMAIL)]


@dataclass(frozen=True)
class Listing:
    """One export: which list (`name`, also its audit action `export-<name>`), the
    filters it was asked with (as the audit log records them), its header, its query
    and how a result row becomes a CSV row; `title` names the file."""

    name: str
    header: Sequence[str]
    statement: Select[*tuple[Any, ...]]
    row: Callable[[Row[*tuple[Any, ...]]], Sequence[object]]
    filters: Mapping[str, str] = field(default_factory=dict)
    title: str = ""
    campaign_id: int | None = None

    def count(self, session: Session) -> int:
        counted = select(func.count()).select_from(self.statement.order_by(None).subquery())
        return int(session.scalar(counted) or 0)

    def rows(self, session: Session) -> Iterator[Sequence[object]]:
        """Every row, fetched a batch at a time (a server-side cursor on PostgreSQL)."""
        if session.get_bind().dialect.name == "postgresql":
            # The per-row look-ups make the plan look costly enough for PostgreSQL to
            # JIT-compile it: seconds of compiling for a query that runs in a fraction.
            session.execute(text("SET LOCAL jit = off"))
        for found in session.execute(self.statement.execution_options(yield_per=500)):
            yield self.row(found)

    def audit_detail(self, rows: int) -> str:
        """Who exported what is the audit entry's; this is what and how many."""
        given = ", ".join(f"{k}={v}" for k, v in self.filters.items() if v) or "no filters"
        return f"{self.title or self.name} ({given}): {rows} rows"


def patients(*, q: str, zone: ZoneInfo) -> Listing:
    """The patients the search finds (every patient when it is blank), with where
    they stand on each channel's consent."""
    found = matching(q, today=utcnow().astimezone(zone).date())
    if found is None:  # blank: everyone; nothing to search by: no one, as on the page
        found = select(Patient).where(false()) if q.strip() else select(Patient)
    columns = found.order_by(Patient.search_text, Patient.id).with_only_columns(
        Patient.ref,
        Patient.first_name,
        Patient.last_name,
        Patient.date_of_birth,
        Patient.phone,
        Patient.email,
        Patient.preferred_channel,
        Patient.language,
        Patient.timezone,
        Patient.created_at,
        Patient.discharged_at,
        *(standing_column(c, p) for c, p in CONSENTS),
        maintain_column_froms=True,
    )
    header = [
        "ref",
        "first name",
        "last name",
        "date of birth",
        "phone",
        "email",
        "preferred channel",
        "language",
        "time zone",
        time_header("added", zone),
        time_header("discharged", zone),
        *(f"{c.value} {p.value} consent" for c, p in CONSENTS),
    ]

    def row(r: Row[*tuple[Any, ...]]) -> Sequence[object]:
        ref, first, last, born, phone, *more = r[:9]
        times = [local_time(r[9], zone), local_time(r[10], zone)]
        return [ref, first, last, born, phone_for_people(phone), *more, *times, *r[11:]]

    # The search words may be a phone number: the log says a search was given, not which.
    return Listing("patients", header, columns, row, {"search": "given" if q.strip() else ""})


def replies(
    chosen: InboxFilter, *, role: Role, zone: ZoneInfo, shown: Mapping[str, str]
) -> Listing:
    """The inbox's replies; words and pain only where the role reads them there;
    `shown` is the filters as the person asked (for the audit log)."""
    query = inbox(chosen).order_by(Reply.received_at.desc(), Reply.id.desc())
    header = [
        "reply",
        time_header("received", zone),
        "patient ref",
        "patient name",
        "unknown number",
        "channel",
        "triage",
        "keyword",
        "pain",
        "text",
        time_header("handled", zone),
        "handled by",
        "assigned to",
        "alert",
    ]
    reads_pain = may(role, Ability.READ_PAIN)

    def row(r: Row[*tuple[Any, ...]]) -> Sequence[object]:
        item = InboxItem._make(r)
        return [
            item.reply_id,
            local_time(item.received_at, zone),
            item.patient_ref,
            item.patient_name,
            None if item.patient_ref else item.from_address,
            item.channel,
            item.triage,
            item.keyword,
            (item.pain if reads_pain else WITHHELD) if item.pain is not None else None,
            item.body if reads_reply_text(role, item.triage) else WITHHELD,
            local_time(item.handled_at, zone),
            item.handled_by,
            item.assigned_to,
            item.alert_id,
        ]

    return Listing("replies", header, query, row, shown)


def alerts(
    *,
    zone: ZoneInfo,
    state: str = "",
    level: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
    filters: Mapping[str, str] | None = None,
) -> Listing:
    """Open, closed or all alerts (`state` "open", "closed" or ""), newest first;
    `filters` is what the person asked, as they wrote it (days, not instants)."""
    acknowledged = {"open": False, "closed": True}.get(state)
    query = alerts_statement(
        acknowledged=acknowledged, level=level, since=since, until=until, by=by
    ).order_by(Alert.created_at.desc(), Alert.id.desc())
    header = [
        "alert",
        "level",
        "state",
        time_header("raised", zone),
        time_header("acknowledged", zone),
        "acknowledged by",
        "escalation step",
        "patient ref",
        "patient name",
    ]

    def row(r: Row[*tuple[Any, ...]]) -> Sequence[object]:
        alert_id, level_, raised, acked, *rest = r
        shown = [local_time(raised, zone), local_time(acked, zone)]
        return [alert_id, level_, "closed" if acked else "open", *shown, *rest]

    return Listing("alerts", header, query, row, {"state": state, **(filters or {})})


def campaign(session: Session, *, name: str, zone: ZoneInfo) -> Listing:
    """A campaign's results, per recipient: no message text, only what became of it."""
    chosen = get_campaign(session, name)
    query = (
        select(*RESULT_COLUMNS)
        .join(Patient, Message.patient_id == Patient.id)
        .where(Message.campaign_id == chosen.id)
        .order_by(Patient.ref, Message.channel)
    )
    header = ["patient ref", "channel", "state", "reason", time_header("sent", zone)]

    def row(r: Row[*tuple[Any, ...]]) -> Sequence[object]:
        ref, channel, status, code, error, sent = r
        reason = " ".join(part for part in (code, error) if part)
        return [ref, channel, status, reason, local_time(sent, zone)]

    title = f"campaign {chosen.name}"
    return Listing("campaign", header, query, row, title=title, campaign_id=chosen.id)


def audit_log(*, query: AuditQuery, zone: ZoneInfo, filters: Mapping[str, str]) -> Listing:
    """The audit log as an admin filtered it, every entry, newest first."""
    entries = (
        statement(query)
        .with_only_columns(
            AuditEntry.id,
            AuditEntry.at,
            AuditEntry.actor,
            AuditEntry.action,
            AuditEntry.address,
            Patient.ref,
            AuditEntry.campaign_id,
            AuditEntry.detail,
            maintain_column_froms=True,
        )
        .outerjoin(Patient, AuditEntry.patient_id == Patient.id)
    )
    header = [
        "entry",
        time_header("at", zone),
        "who",
        "action",
        "address",
        "patient ref",
        "campaign",
        "detail",
    ]

    def row(r: Row[*tuple[Any, ...]]) -> Sequence[object]:
        return [r[0], local_time(r[1], zone), *r[2:]]

    return Listing("audit", header, entries, row, filters, title="audit log")
