"""An import's CSV file read as rows of cells by column, its kind told by its header
and the header checked against the columns that kind takes before anything is imported.

Column names are read without regard to case, surrounding spaces or a BOM. A column
the kind does not take is refused, naming the nearest one it does (a misspelled column
would otherwise be dropped without a word), and so is a column given twice. A row must
have as many cells as the header (a missing or extra comma shifts every cell after it),
but may leave off optional columns at its end, as files written by hand often do.
A row of empty cells only is skipped, as a blank line is. A column without a name (a
spreadsheet's trailing comma) may be left out of a row, and must be empty.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path

from followup.care.import_report import listed
from followup.exceptions import InvalidInput

Rows = list[tuple[int, dict[str, str]]]  # (line, cell by column)
Problems = list[tuple[int, str]]  # (line, what is wrong)


@dataclass(frozen=True)
class FileKind:
    name: str
    marker: str  # the column that tells this kind of file from the others
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    def describe(self) -> str:
        return (
            f"a {self.name} file takes the columns {listed(self.required)}, "
            f"and may take {listed(self.optional)}"
        )


@dataclass(frozen=True)
class CsvFile:
    path: Path
    kind: FileKind
    rows: Rows
    unread: Problems  # the rows that cannot be read by column, and why


def read_csv_file(path: Path, kinds: Sequence[FileKind]) -> CsvFile:
    """The file's rows, read by the columns of the first of `kinds` whose marker its
    header names (the header: its first row with a cell that is not empty). Raises
    `InvalidInput` for a file of no kind, a header that does not fit its kind, or no rows."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            records = [
                (reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from None
    takes = "; ".join(kind.describe() for kind in kinds)
    if not records:
        raise InvalidInput(f"{path}: the file is empty; {takes}")
    (_, header), *lines = records
    written = [name.strip().lstrip("\ufeff").strip() for name in header]
    columns = [name.lower() for name in written]
    kind = next((kind for kind in kinds if kind.marker in columns), None)
    if kind is None:
        raise InvalidInput(f"{path}: unknown file{_unknown_hint(written, kinds)}; {takes}")
    header_problems = _header_problems(written, kind)
    if header_problems:
        problems = "; ".join(header_problems)
        raise InvalidInput(f"{path}: {problems}; nothing imported: {kind.describe()}")
    if not lines:
        raise InvalidInput(f"{path}: the file has a header but no rows")
    named = max(at for at, name in enumerate(columns, 1) if name)
    rows: Rows = []
    unread: Problems = []
    for line, cells in lines:
        problem = _shape_problem(cells, columns, named, kind)
        if problem:
            unread.append((line, problem))
            continue
        # Not strict: the row may leave out optional and unnamed columns at the end.
        cells_by_column = zip(columns, cells, strict=False)
        rows.append((line, {name: cell for name, cell in cells_by_column if name}))
    return CsvFile(path, kind, rows, unread)


def _unknown_hint(written: list[str], kinds: Sequence[FileKind]) -> str:
    """Why the header names no kind's marker, when it can be told."""
    if len(written) == 1 and any(separator in written[0] for separator in ";\t|"):
        return ": its columns must be separated by commas"
    by_column = {name.lower(): name for name in written}
    for kind in kinds:
        nearest = get_close_matches(kind.marker, by_column, n=1)
        if nearest:
            return f" (is `{by_column[nearest[0]]}` meant to be `{kind.marker}`?)"
    markers = " or ".join(f"{kind.marker} (a {kind.name} file)" for kind in kinds)
    return f": its header has no column {markers}"


def _header_problems(written: list[str], kind: FileKind) -> list[str]:
    at: dict[str, list[int]] = defaultdict(list)
    for position, name in enumerate(written, 1):
        if name:
            at[name.lower()].append(position)
    problems = [
        f"column `{name}` is given {_times(len(places))} (columns {listed(map(str, places))})"
        for name, places in at.items()
        if len(places) > 1
    ]
    absent = [column for column in kind.columns if column not in at]
    for name, places in at.items():
        if name not in kind.columns:
            nearest = get_close_matches(name, absent, n=1)
            hint = f" (did you mean `{nearest[0]}`?)" if nearest else ""
            problems.append(f"unknown column `{written[places[0] - 1]}`{hint}")
    missing = [column for column in kind.required if column not in at]
    if missing:
        problems.append(f"missing {'column' if len(missing) == 1 else 'columns'} {listed(missing)}")
    return problems


def _shape_problem(cells: list[str], columns: list[str], named: int, kind: FileKind) -> str | None:
    """What keeps the row from being read by column, if anything (`named`: the number of
    columns up to the header's last name)."""
    left_off = columns[len(cells) : named]
    if any(column in kind.required for column in left_off):
        return f"fewer cells ({len(cells)}) than the header has columns ({named})"
    if len(cells) > len(columns):
        return f"more cells ({len(cells)}) than the header has columns ({len(columns)})"
    stray = [str(at) for at, cell in enumerate(cells, 1) if cell.strip() and not columns[at - 1]]
    if len(stray) == 1:
        return f"a value in column {stray[0]}, which has no name in the header"
    if stray:
        return f"values in columns {listed(stray)}, which have no name in the header"
    return None


def _times(count: int) -> str:
    return "twice" if count == 2 else f"{count} times"
