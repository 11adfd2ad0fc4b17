"""The `followup` command, run in-process with the environment a user would set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text

from followup.cli.main import main
from followup.config import Settings
from followup.db import transaction
from followup.models.base import utcnow
from followup.models.care import Patient
from followup.models.outbox import Message
from followup.replies.inbound_sms import InboundSms, receive_sms
from followup.runtime import Runtime
from tests.care.test_imports import PATIENTS, VISITS
from tests.conftest import add_patient

MORNING = "2026-11-16T12:00:00+00:00"  # the imports are rehearsed before the visits


@pytest.fixture
def cli(database_url: str) -> CliRunner:
    return CliRunner(env={"FOLLOWUP_DATABASE_URL": database_url})


def test_every_command_has_help() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    commands = list(main.commands)  # type: ignore[attr-defined]
    assert {"init-db", "import", "visit", "schedule", "dispatch", "check", "demo"} <= set(commands)
    for name in commands:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, name


def test_import_record_schedule_and_dispatch(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text(PATIENTS)
    (tmp_path / "visits.csv").write_text(VISITS)
    assert cli.invoke(main, ["init-db"]).exit_code == 0
    assert (
        cli.invoke(main, ["import", str(tmp_path / "patients.csv")]).output
        == "2 patients imported (2 new, 0 updated)\n"
    )
    assert (
        "14 messages planned"
        in cli.invoke(main, ["import", str(tmp_path / "visits.csv"), "--at", MORNING]).output
    )

    shown = cli.invoke(main, ["schedule", "P1"])
    assert shown.exit_code == 0
    assert "times in America/New_York" in shown.output
    assert "Mon 2026-11-16 18:00  sms    scheduled   welcome  [V1]" in shown.output

    ticked = cli.invoke(main, ["dispatch", "--at", "2026-11-16T23:00:00+00:00"])
    assert ticked.exit_code == 0, ticked.output
    assert ticked.output.startswith("claimed 2 due messages")
    after = cli.invoke(main, ["schedule", "P1", "--all"]).output
    assert "sms    sent        welcome  [V1]" in after

    recorded = cli.invoke(
        main,
        [
            "visit",
            "P1",
            "--office",
            "Weehawken",
            "--clinician",
            "Dr. Lee",
            "--at",
            "2026-12-01 09:00",
        ],
    )
    assert recorded.exit_code == 0, recorded.output
    # The same episode of care as V1: the steps not yet sent follow the new visit,
    # and the welcome, sent already, is not planned again.
    assert recorded.output == "visit P1-202612010900 recorded: 0 messages planned, 6 moved to it\n"
    moved = cli.invoke(main, ["schedule", "P1"]).output
    assert "Thu 2026-12-03 10:00  sms    scheduled   keep-moving  [P1-202612010900]" in moved
    assert "welcome" not in moved


def test_bad_input_is_one_line_and_a_non_zero_exit(cli: CliRunner, tmp_path: Path) -> None:
    cli.invoke(main, ["init-db"])
    bad = tmp_path / "patients.csv"
    bad.write_text("ref,first_name,last_name,phone\nP1,Ana,Rivera,12345\n")
    result = cli.invoke(main, ["import", str(bad)])
    assert result.exit_code == 1
    assert "line 2: phone '12345' is not a valid number" in result.output
    assert "Traceback" not in result.output
    for args in (
        ["schedule", "nobody"],
        ["visit", "nobody", "--office", "Hoboken", "--clinician", "X", "--at", "2026-11-16 10:00"],
        ["dispatch", "--at", "tomorrow"],
        ["cancel-visit", "V9", "--reason", "x"],
    ):
        result = cli.invoke(main, args)
        assert result.exit_code == 1, args
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output


def test_an_import_refuses_a_misspelled_column_and_a_visit_decades_ahead(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    """What a blind walk found: a misspelled column's values dropped without a word, and
    a mistyped year (2062) planning a series decades ahead."""
    cli.invoke(main, ["init-db"])
    (tmp_path / "patients.csv").write_text(PATIENTS)
    cli.invoke(main, ["import", str(tmp_path / "patients.csv")])
    misspelled = tmp_path / "misspelled.csv"
    misspelled.write_text(
        "ref,patient_ref,office,clinician,visited_at,tag\n"
        "V1,P1,Hoboken,Dr. Lee,2026-11-30 10:00,lower-back\n"
    )
    result = cli.invoke(main, ["import", str(misspelled)])
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {misspelled}: unknown column `tag` (did you mean `tags`?); nothing imported: "
        "a visits file takes the columns ref, patient_ref, office, clinician and visited_at, "
        "and may take tags, plan, next_appointment and exercises\n",
    )
    decades = tmp_path / "decades.csv"
    decades.write_text(
        "ref,patient_ref,office,clinician,visited_at\nV1,P1,Hoboken,Dr. Lee,2062-11-30 10:00\n"
    )
    result = cli.invoke(main, ["import", str(decades)])
    assert (result.exit_code, result.output) == (
        1,
        "Error: 1 bad row, nothing imported:\nline 2: visited_at '2062-11-30 10:00' is more "
        "than a year after the import's time: check the year\n",
    )
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM visits")) == 0
    engine.dispose()


def test_a_database_without_schema_says_to_run_init_db(tmp_path: Path) -> None:
    runner = CliRunner(env={"FOLLOWUP_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"})
    result = runner.invoke(main, ["schedule", "P1"])
    assert result.exit_code == 1
    assert "followup init-db" in result.output and result.output.count("\n") == 1


def test_bad_settings_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner(env={"FOLLOWUP_SMS_BACKEND": "pigeon"})
    result = runner.invoke(main, ["schedule", "P1"])
    assert result.exit_code == 1
    assert result.output == "Error: FOLLOWUP_SMS_BACKEND must be console or twilio\n"


def test_check_passes_on_the_shipped_templates() -> None:
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "ok  lower-back/warning-signs/sms/en  GSM-7, 2 segment(s)" in result.output
    assert "ok  lower-back/welcome/sms/es  GSM-7, 2 segment(s)" in result.output
    assert "  lower-back/welcome               sms     es     4.6  <= 6 ok\n" in result.output
    assert "OVER" not in result.output
    # The messages naming a programme, an appointment or a form: 6 in 2 languages by SMS
    # and email; and the exercise library's reading levels.
    assert "ok  visit/keep-moving+exercises/sms/es  GSM-7, 2 segment(s)" in result.output
    assert "  bridge                           es " in result.output
    assert result.output.endswith("118 renders checked, all templates fine\n")
    assert "WARN alerts: no on-call route" in result.output


def test_check_is_quiet_about_routes_when_on_call_and_second_tier_are_set() -> None:
    env = {"FOLLOWUP_ONCALL_SMS": "+12015550900", "FOLLOWUP_ESCALATION_EMAILS": "m@clinic.example"}
    result = CliRunner().invoke(main, ["check"], env=env)
    assert result.exit_code == 0 and "WARN" not in result.output


def test_demo_runs_the_whole_flow(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--database", str(tmp_path / "demo.db")])
    assert result.exit_code == 0, result.output
    assert "SMS   -> +12015550101\n    Hi Ana, Spine & PT Clinic here. Call 911" in result.output
    assert "Subject: Thank you for your visit to Spine & PT Clinic" in result.output
    # A Spanish-speaking patient, in Spanish, in GSM-7 ("Lucía" loses an accent by SMS).
    assert "enrolled Lucía Morales (New York, es), Weehawken: 8 messages planned" in result.output
    assert "Hola Lucia, de Spine & PT Clinic: llame al 911" in result.output
    assert "Hola Lucia, su ultima visita a Spine & PT Clinic fue el miércoles, 28 de octubre." in (
        result.output
    )
    # A second visit in the same episode: the series moves to it, nothing twice.
    assert (
        "--- Ana comes back for a second visit, in the same episode of care: "
        "0 messages planned, 5 moved to it"
    ) in result.output
    summary = result.output.split("Final state of every message:")[1]
    assert summary.count("  Ana    welcome ") == 1 and summary.count("  Ana    ") == 7
    assert "Chloe replies STOP" in result.output
    # Sam, with home exercises: named in the reminder, DONE recorded, the PSFS change.
    assert "Your exercises today: Bridge 2x10, Walk 15 min. How to: http://" in result.output
    assert "--- Sam replies DONE: recorded for Fri Oct 30" in result.output
    assert "PSFS 4.0 -> 7.0 (+3.0, reaches the 2-point minimal important change)" in (result.output)
    assert "Totals: cancelled 3, sent 40" in result.output
    # The console command works from any folder: absolute paths, the address serve binds.
    invite = result.output.split("See it all in the staff console")[1]
    command = invite.splitlines()[1].split()
    assert command[0] == f"FOLLOWUP_DATABASE_URL=sqlite:///{(tmp_path / 'demo.db').resolve()}"
    assert Path(command[1]).is_absolute() and Path(command[1]).exists()
    assert command[2:] == ["serve", "--port", "8000"]
    assert "http://127.0.0.1:8000/console/" in invite


def test_status_counts_states_and_lists_what_staff_must_decide(
    cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "patients.csv").write_text(PATIENTS)
    (tmp_path / "visits.csv").write_text(VISITS)
    cli.invoke(main, ["init-db"])
    cli.invoke(main, ["import", str(tmp_path / "patients.csv")])
    cli.invoke(main, ["import", str(tmp_path / "visits.csv"), "--at", MORNING])
    cli.invoke(main, ["dispatch", "--at", "2026-11-16T23:00:00+00:00"])
    engine = create_engine(cli.env["FOLLOWUP_DATABASE_URL"] or "")
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE messages SET status = 'unknown', last_error = 'connection lost during DATA'"
                " WHERE channel = 'email' AND status = 'sent'"
            )
        )
    engine.dispose()
    runtime = Runtime(Settings(database_url=cli.env["FOLLOWUP_DATABASE_URL"] or ""))
    with transaction(runtime.sessions) as session:
        receive_sms(
            session,
            settings=runtime.settings,
            renderer=runtime.renderer,
            messages=[InboundSms("SMx", "+12015550777", "new phone, this is Ana")],
            now=utcnow(),
        )
    runtime.close()
    result = cli.invoke(main, ["status"])
    assert result.exit_code == 0, result.output
    assert "+12015550777: 'new phone, this is Ana'" in result.output
    # The readiness verdicts come first (tests/operations/test_health.py), then the counts.
    assert result.output.startswith("not ready\n")
    assert "\nmessages: scheduled 12, sent 1, unknown 1\n" in result.output
    assert (
        "P2 email welcome tried 2026-11-16 23:00 UTC: connection lost during DATA" in result.output
    )


def test_status_lists_every_unknown_message_and_staff_settle_them(
    cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "patients.csv").write_text(PATIENTS)
    cli.invoke(main, ["init-db"])
    cli.invoke(main, ["import", str(tmp_path / "patients.csv")])
    runtime = Runtime(Settings(database_url=cli.env["FOLLOWUP_DATABASE_URL"] or ""))
    at = datetime(2026, 11, 20, 15, tzinfo=UTC)
    with transaction(runtime.sessions) as session:
        patient = session.scalars(select(Patient).order_by(Patient.id)).first()
        assert patient is not None
        for n in range(75):
            session.add(
                Message(
                    patient_id=patient.id,
                    channel="email",
                    purpose="care",
                    template="checkin",
                    status="unknown",
                    due_at=at,
                    expires_at=at + timedelta(days=2),
                    attempts=1,
                    attempted_at=at + timedelta(minutes=n),
                    # Two are still being looked up; the rest wait for staff.
                    settle_at=at if n < 2 else None,
                    last_error="connection lost during DATA",
                )
            )
    runtime.close()
    listed = cli.invoke(main, ["status"]).output
    assert "73 may or may not have reached the patient" in listed
    assert "2 more are being looked up at the provider" in listed
    assert listed.count("connection lost during DATA") == 73
    resent = cli.invoke(
        main, ["message", "resend", "75", "--by", "Maria", "--reason", "not received"]
    )
    assert resent.exit_code == 0, resent.output
    again = cli.invoke(main, ["message", "mark-sent", "75", "--by", "Maria", "--reason", "x"])
    assert again.exit_code == 1
    assert "message #75 is scheduled: only an unknown message" in again.output
    assert "72 may or may not" in cli.invoke(main, ["status"]).output


def test_alerts_are_listed_emergencies_first_and_acknowledged(
    cli: CliRunner, database_url: str
) -> None:
    cli.invoke(main, ["init-db"])
    runtime = Runtime(Settings(database_url=database_url))
    add_patient(runtime)
    for sid, said in (("SM1", "getting worse"), ("SM2", "I wet myself and my legs are weak")):
        with transaction(runtime.sessions) as session:
            receive_sms(
                session,
                settings=runtime.settings,
                renderer=runtime.renderer,
                messages=[InboundSms(sid, "+12015550111", said)],
                now=utcnow(),
            )
    runtime.close()
    listed = cli.invoke(main, ["alerts"]).output.splitlines()
    assert listed[0].startswith("#2 EMERGENCY") and "Pat Doe (P1, +12015550111)" in listed[0]
    assert listed[1].startswith("#1 ATTENTION") and listed[1].endswith("'getting worse'")
    assert cli.invoke(main, ["alerts", "ack", "2", "--by", "Dr. Lee"]).output == (
        "alert #2 acknowledged by Dr. Lee\n"
    )
    again = cli.invoke(main, ["alerts", "ack", "2", "--by", "Dr. Lee"])
    assert again.exit_code == 1 and "already acknowledged" in again.output
    assert cli.invoke(main, ["alerts"]).output.startswith("#1 ATTENTION")
