"""CSV a spreadsheet opens safely: UTF-8 with a byte-order mark (so Excel reads
accents), every cell quoted, text that a spreadsheet would run as a formula defused,
times on the clinic's clock with the zone in the header and in the value."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

BOM = "\ufeff"
# OWASP's "CSV Injection": a cell starting with one of these is a formula (or, tab
# and carriage return, hides one) to Excel, LibreOffice or Google Sheets; the full-width
# forms too, which some spreadsheets fold to the ASCII ones.
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
ROWS_PER_CHUNK = 500


def safe_cell(value: object) -> str | int | float:
    """A cell's value as written: numbers as they are, None as blank, and text a
    spreadsheet would read as a formula prefixed with a single quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = str(value)
    # Blanks, line breaks and invisible characters (a byte-order mark, a zero-width
    # space) before it do not hide a formula: some spreadsheets trim them.
    first = next((c for c in text if c in FORMULA_STARTS or not _blank(c)), "")
    return "'" + text if first in FORMULA_STARTS else text


def _blank(character: str) -> bool:
    """A space of any width, a control character or an invisible format character."""
    return character.isspace() or unicodedata.category(character) in {"Cc", "Cf", "Zs"}


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The document, a few hundred rows at a time: BOM and header first."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    out.write(BOM)
    writer.writerow([safe_cell(name) for name in header])
    for number, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(value) for value in row])
        if number % ROWS_PER_CHUNK == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """'2026-12-01 19:05 EST': the clinic's clock, sortable, with its zone."""
    return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def time_header(name: str, zone: ZoneInfo) -> str:
    return f"{name} ({zone.key})"


def filename(list_name: str, day: date) -> str:
    """`<list>-<YYYY-MM-DD>.csv`, in characters any browser and header keep as they are."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", list_name).strip("-").lower() or "export"
    return f"{slug[:80]}-{day.isoformat()}.csv"
