"""A blind corpus for finding a patient (written from the clinic's requirement, not
from the search's code): a table of what a front desk types and whom it should find,
run on SQLite and on PostgreSQL against ~45 synthetic patients chosen to tell
near-misses apart (same names, other dates of birth, accents, shared phone endings),
plus 117 more Smiths so that "Smith" spans several pages.

A case passes when every patient in `expected` is found and nobody outside
`expected | also_ok` is (`also_ok`: where two readings are both defensible).
Every result set is read as the console reads it: `matching`, then `found_page`
page after page, checking the pages' total against what was walked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from followup.care.patients import PatientDetails, save_patient
from followup.care.search import matching
from followup.config import Settings
from followup.console.finding import found_page
from followup.db import transaction, upgrade_to_head
from followup.models.care import Patient
from followup.models.staff import Role, StaffMember
from followup.runtime import Runtime, use
from followup.staff.accounts import set_password
from followup.staff.members import add_staff, issue_token
from followup.web.app import create_app
from tests.conftest import PUBLIC, postgres_schema

TODAY = date(2026, 12, 2)  # two-digit years are read against this day
SCHEMA = "blind_search"
SECRET = "blind search secret: long enough, varied enough 0123456789"
PASSWORD = "correct horse battery"


def R(n: int) -> str:  # noqa: N802 - the refs read as names in the table
    return f"P-2{n:04d}"


# n: (first name, last name, phone, email, date of birth)
PEOPLE: dict[int, tuple[str, str, str, str, str]] = {
    1: ("Ana", "Rivera", "+19735550001", "Ana.Rivera@Example.com", "1985-03-04"),
    2: ("Ana", "Rivera", "+19735550002", "arivera@mail.example.org", "1990-07-15"),
    3: ("Anabel", "Rivers", "+19735550003", "", "1985-03-04"),
    4: ("Mariana", "Rivera-Santos", "+19735550004", "mrs@example.com", "1975-10-10"),
    5: ("José", "García-López", "+12015550105", "jose.garcia@example.com", "1972-11-30"),
    6: ("Jose", "Garcia", "+12015550106", "", "1972-11-30"),
    7: ("Lucía", "Fernández", "+12015550107", "lucia.f@example.com", "2001-01-02"),
    8: ("Lucia", "Fernandes", "+12015550108", "", "1968-02-03"),
    9: ("Jürgen", "Müller", "+4915112345678", "juergen@example.de", "1960-05-06"),
    10: ("Hans", "Mueller", "+12015550110", "", "1961-05-06"),
    11: ("Sean", "O'Brien", "+19735550011", "sean.obrien@example.com", "1988-08-08"),
    12: ("Kevin", "Brien", "+19735550012", "", "1987-08-08"),
    13: ("Emma", "Smith-Jones", "+12015550113", "", "1995-12-12"),
    14: ("Emma", "Jones", "+12015550114", "emma.jones@example.com", "1995-12-12"),
    15: ("María", "de la Cruz", "+19735550015", "", "1979-04-01"),
    16: ("Maria", "Cruz", "+19735550016", "", "1979-04-01"),
    17: ("Pieter", "van der Berg", "+31612345678", "pieter@example.nl", "1955-02-28"),
    18: ("Anna", "Berg", "+12015550118", "", "1955-02-28"),
    19: ("Íñigo", "Peña", "+34612345678", "inigo.pena@example.es", "1983-06-07"),
    20: ("Inés", "Peñalosa", "+12015550120", "", "1984-06-07"),
    21: ("François", "Garçon", "+33612345678", "", "1990-09-09"),
    22: ("Søren", "Kierkegård", "+12015550122", "soren@example.dk", "1950-05-05"),
    23: ("Heike", "Strauß", "+12015550123", "", "1970-01-15"),
    24: ("Johann", "Strauss", "+12015550124", "", "1971-01-15"),
    25: ("Sofía", "Smith", "+19735550025", "", "1980-01-01"),
    26: ("Sofia", "Smith", "+19735550026", "sofia.smith@example.com", "1992-10-03"),
    27: ("sofia", "smith", "+19735550027", "", "2010-03-04"),
    28: ("SOFIA", "SMITH", "", "sofia28@example.com", ""),
    29: ("Sophia", "Smithers", "+19735550029", "", "1993-10-03"),
    30: ("Zoë", "Ng", "+12125550130", "zoe.ng+clinic@example.com", "2015-05-05"),
    31: ("Li", "Na", "+12125550131", "", "1970-07-07"),
    32: ("Thomas", "Anderson", "+19735550032", "tanderson@example.com", "1999-03-31"),
    33: ("Tom", "Andersen", "+19735550033", "tom@andersen.example.net", "1999-03-13"),
    34: ("Daniel", "Kim", "+19735550034", "", "1980-06-01"),
    35: ("Grace", "Kim", "+19735550034", "grace.kim@example.com", "1982-06-01"),
    36: ("José Luis", "Rivera", "+19735550036", "", "1958-09-19"),
    37: ("Bjørn", "Ødegård", "+12015550137", "", "1977-07-17"),
    38: ("Wei", "Zhang", "", "wei.zhang@example.com", "1991-01-31"),
    39: ("Omar", "Haddad", "+12015550001", "omar.h@example.com", "1985-03-04"),
    40: ("Ana María", "Rivera", "+19735550040", "", "1966-06-06"),
    41: ("Edith", "Oldham", "+12015550141", "", "1926-12-31"),
    42: ("Uma", "Under", "+12015550142", "u_nder@example.com", "1964-04-04"),
    43: ("Noah", "Newman", "+12015550143", "", "2026-11-30"),
    44: ("Walter", "Elder", "+12015550144", "", "1926-11-30"),
    45: ("Nathan", "Lee", "+12015550145", "", "1969-05-15"),
}
# 117 more Smiths: with the four Sofias, 121 of last name Smith. Their phones end
# 2000-2116 (so a reference's digits read as a phone's end would show up).
BULK = 117


def _bulk_first(n: int) -> str:
    return "Zyx" + chr(ord("a") + n // 26) + chr(ord("a") + n % 26)


def B(n: int) -> str:  # noqa: N802
    return f"S-{1000 + n}"


BULK_SMITHS = {B(n) for n in range(BULK)}
ALL_SMITHS = BULK_SMITHS | {R(n) for n in (25, 26, 27, 28)}  # last name Smith: 121


def rs(*ns: int) -> frozenset[str]:
    return frozenset(R(n) for n in ns)


@dataclass(frozen=True)
class Case:
    query: str
    expected: frozenset[str]
    also_ok: frozenset[str] = field(default_factory=frozenset)
    why: str = ""


def C(query: str, *ns: int, ok: tuple[int, ...] = (), why: str = "") -> Case:  # noqa: N802
    return Case(query, rs(*ns), rs(*ok), why)


RIVERA_ANA = (1, 2, 40)
ANA_WORD = (1, 2, 3, 40)
DOB_850304 = (1, 3, 39)
SOFIAS = (25, 26, 27, 28)

CASES: list[Case] = [
    # --- names, any order, partial, case -------------------------------------------
    C("Ana Rivera", *RIVERA_ANA),
    C("ana rivera", *RIVERA_ANA),
    C("Rivera, Ana", *RIVERA_ANA),
    C("rivera ana", *RIVERA_ANA),
    C("Rivera,Ana", *RIVERA_ANA, why="no space after the comma"),
    C("rivera , ana", *RIVERA_ANA),
    C("aNa RiVeRa", *RIVERA_ANA),
    C("ANA RIVERA", *RIVERA_ANA),
    C("  ana   rivera  ", *RIVERA_ANA, why="padding and double spaces"),
    C("ana\trivera", *RIVERA_ANA, why="a tab"),
    C("riv ana", *ANA_WORD),
    C("riv", 1, 2, 3, 4, 36, 40),
    C("rivera", 1, 2, 4, 36, 40),
    C("ana", *ANA_WORD),
    C("rivers", 3),
    C("anabel", 3),
    C("rivera ana maria", 40),
    C("Rivera, Ana María", 40),
    C("maria rivera", 4, 40),
    C("María Rivera", 4, 40),
    C("maria", 4, 15, 16, 40),
    C("mariana", 4),
    C("santos", 4),
    C("rivera santos", 4),
    C("Rivera-Santos", 4),
    C("rivera xyz", why="every word must match"),
    C("ana xyzzy"),
    # --- accents and case --------------------------------------------------------
    C("jose", 5, 6, 36),
    C("José", 5, 6, 36),
    C("JOSÉ", 5, 6, 36),
    C("JOSE", 5, 6, 36),
    C("Jose\u0301", 5, 6, 36, why="a decomposed accent, as some keyboards send it"),
    C("jose garcia", 5, 6),
    C("JOSÉ GARCÍA", 5, 6),
    C("garcía", 5, 6),
    C("garcia", 5, 6),
    C("garcia lopez", 5),
    C("García-López", 5),
    C("Garcia-Lopez", 5),
    C("lopez garcia jose", 5),
    C("López, José", 5),
    C("lopez", 5),
    C("garc", 5, 6, 21),
    C("jose luis", 36),
    C("luis rivera", 36),
    C("lucia", 7, 8),
    C("Lucía", 7, 8),
    C("LUCÍA FERNÁNDEZ", 7),
    C("lucia fernandez", 7),
    C("fernández", 7),
    C("fernandes", 8),
    C("fern", 7, 8),
    C("muller", 9),
    C("müller", 9, ok=(10,)),
    C("MÜLLER", 9, ok=(10,)),
    C("Jürgen Müller", 9),
    C("jurgen muller", 9),
    C("jurgen", 9),
    C("mul", 9),
    C("mu", 9, 10),
    C("mueller", 10, ok=(9,), why="German ü=ue reading optional"),
    # --- apostrophes and hyphens ---------------------------------------------------
    C("O'Brien", 11),
    C("o'brien", 11),
    C("OBRIEN", 11),
    C("obrien", 11),
    C("O\u2019Brien", 11, why="curly apostrophe (autocorrect, pasted)"),
    C("o brien", 11),
    C("sean o'brien", 11),
    C("O'Brien, Sean", 11),
    C("o'b", 11),
    C("brien", 12, ok=(11,)),
    C("kevin brien", 12),
    C("Smith-Jones", 13),
    C("smith jones", 13),
    C("jones smith", 13),
    C("Smith - Jones", 13),
    C("Smith-Jones, Emma", 13),
    C("jones", 13, 14),
    C("emma jones", 13, 14),
    C("emma smith", 13),
    # --- particles -----------------------------------------------------------------
    C("de la cruz", 15),
    C("De La Cruz, Maria", 15),
    C("maria de la cruz", 15),
    C("María de la Cruz", 15),
    C("cruz", 15, 16),
    C("maria cruz", 15, 16),
    C("Cruz, María", 15, 16),
    C("delacruz", 15, why="particles run together, as often keyed"),
    C("van der berg", 17),
    C("Van Der Berg", 17),
    C("VAN DER BERG", 17),
    C("pieter van der berg", 17),
    C("van der Berg, Pieter", 17),
    C("Berg, Pieter", 17),
    C("vanderberg", 17, why="particles run together"),
    C("berg", 17, 18),
    C("anna berg", 18),
    C("berg anna", 18),
    # --- ñ ç ø ß å ë ---------------------------------------------------------------
    C("peña", 19, 20),
    C("pena", 19, 20),
    C("PEÑA", 19, 20),
    C("Peña, Íñigo", 19),
    C("inigo pena", 19),
    C("íñigo", 19),
    C("penalosa", 20),
    C("peñalosa", 20),
    C("ines", 20),
    C("garçon", 21),
    C("garcon", 21),
    C("francois", 21),
    C("FRANÇOIS GARÇON", 21),
    C("Garçon, François", 21),
    C("soren", 22),
    C("søren", 22),
    C("SØREN", 22),
    C("kierkegard", 22),
    C("kierkegård", 22),
    C("soren kierkegard", 22),
    C("bjorn", 37),
    C("bjørn ødegård", 37),
    C("odegard", 37),
    C("Ødegård, Bjørn", 37),
    C("strauß", 23, 24),
    C("strauss", 23, 24),
    C("STRAUSS", 23, 24),
    C("straus", 23, 24),
    C("heike strauss", 23),
    C("heike strauß", 23),
    C("johann strauß", 24),
    C("zoe", 30),
    C("zoë", 30),
    C("Zoë Ng", 30),
    C("ng zoe", 30),
    C("ng", 30),
    # --- short names and the rest --------------------------------------------------
    C("li na", 31),
    C("na li", 31),
    C("na", 31, 45),
    C("nathan lee", 45),
    C("thomas anderson", 32),
    C("anderson", 32),
    C("andersen", 33),
    C("anders", 32, 33),
    C("tom", 33),
    C("kim", 34, 35),
    C("grace kim", 35),
    C("Kim, Daniel", 34),
    C("wei zhang", 38),
    C("haddad", 39),
    C("uma under", 42),
    # --- the Smiths (the bulk Smiths are added below) ----------------------------
    C("sofia smith", *SOFIAS),
    C("Sofía Smith", *SOFIAS),
    C("Smith, Sofia", *SOFIAS),
    C("SOFIA SMITH", *SOFIAS),
    C("sofia", *SOFIAS),
    C("sof smi", *SOFIAS),
    C("so smith", *SOFIAS, 29),
    C("sophia", 29),
    C("smithers", 29),
    # --- phones --------------------------------------------------------------------
    C("(973) 555-0001", 1),
    C("973-555-0001", 1),
    C("9735550001", 1),
    C("+19735550001", 1),
    C("973.555.0001", 1),
    C("1-973-555-0001", 1),
    C("19735550001", 1),
    C("+1 973 555 0001", 1),
    C("+1 (973) 555-0001", 1),
    C("1 (973) 555-0001", 1),
    C("973 555 0001", 1),
    C("973 5550001", 1),
    C(" 973-555-0001 ", 1),
    C("(973)555-0001", 1),
    C("(973)-555-0001", 1),
    C("+1-973-555-0001", 1),
    C("973-555-0001 x12", 1, why="an extension"),
    C("973-555-0001 ext 12", 1),
    C("(973) 555-0001 ext. 12", 1),
    C("0001", 1, 39, why="last four digits"),
    C("0034", 34, 35),
    C("0105", 5),
    C("5678", 9, 17, 19, 21),
    C("201-555-0001", 39),
    C("2015550001", 39),
    C("(201)555-0001", 39),
    C("973.555.0034", 34, 35, why="a family's shared phone"),
    C("+49 151 12345678", 9),
    C("+4915112345678", 9),
    C("+31 6 12345678", 17),
    C("+34 612 34 56 78", 19),
    C("011 49 151 12345678", 9, why="US international dialling prefix"),
    C("555-0001", 1, 39, why="seven digits, no area code"),
    C("973-555-0099", why="nobody has it"),
    C("973-555-0005", why="nobody has it; neighbours 0001-0004 must not show"),
    # --- references ----------------------------------------------------------------
    C("P-20001", 1),
    C("p-20001", 1),
    C(" P-20001 ", 1),
    C("P-2000", *range(1, 10)),
    C("p-2000", *range(1, 10)),
    C("P-2001", *range(10, 20)),
    C("P-2004", *range(40, 46)),
    C("P-20045", 45),
    C("P20001", 1, why="the dash left out"),
    C("p-20001x"),
    C("P-3"),
    # --- emails --------------------------------------------------------------------
    C("Ana.Rivera@Example.com", 1),
    C("ana.rivera@example.com", 1),
    C("ANA.RIVERA@EXAMPLE.COM", 1),
    C(" ana.rivera@example.com ", 1),
    C("ana.rivera@", 1),
    C("ana.rivera", 1, ok=(2, 40)),
    C("arivera@mail.example.org", 2),
    C("arivera@", 2),
    C("rivera@mail", 2, why="the middle of an address"),
    C("@mail.example.org", 2),
    C("mail.example.org", 2),
    C("juergen@example.de", 9),
    C("JUERGEN@", 9),
    C("example.de", 9),
    C("@example.es", 19),
    C("zoe.ng+clinic@example.com", 30),
    C("ZOE.NG+CLINIC@EXAMPLE.COM", 30),
    C("zoe.ng+clinic", 30),
    C("u_nder@example.com", 42),
    C("u_nder", 42),
    C("tom@andersen.example.net", 33),
    C("Tom@Andersen.Example.Net", 33),
    C("andersen.example", 33),
    C("tanderson", 32),
    C("grace.kim@example.com", 35),
    C("wei.zhang@example.com", 38),
    C("sofia28@example.com", 28),
    C("sofia28", 28),
    C("sofia.smith", 26, ok=(25, 27, 28)),
    C("nobody@example.com"),
    # --- dates of birth ------------------------------------------------------------
    C("3/4/1985", *DOB_850304),
    C("03/04/1985", *DOB_850304),
    C("1985-03-04", *DOB_850304),
    C("3/4/85", *DOB_850304),
    C("03/04/85", *DOB_850304),
    C(" 3/4/1985 ", *DOB_850304),
    C("3-4-1985", *DOB_850304, why="US date with dashes"),
    C("1985-3-4", *DOB_850304, why="ISO without zero padding"),
    C("3/4/2010", 27),
    C("3/4/10", 27),
    C("10/3/1992", 26),
    C("10/03/92", 26),
    C("1992-10-03", 26),
    C("7/15/1990", 2),
    C("12/31/26", 41, why="2026-12-31 is after today: 1926"),
    C("11/30/26", 43, why="2026-11-30 is not after today"),
    C("11/30/1926", 44),
    C("2026-11-30", 43),
    C("1/2/01", 7),
    C("01/02/2001", 7),
    C("2/28/55", 17, 18),
    C("5/5/15", 30),
    C("3/31/1999", 32),
    C("3/13/1999", 33),
    C("13/3/1999", ok=(33,), why="not a US date; a day-first reading is defensible"),
    C("2/30/1985", why="no such day"),
    C("00/00/0000"),
    C("12/25/2030", why="in the future"),
    C("1/1/1900"),
    # --- a name plus a date of birth -----------------------------------------------
    C("Ana Rivera 3/4/1985", 1),
    C("Rivera, Ana 03/04/1985", 1),
    C("Rivera, Ana, 03/04/1985", 1),
    C("3/4/85 ana rivera", 1),
    C("ana rivera 1990-07-15", 2),
    C("ana rivera 1/1/2000"),
    C("Sofia Smith 10/3/1992", 26),
    C("smith sofia 3/4/2010", 27),
    C("sofia smith 3/4/10", 27),
    C("jose garcia 11/30/1972", 5, 6),
    C("jose garcia lopez 11/30/1972", 5),
    C("Kim 6/1/1982", 35),
    C("berg 2/28/1955", 17, 18),
    C("anna berg 2/28/55", 18),
    C("Rivers 3/4/1985", 3),
    C("Omar 3/4/1985", 39),
    # --- nonsense, SQL-ish, wildcards, empty, long ----------------------------------
    C("xyzzy"),
    C("qwertyuiop asdf"),
    C("!!!"),
    C("---"),
    C("..."),
    C(","),
    C(", ,"),
    C("%"),
    C("%%"),
    C("_", ok=(42,)),
    C("__"),
    C("r_vera", why="_ must not be a one-character wildcard"),
    C("u%der", why="% must not be a wildcard"),
    C("riv%a", ok=ANA_WORD, why="% as a separator is fine, as a wildcard it is not"),
    C("%rivera%", ok=(1, 2, 4, 36, 40)),
    C("ana*", ok=ANA_WORD),
    C("*"),
    C("\\"),
    C("\\%"),
    C("[a-z]"),
    C("' OR '1'='1"),
    C("' OR 1=1 --"),
    C("Robert'); DROP TABLE patients;--"),
    C("1; SELECT * FROM patients"),
    C('"ana rivera"', ok=RIVERA_ANA, why="pasted with quotes"),
    C("\U0001f600"),
    C("ana \U0001f600", ok=ANA_WORD),
    C("ana\x00", ok=ANA_WORD, why="a NUL pasted in must not be a server error"),
    C(""),
    C(" "),
    C("   \t  "),
    C("\n"),
    C("a" * 1000),
    C("Ana Rivera " * 40, *RIVERA_ANA),
    C("9" * 300),
    C("ana " + "x" * 500),
]

SMITH_CASES: list[Case] = [
    Case("smith", frozenset(ALL_SMITHS | {R(13), R(29)})),
    Case("Smith", frozenset(ALL_SMITHS | {R(13), R(29)})),
    Case("SMITH", frozenset(ALL_SMITHS | {R(13), R(29)})),
    Case("smith zyxaa", frozenset({B(0)})),
    Case("312-555-2000", frozenset({B(0)})),
    Case("2116", frozenset({B(116)})),
]
ALL_CASES = CASES + SMITH_CASES


# --- the patients, once per database ------------------------------------------------


def _save_all(rt: Runtime) -> None:
    with transaction(rt.sessions) as session:
        for n, (first, last, phone, email, born) in PEOPLE.items():
            save_patient(
                session,
                PatientDetails.parse(
                    ref=R(n),
                    first_name=first,
                    last_name=last,
                    phone=phone,
                    email=email,
                    date_of_birth=born,
                ),
            )
        for n in range(BULK):
            save_patient(
                session,
                PatientDetails.parse(
                    ref=B(n),
                    first_name=_bulk_first(n),
                    last_name="Smith",
                    phone=f"+1312555{2000 + n}",
                ),
            )
        member = add_staff(session, name="desk", role=Role.STAFF)
        set_password(member, PASSWORD)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def searched(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runtime]:
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('blind') / 'followup.db'}"
            upgrade_to_head(url)
        else:
            url = stack.enter_context(postgres_schema(SCHEMA))
        settings = Settings(database_url=url, public_url=PUBLIC, secret_key=SECRET, sms_rate=0)
        rt = Runtime(settings)
        stack.callback(rt.close)
        use(rt)
        stack.callback(use, None)
        _save_all(rt)
        yield rt


def found(rt: Runtime, q: str, *, today: date = TODAY) -> tuple[list[str], int]:
    """Every ref `q` finds, page after page as the console reads them, and the total."""
    query = matching(q, today=today)
    if query is None:
        return [], 0
    refs: list[str] = []
    cursor, total = "", None
    for _ in range(50):
        with rt.sessions() as session:
            page = found_page(session, query, cursor=cursor, secret=SECRET)
            refs += [row[0].ref for row in page.rows]
        if total is None:
            total = page.total
        assert page.total == total, "the total changed between pages"
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    return refs, total or 0


def _id(case: Case) -> str:
    shown = case.query if len(case.query) <= 40 else case.query[:30] + f"...({len(case.query)})"
    return repr(shown)


@pytest.mark.parametrize("case", ALL_CASES, ids=[_id(c) for c in ALL_CASES])
def test_search_table(searched: Runtime, case: Case) -> None:
    refs, total = found(searched, case.query)
    got = set(refs)
    assert len(refs) == len(got), "a patient came twice across the pages"
    assert total == len(refs), f"total {total} but {len(refs)} walked"
    missing = case.expected - got
    extra = got - case.expected - case.also_ok
    assert not missing and not extra, (
        f"q={case.query!r}: missing {sorted(missing)[:20]}, unexpected {sorted(extra)[:20]}"
        f" ({len(extra)} unexpected)"
    )


def test_the_121_smiths_are_all_reached_a_page_at_a_time(searched: Runtime) -> None:
    refs, total = found(searched, "Smith")
    assert total >= 121 and total == len(refs) == len(set(refs))
    assert set(refs) >= ALL_SMITHS
    sofias, total = found(searched, "Sofia Smith")
    assert set(sofias) == set(rs(*SOFIAS)) and total == 4


def test_the_table_is_big_enough() -> None:
    assert len(ALL_CASES) >= 150
    assert len({c.query for c in ALL_CASES}) == len(ALL_CASES), "a query twice"


def test_the_search_survives_sql_and_the_table_is_still_there(searched: Runtime) -> None:
    found(searched, "Robert'); DROP TABLE patients;--")
    with searched.sessions() as session:
        assert len(session.scalars(select(Patient.id)).all()) == len(PEOPLE) + BULK


# --- the console page and the staff API over HTTP ----------------------------------


@pytest.fixture(scope="module")
def web(searched: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(searched), base_url=PUBLIC) as client:
        form = client.get("/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        signed = client.post(
            "/console/login",
            data={"name": "desk", "password": PASSWORD, "csrf": csrf.group(1)},
            follow_redirects=False,
        )
        assert signed.status_code in (302, 303), signed.text[:300]
        yield client


def console_refs(client: TestClient, q: str) -> tuple[list[str], list[str]]:
    """Every ref the console's pages list for `q` (following Next), and the pages' HTML."""
    refs: list[str] = []
    pages: list[str] = []
    url = f"/console/patients?q={quote(q)}"
    for _ in range(20):
        answer = client.get(url)
        assert answer.status_code == 200, answer.status_code
        pages.append(answer.text)
        refs += re.findall(r'<a href="/console/patients/([^"]+)">', answer.text)
        following = re.search(r'<a rel="next" href="([^"]+)"', answer.text)
        if following is None:
            break
        url = following.group(1).replace("&amp;", "&")
    return refs, pages


def test_the_console_shows_the_dates_of_birth(web: TestClient) -> None:
    refs, pages = console_refs(web, "Ana Rivera")
    assert set(refs) == set(rs(*RIVERA_ANA))
    assert "03/04/1985" in pages[0] and "07/15/1990" in pages[0] and "06/06/1966" in pages[0]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("rivera, ana", rs(*RIVERA_ANA)),
        ("JOSÉ", rs(5, 6, 36)),
        ("muller", rs(9)),
        ("(973) 555-0001", rs(1)),
        ("p-2000", rs(*range(1, 10))),
        ("zoe.ng+clinic@example.com", rs(30)),
        ("Ana Rivera 3/4/1985", rs(1)),
        ("%", frozenset()),
        ("' OR 1=1 --", frozenset()),
    ],
)
def test_the_console_finds(web: TestClient, q: str, expected: frozenset[str]) -> None:
    refs, _ = console_refs(web, q)
    assert set(refs) == set(expected)


def test_the_console_pages_through_every_smith(web: TestClient) -> None:
    refs, pages = console_refs(web, "smith")
    assert "123 patients" in pages[0], re.findall(r"\d[\d,]* patients[^<]*", pages[0])
    assert len(refs) == len(set(refs)) == 123 and set(refs) >= ALL_SMITHS


def test_the_console_takes_a_long_query_without_a_server_error(web: TestClient) -> None:
    answer = web.get(f"/console/patients?q={quote('Ana Rivera ' * 15)}")
    assert answer.status_code < 500


@pytest.fixture(scope="module")
def token(searched: Runtime) -> str:
    """The desk's API token."""
    with transaction(searched.sessions) as session:
        desk = session.scalars(select(StaffMember).where(StaffMember.name == "desk")).one()
        _, issued = issue_token(session, desk)
    return issued


def api(web: TestClient, token: str, q: str, cursor: str = "") -> Any:
    params = {"q": q} | ({"cursor": cursor} if cursor else {})
    return web.get(
        "/api/patients",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    )


def test_the_api_pages_through_every_smith(web: TestClient, token: str) -> None:
    refs, cursor = [], ""
    for _ in range(10):
        answer = api(web, token, "smith", cursor)
        assert answer.status_code == 200
        body = answer.json()
        assert body["total"] == 123
        refs += [p["ref"] for p in body["patients"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(refs) == len(set(refs)) == 123 and set(refs) >= ALL_SMITHS


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("Sofia Smith", rs(*SOFIAS)),
        ("1-973-555-0001", rs(1)),
        ("LUCIA", rs(7, 8)),
        ("3/4/1985", rs(*DOB_850304)),
        ("strauss", rs(23, 24)),
        ("%", frozenset()),
        ("_", frozenset()),
        (" ", frozenset()),
    ],
)
def test_the_api_finds(web: TestClient, token: str, q: str, expected: frozenset[str]) -> None:
    answer = api(web, token, q)
    assert answer.status_code == 200, answer.text[:200]
    body = answer.json()
    assert {p["ref"] for p in body["patients"]} == set(expected)
    assert body["total"] == len(expected)


@pytest.mark.parametrize("path", ["/console/patients?q=ana%00", "/api/patients?q=ana%00"])
def test_a_nul_in_the_query_is_not_a_server_error(web: TestClient, token: str, path: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    assert web.get(path, headers=headers).status_code < 500


def test_the_api_gives_the_sofias_dates_of_birth(web: TestClient, token: str) -> None:
    body = api(web, token, "smith, sofia").json()
    born = {p["ref"]: p["date_of_birth"] for p in body["patients"]}
    assert born == {R(25): "1980-01-01", R(26): "1992-10-03", R(27): "2010-03-04", R(28): None}
