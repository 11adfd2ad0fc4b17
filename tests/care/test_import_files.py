"""An import file's header and rows: a column misspelled, given twice or in capitals, a
row with a cell too few or too many, blank lines and trailing commas."""

from pathlib import Path

import pytest
from sqlalchemy import select

from followup.exceptions import ImportErrors, InvalidInput
from followup.models.care import Patient, Visit
from followup.models.outbox import Message
from followup.runtime import Runtime
from tests.care.test_imports import PATIENTS, count, run_import, write

VISITS_TAKE = (
    "a visits file takes the columns ref, patient_ref, office, clinician and visited_at, "
    "and may take tags, plan, next_appointment and exercises"
)
PATIENTS_TAKE = (
    "a patients file takes the columns ref, first_name and last_name, and may take phone, "
    "email, preferred_channel, language, timezone, sms_consent, email_consent, "
    "campaign_sms_consent, campaign_email_consent and date_of_birth"
)
HEADER = "ref,patient_ref,office,clinician,visited_at"
ROW = "V1,P1,Hoboken,Dr. Lee,2026-11-16 10:00"


def refused(runtime: Runtime, path: Path) -> str:
    """The import's refusal, having checked that it imported nothing."""
    before = count(runtime, Patient), count(runtime, Visit), count(runtime, Message)
    with pytest.raises(InvalidInput) as raised:
        run_import(runtime, path)
    assert (count(runtime, Patient), count(runtime, Visit), count(runtime, Message)) == before
    return str(raised.value)


def bad_rows(runtime: Runtime, path: Path) -> list[tuple[int, str]]:
    with pytest.raises(ImportErrors) as raised:
        run_import(runtime, path)
    assert count(runtime, Visit) == 0 and count(runtime, Message) == 0
    return raised.value.problems


def test_a_misspelled_column_is_refused_naming_the_nearest_known_one(
    runtime: Runtime, tmp_path: Path
) -> None:
    run_import(runtime, write(tmp_path, "p.csv", PATIENTS))
    visits = write(
        tmp_path,
        "v.csv",
        f"{HEADER},tag,next_apointment,colour\n{ROW},lower-back,2026-12-20 10:00,red\n",
    )
    assert refused(runtime, visits) == (
        f"{visits}: unknown column `tag` (did you mean `tags`?); unknown column "
        "`next_apointment` (did you mean `next_appointment`?); unknown column `colour`; "
        f"nothing imported: {VISITS_TAKE}"
    )
    patients = write(
        tmp_path,
        "p2.csv",
        "ref,first_name,last_name,phone,SMS_Consnt\nP3,Cy,Doe,+12015550103,yes\n",
    )
    assert refused(runtime, patients) == (
        f"{patients}: unknown column `SMS_Consnt` (did you mean `sms_consent`?); "
        f"nothing imported: {PATIENTS_TAKE}"
    )


def test_a_header_is_read_without_regard_to_case_or_surrounding_spaces(
    runtime: Runtime, tmp_path: Path
) -> None:
    patients = "\ufeffREF, First_Name ,Last_Name,Email\nP1,Ana,Rivera,ana@example.com\n"
    assert run_import(runtime, write(tmp_path, "p.csv", patients)) == (
        "1 patient imported (1 new, 0 updated)"
    )
    visits = f"Ref, Patient_Ref ,OFFICE,Clinician,Visited_At,Tags\n{ROW},lower-back\n"
    run_import(runtime, write(tmp_path, "v.csv", visits))
    with runtime.sessions() as session:
        assert session.execute(select(Visit.ref, Visit.tags)).all() == [("V1", "lower-back")]


def test_a_column_given_twice_or_missing_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    run_import(runtime, write(tmp_path, "p.csv", PATIENTS))
    twice = write(tmp_path, "twice.csv", f"{HEADER},Tags,tags\n{ROW},knee,back\n")
    assert refused(runtime, twice) == (
        f"{twice}: column `tags` is given twice (columns 6 and 7); nothing imported: {VISITS_TAKE}"
    )
    missing = write(tmp_path, "missing.csv", "ref,patient_ref,visited_at\nV1,P1,2026-11-16 10:00\n")
    assert refused(runtime, missing) == (
        f"{missing}: missing columns office and clinician; nothing imported: {VISITS_TAKE}"
    )


def test_a_row_with_a_cell_too_few_or_too_many_is_refused_by_line(
    runtime: Runtime, tmp_path: Path
) -> None:
    run_import(runtime, write(tmp_path, "p.csv", PATIENTS))
    rows = f"{HEADER}\nV1,P1,Hoboken\n{ROW}\nV3,P2,Hoboken,Dr. Lee,2026-11-16 10:00,extra\n"
    assert bad_rows(runtime, write(tmp_path, "v.csv", rows)) == [
        (2, "fewer cells (3) than the header has columns (5)"),
        (4, "more cells (6) than the header has columns (5)"),
    ]


def test_a_row_may_leave_off_optional_columns_at_its_end(runtime: Runtime, tmp_path: Path) -> None:
    run_import(runtime, write(tmp_path, "p.csv", PATIENTS))
    rows = f"{HEADER},tags,next_appointment\n{ROW}\nV2,P2,Hoboken,Dr. Lee,2026-11-16 10:00,knee\n"
    run_import(runtime, write(tmp_path, "v.csv", rows))
    assert count(runtime, Visit) == 2


def test_blank_lines_and_empty_rows_are_skipped_and_lines_keep_their_numbers(
    runtime: Runtime, tmp_path: Path
) -> None:
    run_import(runtime, write(tmp_path, "p.csv", PATIENTS))
    rows = f"\n{HEADER}\n\n{ROW}\n,,,,\n  , ,,,\nV2,P9,Hoboken,Dr. Lee,2026-11-16 10:00\n\n"
    assert bad_rows(runtime, write(tmp_path, "v.csv", rows)) == [(7, "no patient with ref 'P9'")]
    run_import(runtime, write(tmp_path, "v.csv", rows.replace("P9", "P2")))
    assert count(runtime, Visit) == 2


def test_trailing_commas_make_columns_without_a_name_that_must_stay_empty(
    runtime: Runtime, tmp_path: Path
) -> None:
    run_import(runtime, write(tmp_path, "p.csv", PATIENTS))
    stray = f"{HEADER},,\n{ROW},,\nV2,P2,Hoboken,Dr. Lee,2026-11-16 11:00,,x\n"
    assert bad_rows(runtime, write(tmp_path, "v.csv", stray)) == [
        (3, "a value in column 7, which has no name in the header")
    ]
    # A row may leave out the nameless columns at the end, as a spreadsheet writes them.
    spreadsheet = f"{HEADER},,\n{ROW},,\nV2,P2,Hoboken,Dr. Lee,2026-11-16 11:00\n"
    run_import(runtime, write(tmp_path, "v.csv", spreadsheet))
    assert count(runtime, Visit) == 2


def test_an_empty_file_or_a_header_alone_imports_nothing(runtime: Runtime, tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.csv", "\n \n")
    assert refused(runtime, empty) == f"{empty}: the file is empty; {VISITS_TAKE}; {PATIENTS_TAKE}"
    header = write(tmp_path, "header.csv", f"{HEADER}\n,,,,\n")
    assert refused(runtime, header) == f"{header}: the file has a header but no rows"


def test_an_unknown_file_says_what_tells_the_kinds_apart(runtime: Runtime, tmp_path: Path) -> None:
    takes = f"{VISITS_TAKE}; {PATIENTS_TAKE}"
    spaced = write(tmp_path, "spaced.csv", f"ref,Patient Ref,office,clinician,visited_at\n{ROW}\n")
    assert refused(runtime, spaced) == (
        f"{spaced}: unknown file (is `Patient Ref` meant to be `patient_ref`?); {takes}"
    )
    semicolons = write(tmp_path, "semicolons.csv", f"{HEADER.replace(',', ';')}\n")
    assert refused(runtime, semicolons) == (
        f"{semicolons}: unknown file: its columns must be separated by commas; {takes}"
    )
    other = write(tmp_path, "other.csv", "a,b\n1,2\n")
    assert refused(runtime, other) == (
        f"{other}: unknown file: its header has no column patient_ref (a visits file) or "
        f"first_name (a patients file); {takes}"
    )
