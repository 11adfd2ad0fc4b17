"""Finding patients and telling them apart in the console and the API (issue 22,
point 1): search as the front desk types, results with date of birth, phone's last
digits and reference, a page at a time; dates of birth corrected and validated."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select

from followup.db import transaction
from followup.models.care import Patient
from followup.models.staff import Role, StaffMember
from followup.runtime import Runtime
from followup.staff.members import issue_token
from tests.care.test_birth_dates import born
from tests.care.test_search import CORPUS
from tests.conftest import add_patient
from tests.console.test_console import form_token, make_staff, sign_in


def add_smiths(runtime: Runtime, count: int, sofias: set[int]) -> None:
    """Smiths S-000 to S-<count - 1>, phones +1201555<n>, each born on a day of their
    own; those in `sofias` are Sofía."""
    with transaction(runtime.sessions) as session:
        for n in range(count):
            session.add(
                Patient(
                    ref=f"S-{n:03d}",
                    first_name="Sofía" if n in sofias else f"Name{n:03d}",
                    last_name="Smith",
                    phone=f"+1201555{n:04d}",
                    timezone="America/New_York",
                    date_of_birth=smith_born(n),
                )
            )


def smith_born(n: int) -> date:
    return date(1950 + n % 50, 1 + n % 12, 1 + n % 28)


def test_staff_correct_a_date_of_birth_on_the_patient_page(
    web_runtime: Runtime, console: TestClient
) -> None:
    add_patient(web_runtime)
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    page = console.get("/console/patients/P1").text
    assert "Born: not recorded" in page
    fields = {
        "csrf": form_token(page),
        "first_name": "Pat",
        "last_name": "Doe",
        "phone": "+12015550111",
        "email": "pat@example.com",
    }
    refused = console.post(
        "/console/patients/P1/details", data={**fields, "date_of_birth": "2999-01-01"}
    )
    assert refused.status_code == 400 and "future" in refused.text
    assert born(web_runtime, "P1") is None
    done = console.post(
        "/console/patients/P1/details",
        data={**fields, "date_of_birth": "1962-03-14"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "Born: 03/14/1962" in console.get("/console/patients/P1").text
    for typed in ("03/14/1962", "3/14/62"):  # a two-digit year: the latest not to come
        found = console.get("/console/patients", params={"q": typed}).text
        assert "1 patient" in found and "03/14/1962" in found and "ending 0111" in found


def test_the_api_finds_patients_and_corrects_a_date_of_birth(
    web_runtime: Runtime, console: TestClient
) -> None:
    add_patient(web_runtime)
    make_staff(web_runtime, "maria", Role.STAFF)
    with transaction(web_runtime.sessions) as session:
        maria = session.scalars(select(StaffMember).where(StaffMember.name == "maria")).one()
        _, token = issue_token(session, maria)
    auth = {"Authorization": f"Bearer {token}"}
    bad = console.patch("/api/patients/P1", json={"date_of_birth": "1890-05-05"}, headers=auth)
    assert bad.status_code == 422 and "before 1900" in bad.text
    fixed = console.patch("/api/patients/P1", json={"date_of_birth": "1962-03-14"}, headers=auth)
    assert fixed.status_code == 200 and fixed.json()["date_of_birth"] == "1962-03-14"
    assert fixed.json()["phone"] == "+12015550111"  # what the body left out stays
    for typed in ("doe, pat", "3-14-62"):
        found = console.get("/api/patients", params={"q": typed}, headers=auth).json()
        assert found["total"] == 1 and found["patients"][0]["date_of_birth"] == "1962-03-14"
    assert (
        console.get("/api/patients", params={"q": "(201) 555-0111"}, headers=auth).json()["total"]
        == 1
    )
    tampered = console.get("/api/patients", params={"q": "doe", "cursor": "abc"}, headers=auth)
    assert tampered.status_code == 400


def test_the_front_desk_reaches_every_smith_and_tells_the_sofias_apart(
    web_runtime: Runtime, console: TestClient
) -> None:
    add_smiths(web_runtime, 121, {0, 30, 60, 90, 120})
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    smiths = console.get("/console/patients?q=smith").text
    assert "121 patients, showing 1–50" in smiths
    refs: list[str] = []
    page = smiths
    while True:
        refs += re.findall(r'href="/console/patients/(S-\d+)"', page)
        after = re.search(r'rel="next" href="([^"]+)"', page)
        if not after:
            break
        assert "q=smith" in after.group(1)
        page = console.get(after.group(1).replace("&amp;", "&")).text
    assert sorted(refs) == sorted(f"S-{n:03d}" for n in range(121))
    sofias = console.get("/console/patients", params={"q": "Sofia Smith"}).text
    assert "5 patients" in sofias and "showing" not in sofias
    for n in (0, 30, 60, 90, 120):
        assert f"ending {n:04d}" in sofias
        assert smith_born(n).strftime("%m/%d/%Y") in sofias
    assert "Smith, Sofía" in console.get("/console/patients", params={"q": "smith, SOFÍA"}).text


def test_search_in_the_console_finds_the_corpus_as_typed(
    web_runtime: Runtime, console: TestClient
) -> None:
    with transaction(web_runtime.sessions) as session:
        for ref, first, last, _, _, _ in CORPUS:
            session.add(Patient(ref=ref, first_name=first, last_name=last, timezone="UTC"))
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    for typed, ref in [("Rivera, Ana", "P-20001"), ("muller", "P-20005"), ("p-2001", "P-20010")]:
        assert (
            f"/console/patients/{ref}" in console.get("/console/patients", params={"q": typed}).text
        )
    nobody = console.get("/console/patients", params={"q": "nobody at all"}).text
    assert "Nobody found." in nobody
