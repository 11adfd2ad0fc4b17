"""The outcomes page reads the latest snapshot of every episode's outcome, says when it
was taken, warns when the scheduled refresh is late, and takes one on request."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy import text as text_sql

from followup.care.outcome_snapshot import REFRESH_EVERY, summarize, take_snapshot, taken_at
from followup.care.outcomes import episode_outcomes
from followup.db import on_postgresql, transaction
from followup.models.base import utcnow
from followup.models.outcomes import OutcomeSnapshot, StoredOutcome
from followup.models.staff import AuditEntry, Role
from followup.runtime import Runtime
from followup.tasks import refresh_outcomes
from followup.web.app import create_app
from followup.worker import create_celery
from tests.conftest import PUBLIC, VISIT, add_patient
from tests.console.test_console import form_token, make_staff, sign_in
from tests.console.test_programmes import sent_at, text
from tests.delivery.test_caps import walk
from tests.peers.twilio_server import TwilioPeer
from tests.web.test_programmes import ANA, assign

OTHER = "+12015550122"
PERIOD = {"start": "2026-11-01", "end": "2026-11-30", "by": "clinician"}
PAGE = "/console/outcomes?start=2026-11-01&end=2026-11-30&by=clinician"


@pytest.fixture
def console(web_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(web_runtime), base_url=PUBLIC) as client:
        yield client


def pain_cell(page: str) -> str:
    """The clinician's pain change as the page shows it."""
    row = re.search(r"<tr><td>Dr\. Rivera</td>(.*?)</tr>", page)
    assert row is not None, "no row for the clinician"
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    return cells[2]


def an_episode_with_two_pain_scores(runtime: Runtime) -> None:
    """A visit, then pain 5 on day 5 and 2 at four weeks: a fall of 3."""
    assign(runtime, add_patient(runtime, phone=ANA), None)
    walk(runtime, VISIT + timedelta(days=5))
    text(runtime, "5", sent_at(runtime, "warning-signs") + timedelta(hours=1), "S1")
    walk(runtime, VISIT + timedelta(days=29))
    text(runtime, "2", sent_at(runtime, "progress-4w") + timedelta(hours=1), "S2")


def test_a_snapshot_holds_what_counting_the_episodes_gives_and_rewrites_only_changes(
    web_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    an_episode_with_two_pain_scores(web_runtime)
    assign(web_runtime, add_patient(web_runtime, "P2", phone=OTHER), None, ref="V2")
    start, end = VISIT - timedelta(days=1), VISIT + timedelta(days=1)
    with transaction(web_runtime.sessions) as session:
        assert taken_at(session) is None
        assert take_snapshot(session) == 2
        first = taken_at(session)
    with web_runtime.sessions() as session:
        counted = episode_outcomes(session, start=start, end=end)
        [rivera, everyone] = summarize(session, start=start, end=end, by="clinician")
        later = summarize(session, start=end, end=end + timedelta(days=30), by="office")
    assert stored(web_runtime) == [(o.episode_id, o.pain_change) for o in counted]
    assert [o.pain_change for o in counted] == [3.0, None]
    assert (rivera.group, rivera.patients, rivera.pain_change) == ("Dr. Rivera", 2, 3.0)
    assert (everyone.group, everyone.pain_mcid_share, everyone.pain_measured) == ("All", 1.0, 1)
    assert later == []

    # Taken again after a score: the changed episode is rewritten, the other kept as it was.
    versions = row_versions(web_runtime)
    text(web_runtime, "0", sent_at(web_runtime, "progress-4w") + timedelta(hours=3), "S3")
    with transaction(web_runtime.sessions) as session:
        assert take_snapshot(session) == 2
        again = taken_at(session)
    assert stored(web_runtime) == [(counted[0].episode_id, 5.0), (counted[1].episode_id, None)]
    assert first is not None and again is not None and again >= first
    if versions:  # PostgreSQL: each row's version (SQLite keeps none to compare)
        now = row_versions(web_runtime)
        assert now[counted[1].episode_id] == versions[counted[1].episode_id]
        assert now[counted[0].episode_id] != versions[counted[0].episode_id]


def stored(runtime: Runtime) -> list[tuple[int, float | None]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(StoredOutcome.episode_id, StoredOutcome.pain_change).order_by(
                StoredOutcome.first_visit_at, StoredOutcome.episode_id
            )
        )
        return [(episode_id, pain) for episode_id, pain in rows]


def row_versions(runtime: Runtime) -> dict[int, str]:
    """Each stored row's version on PostgreSQL (`xmin`, the transaction that wrote it)."""
    with runtime.sessions() as session:
        if not on_postgresql(session):
            return {}
        rows = session.execute(text_sql("SELECT episode_id, xmin::text FROM episode_outcomes"))
        return {episode_id: version for episode_id, version in rows}


def test_the_page_says_how_old_its_figures_are_and_refreshes_on_request(
    web_runtime: Runtime, twilio_server: TwilioPeer, console: TestClient
) -> None:
    an_episode_with_two_pain_scores(web_runtime)
    make_staff(web_runtime, "lee", Role.CLINICIAN)
    sign_in(console, "lee")
    first = console.get(PAGE).text  # the first look takes the first snapshot
    assert "Figures as of" in first and "just now" in first
    assert "refreshed every 15 minutes" in first and pain_cell(first).startswith("+3.0")

    # A later score counts from the next snapshot on: beat's task takes one.
    last_check_in = sent_at(web_runtime, "progress-4w")
    text(web_runtime, "0", last_check_in + timedelta(hours=3), "S3")
    assert pain_cell(console.get(PAGE).text).startswith("+3.0")
    assert refresh_outcomes() == 1
    assert pain_cell(console.get(PAGE).text).startswith("+5.0")

    # So does "Refresh now", back on the same period.
    text(web_runtime, "1", last_check_in + timedelta(hours=4), "S4")
    page = console.post(
        "/console/outcomes/refresh", data={**PERIOD, "csrf": form_token(first)}
    ).text
    assert 'value="2026-11-01"' in page and pain_cell(page).startswith("+4.0")
    exported = console.get("/console/outcomes.csv?start=2026-11-01&end=2026-11-30&by=office")
    [hoboken, everyone] = list(csv.DictReader(io.StringIO(exported.text)))
    assert hoboken["pain_change_mean"] == "4.0"
    # The file says when its figures are from, on the clinic's (New York) clock.
    with web_runtime.sessions() as session:
        taken = taken_at(session)
    as_of = datetime.fromisoformat(hoboken["figures_as_of"])
    assert taken is not None and as_of == taken.replace(second=0, microsecond=0)
    assert as_of.utcoffset() in {timedelta(hours=-5), timedelta(hours=-4)}
    assert everyone["figures_as_of"] == hoboken["figures_as_of"]

    # A snapshot older than two refreshes: the scheduler may have stopped.
    with transaction(web_runtime.sessions) as session:
        session.execute(update(OutcomeSnapshot).values(taken_at=utcnow() - timedelta(hours=1)))
    late = console.get(PAGE).text
    assert "the last refresh is late" in late and 'class="warning"' in late
    assert "the last refresh is late" not in page

    with web_runtime.sessions() as session:
        actions = list(session.scalars(select(AuditEntry.action)))
    assert actions.count("refresh-outcomes") == 1


def test_only_those_who_read_outcomes_may_refresh_them(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    token = form_token(console.get("/console/inbox").text)
    refused = console.post("/console/outcomes/refresh", data={**PERIOD, "csrf": token})
    assert refused.status_code == 403
    with web_runtime.sessions() as session:
        assert session.get(OutcomeSnapshot, 1) is None


def test_beat_refreshes_the_outcomes_every_fifteen_minutes(web_runtime: Runtime) -> None:
    app = create_celery(web_runtime.settings, web_runtime)
    entry = app.conf.beat_schedule["refresh-outcomes"]
    assert entry["task"] == refresh_outcomes.name == "followup.tasks.refresh_outcomes"
    assert entry["schedule"] == REFRESH_EVERY.total_seconds() == 900
