"""The outcomes page and its CSV export: per clinician or office, for a chosen period
(`followup.care.outcomes`), with a server-drawn chart. Both sum up the latest snapshot
(`followup.care.outcome_snapshot`); the page says when it was taken, and "Refresh now"
takes one. Clinicians and admins only; the page, every export and every refresh are in
the audit log."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from followup.care.measures import PAIN_MCID, PSFS_MCID
from followup.care.outcome_snapshot import (
    REFRESH_EVERY,
    is_stale,
    summarize,
    take_snapshot,
    taken_at,
)
from followup.care.outcomes import GROUPINGS, OutcomeSummary
from followup.console.outcome_chart import outcomes_chart
from followup.console.sessions import SignedIn
from followup.console.web import Needs, audit_view, page, runtime_of, see_other
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.exports.sheet import safe_cell
from followup.models.base import utcnow
from followup.staff.access import Ability

router = APIRouter(prefix="/console", include_in_schema=False)
ReadsOutcomes = Annotated[SignedIn, Depends(Needs(Ability.READ_OUTCOMES))]
DEFAULT_DAYS = 90
COLUMNS = (
    "group",
    "patients",
    "response_rate",
    "pain_change_mean",
    "pain_measured",
    "pain_mcid_share",
    "psfs_change_mean",
    "psfs_measured",
    "psfs_mcid_share",
    "adherence",
    "figures_as_of",  # when the snapshot was taken, on the clinic's clock
)


def _period(start: str, end: str) -> tuple[date, date]:
    try:
        last = date.fromisoformat(end) if end else datetime.now(UTC).date()
        first = date.fromisoformat(start) if start else last - timedelta(days=DEFAULT_DAYS)
    except ValueError:
        raise InvalidInput("dates are YYYY-MM-DD") from None
    if first > last:
        raise InvalidInput("the period must start before it ends")
    return first, last


def _grouping(by: str) -> str:
    if by not in GROUPINGS:
        raise InvalidInput(f"group by {' or '.join(GROUPINGS)}")
    return by


def _rows(
    request: Request, first: date, last: date, by: str
) -> tuple[list[OutcomeSummary], datetime]:
    """The period's summaries, and when the snapshot they come from was taken (the
    first look takes the first snapshot)."""
    by = _grouping(by)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    with transaction(runtime_of(request).sessions) as session:
        taken = taken_at(session)
        if taken is None:
            take_snapshot(session)
            taken = taken_at(session)
            assert taken is not None
        return summarize(session, start=start, end=end, by=by), taken


@router.get("/outcomes", response_class=HTMLResponse)
def outcomes_page(
    request: Request, who: ReadsOutcomes, start: str = "", end: str = "", by: str = "clinician"
) -> HTMLResponse:
    first, last = _period(start, end)
    rows, taken = _rows(request, first, last, by)
    audit_view(request, who, "read-outcomes", f"{first} to {last} by {by}")
    return page(
        request,
        "outcomes.html",
        who,
        rows=rows,
        chart=outcomes_chart(rows),
        start=first.isoformat(),
        end=last.isoformat(),
        by=by,
        groupings=GROUPINGS,
        pain_mcid=PAIN_MCID,
        psfs_mcid=PSFS_MCID,
        taken_at=taken,
        stale=is_stale(taken, utcnow()),
        refresh_minutes=int(REFRESH_EVERY.total_seconds() // 60),
    )


@router.post("/outcomes/refresh")
def refresh(
    request: Request,
    who: ReadsOutcomes,
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    by: Annotated[str, Form()] = "clinician",
) -> HTMLResponse:
    """Take a snapshot now (what beat does every `REFRESH_EVERY`), then show the page."""
    first, last = _period(start, end)
    by = _grouping(by)
    with transaction(runtime_of(request).sessions) as session:
        episodes = take_snapshot(session)
    audit_view(request, who, "refresh-outcomes", f"{episodes} episodes")
    query = urlencode({"start": first.isoformat(), "end": last.isoformat(), "by": by})
    return see_other(f"/console/outcomes?{query}")


@router.get("/outcomes.csv")
def outcomes_csv(
    request: Request, who: ReadsOutcomes, start: str = "", end: str = "", by: str = "clinician"
) -> Response:
    first, last = _period(start, end)
    rows, taken = _rows(request, first, last, by)
    zone = ZoneInfo(runtime_of(request).settings.clinic_timezone)
    as_of = taken.astimezone(zone).isoformat(timespec="minutes")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            [
                safe_cell(row.group),
                row.patients,
                row.response_rate,
                row.pain_change,
                row.pain_measured,
                row.pain_mcid_share,
                row.psfs_change,
                row.psfs_measured,
                row.psfs_mcid_share,
                row.adherence,
                as_of,
            ]
        )
    detail = f"{first} to {last} by {by}, {len(rows)} rows, as of {taken:%Y-%m-%d %H:%M} UTC"
    audit_view(request, who, "export-outcomes", detail)
    name = f"outcomes-{by}-{first}-{last}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
