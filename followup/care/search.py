"""Finding patients as the front desk asks: names in any order ("Ana Rivera", "Rivera,
Ana", "riv ana"), without regard to accents or case (José, Müller, Søren, Straße),
phones in any US or E.164 form (an extension left off), reference prefixes, emails or
parts of them, and dates of birth (with a two-digit year too: "3/4/85"), alone or with
a name.

Each patient keeps a folded `search_text` (their name words, the joined forms of
hyphenated and apostrophe names, their reference, email and phone digits), written
whenever the row is inserted or updated through the ORM, so every path that saves a
patient (import, API, console, command line) keeps it current; one index serves every
kind of query. Each word of a name query must begin a word of it; a date of birth
typed with a name narrows the name to the patients born that day.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    column,
    event,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session

from followup.db import escape_like
from followup.models.care import SEARCH_TEXT_LENGTH, Patient

# Letters that Unicode does not decompose into a base letter and a mark.
_LETTERS = str.maketrans(
    {"ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th"}
)
_WORDS = re.compile(r"[a-z0-9]+")
_PHONE = re.compile(r"\+?[\d\s().-]+")
_DATES = (
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"),
    re.compile(r"(?P<m>\d{1,2})[/.-](?P<d>\d{1,2})[/.-](?P<y>\d{4})"),
)
_TWO_DIGIT_YEAR = re.compile(r"(?P<m>\d{1,2})[/.-](?P<d>\d{1,2})[/.-](?P<y>\d{2})")
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension)\s*\d{1,6}$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s,;]+")
# What marks a reference's, an email's and a phone's word in `search_text`.
REF_MARK, EMAIL_MARK, PHONE_MARK = "#", "@", "~"
SHORTEST_PHONE = 4  # the last four digits, as staff read them back
US_EXIT_CODE = "011"  # dialled before a country code from the US: "011 49 151 …"


def fold(text: str) -> str:
    """Lower case ASCII without accents: "Müller" -> "muller", "Straße" -> "strasse"."""
    folded = unicodedata.normalize("NFKD", text.casefold().translate(_LETTERS))
    return "".join(c for c in folded if not unicodedata.combining(c)).translate(_LETTERS)


def words(text: str) -> list[str]:
    """The folded words of `text`; a name joined by an apostrophe or hyphen gives the
    whole and its parts ("O'Brien" -> obrien, o, brien; "Smith-Jones" -> smithjones,
    smith, jones)."""
    found: list[str] = []
    for chunk in fold(text).split():
        parts = _WORDS.findall(chunk)
        for word in ["".join(parts), *parts] if len(parts) > 1 else parts:
            if word not in found:
                found.append(word)
    return found


def ref_key(ref: str) -> str:
    """A reference without case or punctuation: "P-20001" -> "p20001"."""
    return "".join(_WORDS.findall(fold(ref)))


def search_text(
    *, first_name: str, last_name: str, ref: str, phone: str | None = None, email: str | None = None
) -> str:
    """What a patient is found by, a space around each word: last name words first (the
    order results take), the first and middle names (a name of several words also as
    one: "de la Cruz" -> delacruz), the reference (#), the email (@) and last the
    phone's digits (~, so a phone's digits are matched only there)."""
    joined = ["".join(_WORDS.findall(fold(name))) for name in (last_name, first_name)]
    names = list(dict.fromkeys([*words(last_name), joined[0], *words(first_name), joined[1]]))
    names = [name for name in names if name]
    key = ref_key(ref)
    refs = dict.fromkeys([key, key.lstrip("abcdefghijklmnopqrstuvwxyz")] if key else [])
    found = [*names, *(REF_MARK + r for r in refs if r)]
    if email:
        found.append(EMAIL_MARK + email.lower())
    if phone:
        found.append(PHONE_MARK + re.sub(r"\D", "", phone))
    return " ".join(["", *found, ""])[:SEARCH_TEXT_LENGTH]  # only the unlikeliest names reach it


@event.listens_for(Patient, "before_insert")
@event.listens_for(Patient, "before_update")
def _keep_search_text(_mapper: Mapper[Patient], _connection: Connection, patient: Patient) -> None:
    patient.search_text = search_text(
        first_name=patient.first_name,
        last_name=patient.last_name,
        ref=patient.ref,
        phone=patient.phone,
        email=patient.email,
    )


def rewrite_search_texts(connection: Connection, *, batch: int = 5000) -> int:
    """Write every patient's search text anew, as `search_text` now writes it (the
    migration's step when what a patient is found by changes), a batch of patients at a
    time and only where it changed; returns how many changed."""
    patients = table(  # the columns as they are at the migration, not as the model has them
        "patients",
        column("id", Integer),
        *(column(name, String) for name in ("ref", "first_name", "last_name", "phone", "email")),
        column("search_text", String),
    )
    rewrite = (
        patients.update()
        .where(patients.c.id == bindparam("patient"))
        .values(search_text=bindparam("text"))
    )
    after, changed = 0, 0
    while rows := connection.execute(
        select(patients).where(patients.c.id > after).order_by(patients.c.id).limit(batch)
    ).all():
        after = rows[-1].id
        texts = {
            row.id: search_text(
                first_name=row.first_name,
                last_name=row.last_name,
                ref=row.ref,
                phone=row.phone,
                email=row.email,
            )
            for row in rows
        }
        new = [
            {"patient": row.id, "text": texts[row.id]}
            for row in rows
            if texts[row.id] != row.search_text
        ]
        if new:
            connection.execute(rewrite, new)
        changed += len(new)
    return changed


def typed_date(text: str) -> date | None:
    """A date as staff write one in full ("1962-03-14", "03/14/1962", "3-14-1962"),
    else None: what a patient's record takes (`parse_birth_date`)."""
    parts = date_parts(text)
    try:
        return date(*parts) if parts else None
    except ValueError:  # written as a date, but none (February 30)
        return None


def date_parts(text: str) -> tuple[int, int, int] | None:
    """(year, month, day) of text written as a date in full, whether or not that day
    exists; None for text of another shape."""
    for pattern in _DATES:
        match = pattern.fullmatch(text.strip())
        if match:
            return int(match["y"]), int(match["m"]), int(match["d"])
    return None


def typed_birth_date(text: str, *, today: date) -> date | None:
    """A date of birth as the front desk types one to find a patient: in full
    (`typed_date`), or with a two-digit year ("3/4/85", "03/04/85", "3-4-85"), else None."""
    match = _TWO_DIGIT_YEAR.fullmatch(text.strip())
    if match is None:
        return typed_date(text)
    return latest_birth(int(match["m"]), int(match["d"]), int(match["y"]), today=today)


def latest_birth(month: int, day: int, two_digit_year: int, *, today: date) -> date | None:
    """The latest date with this month, day and year's last two digits that is not
    after `today`, as the front desk means "85" (nobody is born in the future): on
    2026-12-01, 85 is 1985, 20 is 2020, 30 is 1930; None for a day no such year has."""
    year = today.year - (today.year - two_digit_year) % 100
    for century_earlier in (0, 100):
        try:
            born = date(year - century_earlier, month, day)
        except ValueError:
            continue
        if born <= today:
            return born
    return None


def matching(query: str, *, today: date) -> Select[Patient] | None:
    """Patients matching what staff typed, unordered; None when it holds nothing to
    search by. A query is a phone (an extension left off), an email or part of one,
    or words of names and references; a date of birth in it (a two-digit year read as
    of `today`, the clinic's date) finds those born that day, alone or among them."""
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in query).strip()
    chunks = [chunk for chunk in _SEPARATORS.split(text) if chunk]
    dates = {chunk: typed_birth_date(chunk, today=today) for chunk in chunks}
    born = next((day for day in dates.values() if day is not None), None)
    rest = " ".join(chunk for chunk in chunks if dates[chunk] is None)
    conditions = _conditions(rest)
    if born is None:
        return select(Patient).where(or_(*conditions)) if conditions else None
    found = select(Patient).where(Patient.date_of_birth == born)
    return found.where(or_(*conditions)) if conditions else found


def _conditions(text: str) -> list[ColumnElement[bool]]:
    """Any of which a patient matching `text` (no date in it) meets."""
    conditions: list[ColumnElement[bool]] = []
    number = _EXTENSION.sub("", text)
    digits = re.sub(r"\D", "", number)
    if digits.startswith(US_EXIT_CODE) and len(digits) > 11:  # a number abroad, as dialled
        digits = digits.removeprefix(US_EXIT_CODE)
    if _PHONE.fullmatch(number) and len(digits) >= SHORTEST_PHONE:
        conditions.append(_phone(digits))
    if text and not any(c.isspace() for c in text):
        # Part of an address ("@example.org", "rivera@mail") anywhere in it, else its start.
        anywhere = "%" if "@" in text or "." in text else ""
        email = escape_like(text.lower())
        like = f"% {EMAIL_MARK}{anywhere}{email}%"
        conditions.append(Patient.search_text.like(like, escape="\\"))
    if "@" not in text:
        terms = [w for chunk in _SEPARATORS.split(text) for w in _query_words(chunk)]
        if terms:
            conditions.append(and_(*(_starts_a_word(term) for term in terms)))
    return conditions


def prefer_the_index(session: Session) -> None:
    """On PostgreSQL, have `session`'s transaction read the trigram index rather than
    every patient: the planner prices a LIKE at a small fraction of its real cost, so
    at 100,000 patients it scans them all (some 270 ms a search) where the index
    finds the same rows in about 10 ms. SQLite has no such choice to make."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))


def _query_words(chunk: str) -> list[str]:
    """A typed word as it is stored: "O'Brien" -> obrien, "Smith-Jones" -> smithjones."""
    joined = "".join(_WORDS.findall(fold(chunk)))
    return [joined] if joined else []


def _starts_a_word(term: str) -> ColumnElement[bool]:
    """`term` begins a name word or, if it holds a digit, the reference."""
    like = escape_like(term)
    name = Patient.search_text.like(f"% {like}%", escape="\\")
    if any(c.isdigit() for c in term):
        return or_(name, Patient.search_text.like(f"% {REF_MARK}{like}%", escape="\\"))
    return name


def _phone(digits: str) -> ColumnElement[bool]:
    """A phone typed any way (ten US digits, eleven with the 1, an E.164 number's
    digits) is found within the phone's digits; fewer than seven end them."""
    if len(digits) < 7:
        return Patient.search_text.like(f"%{PHONE_MARK}%{digits} ")
    return Patient.search_text.like(f"% {PHONE_MARK}%{digits}%")
