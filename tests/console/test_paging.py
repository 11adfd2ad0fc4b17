"""Console lists a page at a time (issue 22, point 2): keyset pages with their total,
previous and next, filters kept, every row once across the seams, and a cursor that
was edited, cut or taken from another list refused with 400."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import select

from followup.console.paging import Key, Page, Paging
from followup.db import transaction
from followup.models.base import utcnow
from followup.models.care import Patient
from followup.models.replies import Reply
from followup.models.staff import Role, StaffMember
from followup.runtime import Runtime
from tests.conftest import add_patient
from tests.console.test_console import make_staff, sign_in

SECRET = "a secret for the tests, long enough"
BY_NAME = Paging("test-patients", [Key(Patient.last_name, str), Key(Patient.id, int)], size=7)


@pytest.fixture
def people(runtime: Runtime) -> list[int]:
    """30 patients, many sharing a last name (ties broken by id), in the list's order."""
    with transaction(runtime.sessions) as session:
        for n in range(30):
            session.add(
                Patient(
                    ref=f"T{n}",
                    first_name="Pat",
                    last_name=["Smith", "Abe", "Zed"][n % 3] if n < 27 else "Smith",
                    phone=f"+1201555{n:04d}",
                    timezone="America/New_York",
                )
            )
    with runtime.sessions() as session:
        return list(session.scalars(select(Patient.id).order_by(Patient.last_name, Patient.id)))


def at(runtime: Runtime, cursor: str | None) -> Page:
    """The page of all patients that `cursor` names (None or empty: the first)."""
    with runtime.sessions() as session:
        return BY_NAME.page(session, select(Patient.id), cursor=cursor or "", secret=SECRET)


def walk(runtime: Runtime, paging: Paging, *, backwards_from: str = "") -> list[list[int]]:
    """Every page's ids, following next links (or previous ones, from a cursor)."""
    pages, cursor = [], backwards_from
    while True:
        with runtime.sessions() as session:
            found = paging.page(session, select(Patient.id), cursor=cursor, secret=SECRET)
        pages.append([row[0] for row in found.rows])
        cursor = (found.previous_cursor if backwards_from else found.next_cursor) or ""
        if not cursor:
            return pages[::-1] if backwards_from else pages


def test_pages_hold_every_row_once_in_order(runtime: Runtime, people: list[int]) -> None:
    pages = walk(runtime, BY_NAME)
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert [i for p in pages for i in p] == people


def test_previous_links_walk_back_through_the_same_pages(
    runtime: Runtime, people: list[int]
) -> None:
    with runtime.sessions() as session:
        cursor = ""
        for _ in range(4):  # to the last page
            found = BY_NAME.page(session, select(Patient.id), cursor=cursor, secret=SECRET)
            cursor = found.next_cursor or ""
        last = BY_NAME.page(session, select(Patient.id), cursor=cursor, secret=SECRET)
    assert last.next_cursor is None and (last.start, last.end, last.total) == (29, 30, 30)
    assert last.summary("patient", "patients") == "30 patients, showing 29–30"
    assert last.previous_cursor is not None
    back = walk(runtime, BY_NAME, backwards_from=last.previous_cursor)
    assert [i for p in back for i in p] == people[:28]


def test_going_back_past_rows_that_went_away_lands_on_the_first_page(
    runtime: Runtime, people: list[int]
) -> None:
    second = at(runtime, at(runtime, "").next_cursor)
    with transaction(runtime.sessions) as session:
        for patient_id in people[:3]:
            session.delete(session.get_one(Patient, patient_id))
    back = at(runtime, second.previous_cursor)
    assert [row[0] for row in back.rows] == people[3:10] and back.start == 1
    assert back.previous_cursor is None


def test_the_first_page_says_where_it_is_and_has_no_previous(
    runtime: Runtime, people: list[int]
) -> None:
    with runtime.sessions() as session:
        first = BY_NAME.page(session, select(Patient.id), cursor="", secret=SECRET)
        none = BY_NAME.page(
            session, select(Patient.id).where(Patient.ref == "nobody"), cursor="", secret=SECRET
        )
    assert first.previous_cursor is None and first.next_cursor is not None
    assert first.summary("patient", "patients") == "30 patients, showing 1–7"
    assert none.summary("patient", "patients") == "No patients match."
    assert none.next_cursor is None and none.previous_cursor is None


def test_rows_added_or_removed_between_pages_neither_repeat_nor_skip_the_rest(
    runtime: Runtime, people: list[int]
) -> None:
    first = at(runtime, "")
    with transaction(runtime.sessions) as session:
        session.add(Patient(ref="NEW", first_name="Al", last_name="Aaron", timezone="UTC"))
        session.delete(session.get_one(Patient, people[7]))  # the next page's first row
    second = at(runtime, first.next_cursor)
    assert [row[0] for row in second.rows] == people[8:15]
    # Where it starts is as counted when the link was made (Aaron is not counted in).
    assert second.start == 8 and second.total == 30


def test_items_made_in_python_page_the_same_way() -> None:
    paging = Paging("test-items", [Key(None, int, descending=True), Key(None, str)], size=4)
    items = sorted([(n % 3, f"P{n:02d}") for n in range(10)], key=lambda item: (-item[0], item[1]))
    pages, cursor = [], ""
    while True:
        found = paging.page_items(items, list, cursor=cursor, secret=SECRET)
        pages.append(found.rows)
        if not found.next_cursor:
            break
        cursor = found.next_cursor
    assert [i for p in pages for i in p] == items and [len(p) for p in pages] == [4, 4, 2]
    back = paging.page_items(items, list, cursor=found.previous_cursor or "", secret=SECRET)
    assert back.rows == items[4:8] and back.start == 5


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),  # its end edited
        lambda c: c[:10],  # cut short
        lambda c: "not a cursor!",
        lambda c: "%%%",
    ],
)
def test_a_tampered_cursor_is_refused_with_400(
    runtime: Runtime, people: list[int], tamper: Callable[[str], str]
) -> None:
    with runtime.sessions() as session:
        good = BY_NAME.page(session, select(Patient.id), cursor="", secret=SECRET).next_cursor
        bad = tamper(good or "")
        with pytest.raises(HTTPException) as refused:
            BY_NAME.page(session, select(Patient.id), cursor=bad, secret=SECRET)
    assert refused.value.status_code == 400


def test_a_cursor_of_another_list_or_secret_is_refused(runtime: Runtime, people: list[int]) -> None:
    other = Paging("other", BY_NAME.keys, size=7)
    with runtime.sessions() as session:
        good = BY_NAME.page(session, select(Patient.id), cursor="", secret=SECRET).next_cursor
        for paging, secret in [(other, SECRET), (BY_NAME, "another secret, also long enough")]:
            with pytest.raises(HTTPException) as refused:
                paging.page(session, select(Patient.id), cursor=good or "", secret=secret)
            assert refused.value.status_code == 400


def add_replies(runtime: Runtime, count: int) -> None:
    """`count` replies from patient P1, many received at the same instant."""
    patient = add_patient(runtime)
    at = utcnow() - timedelta(hours=1)
    with transaction(runtime.sessions) as session:
        for n in range(count):
            session.add(
                Reply(
                    provider_id=f"SM{n}",
                    channel="sms",
                    from_address="+12015550111",
                    patient_id=patient.id,
                    body=f"reply number {n}.",
                    triage="routine" if n % 2 else "question",
                    received_at=at + timedelta(minutes=n // 10),
                )
            )


def links(page: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_inbox_counts_pages_and_keeps_its_filters(
    web_runtime: Runtime, console: TestClient
) -> None:
    add_replies(web_runtime, 130)
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    first = console.get("/console/inbox").text
    assert "130 replies, showing 1–50" in first
    routine = console.get("/console/inbox?triage=routine&handled=no").text
    assert "65 replies, showing 1–50" in routine
    seen = re.findall(r"reply number (\d+)\.", routine)
    after = links(routine, "next")
    assert after and "triage=routine" in after and "handled=no" in after
    second = console.get(after).text
    assert "65 replies, showing 51–65" in second and links(second, "next") is None
    seen += re.findall(r"reply number (\d+)\.", second)
    assert sorted(int(n) for n in seen) == [n for n in range(130) if n % 2]
    before = links(second, "prev")
    assert before and "triage=routine" in before
    assert re.findall(r"reply number (\d+)\.", console.get(before).text) == seen[:50]


def test_the_inbox_lists_what_is_assigned_to_me_and_names_staff_once(
    web_runtime: Runtime, console: TestClient
) -> None:
    add_replies(web_runtime, 3)
    make_staff(web_runtime, "maria", Role.STAFF)
    with transaction(web_runtime.sessions) as session:
        maria = session.scalars(select(StaffMember).where(StaffMember.name == "maria")).one()
        reply = session.scalars(select(Reply).where(Reply.provider_id == "SM1")).one()
        reply.assigned_to = maria.id
    sign_in(console, "maria")
    everything = console.get("/console/inbox").text
    assert everything.count('<option value="maria">') == 1  # one list, not one per reply
    mine = console.get("/console/inbox?mine=yes").text
    assert "1 reply" in mine and re.findall(r"reply number (\d+)\.", mine) == ["1"]


@pytest.mark.parametrize(
    "path",
    [
        "/console/inbox",
        "/console/patients?q=doe",
        "/console/alerts",
        "/console/alerts/table",
        "/console/alerts/closed",
        "/console/nudges",
        "/console/campaigns",
        "/console/audit",
        "/console/staff",
    ],
)
def test_every_list_refuses_a_bad_cursor_with_400(
    web_runtime: Runtime, console: TestClient, path: str
) -> None:
    make_staff(web_runtime, "ana", Role.ADMIN)
    sign_in(console, "ana")
    joiner = "&" if "?" in path else "?"
    assert console.get(path).status_code == 200
    refused = console.get(f"{path}{joiner}cursor=bm90IGEgY3Vyc29y")
    assert refused.status_code == 400 and "not valid" in refused.text


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/console/inbox?triage=bogus", "`triage`: input should be"),
        ("/console/audit?since=notadate", "`since`: "),
        ("/console/patients?q=" + "x" * 101, "`q`: string should have at most 100 characters"),
    ],
)
def test_an_edited_filter_in_the_address_answers_the_consoles_page_not_json(
    web_runtime: Runtime, console: TestClient, path: str, said: str
) -> None:
    """A filter value the page does not take gets the console's error page, naming the
    value and why; the staff API keeps its JSON."""
    make_staff(web_runtime, "ana", Role.ADMIN)
    sign_in(console, "ana")
    refused = console.get(path)
    assert refused.status_code == 400 and "text/html" in refused.headers["content-type"]
    assert "this page does not take that address or form" in refused.text
    assert said in refused.text.replace("&#39;", "'").replace("&#96;", "`")
    api = console.get("/api/patients?q=" + "x" * 101)
    assert api.status_code in (401, 422) and "application/json" in api.headers["content-type"]
