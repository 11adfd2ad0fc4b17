"""`followup campaign ...` as staff would type it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from followup.cli.main import main
from followup.runtime import Runtime
from tests.campaigns.test_lifecycle import patient


@pytest.fixture
def cli(runtime: Runtime) -> CliRunner:
    return CliRunner(
        env={"FOLLOWUP_DATABASE_URL": runtime.settings.database_url, "FOLLOWUP_SMS_RATE": "0"}
    )


def run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_create_preview_test_send_launch_watch_and_cancel(cli: CliRunner, runtime: Runtime) -> None:
    for n in (1, 2):
        patient(runtime, f"P{n}")
    patient(runtime, "P3", campaign={})
    created = run(
        cli,
        "campaign",
        "create",
        "saturday-hours",
        "--channel",
        "sms",
        "--office",
        "Hoboken",
        "--sms-text",
        "Hi {{ patient.first_name }}, {{ clinic.name }} is now open on Saturdays.",
        "--rate",
        "5",
        "--by",
        "Maria",
    )
    assert created == (
        "campaign 'saturday-hours' saved as a draft (saturday-hours): offices=('hoboken',)\n"
    )
    shown = run(cli, "campaign", "preview", "saturday-hours")
    assert shown.startswith(
        "recipients: 2 (sms 2)\nby language: English 2\n"
        "left out, no campaign consent on record (never asked): 1\n"
        "--- to Pat (English) by sms  [GSM-7, 1 segment(s)]\n"
    )
    assert "All sent by about " in shown and "no send limit" in shown
    assert run(
        cli, "campaign", "test-send", "saturday-hours", "--to", "(201) 555-0999", "--by", "Maria"
    ).startswith("test message sent to (201) 555-0999 (console-sms-")
    assert run(cli, "campaign", "launch", "saturday-hours", "--by", "Maria") == (
        "campaign 'saturday-hours' launched: 2 new messages\n"
    )
    assert run(cli, "campaign", "launch", "saturday-hours", "--by", "Maria").endswith(
        ": 0 new messages\n"
    )
    assert "[" + "." * 30 + "] 0/2  scheduled 2" in run(cli, "campaign", "status", "saturday-hours")
    assert (
        run(cli, "campaign", "pause", "saturday-hours", "--by", "Maria")
        == "campaign 'saturday-hours' paused\n"
    )
    assert "saturday-hours           paused    sms" in run(cli, "campaign", "list")
    assert run(cli, "campaign", "cancel", "saturday-hours", "--by", "Dr. Lee").endswith(
        ": 2 messages will not be sent\n"
    )
    assert "[" + "#" * 30 + "] 2/2  cancelled 2" in run(
        cli, "campaign", "status", "saturday-hours", "--follow"
    )


def test_refusals_are_one_clear_line(cli: CliRunner, runtime: Runtime) -> None:
    patient(runtime, "P1")
    for args in (
        [
            "campaign",
            "create",
            "x",
            "--channel",
            "sms",
            "--sms-text",
            "{{ patient.ssn }}",
            "--by",
            "M",
        ],
        [
            "campaign",
            "create",
            "x",
            "--channel",
            "sms",
            "--sms-text",
            "hi",
            "--office",
            "Newark",
            "--by",
            "M",
        ],
        [
            "campaign",
            "create",
            "x",
            "--channel",
            "sms",
            "--sms-text",
            "hi",
            "--start",
            "soon",
            "--by",
            "M",
        ],
        ["campaign", "preview", "nope"],
        ["campaign", "resume", "nope", "--by", "M"],
    ):
        result = cli.invoke(main, args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output


def test_a_limit_only_a_patient_reaches_is_one_clear_line_at_preview(
    cli: CliRunner, runtime: Runtime
) -> None:
    patient(runtime, "P1")  # Pat
    loops = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    guarded = '{% if patient.first_name == "Pat" %}' + loops + "{% endif %}Hi"
    run(cli, "campaign", "create", "x", "--channel", "sms", "--sms-text", guarded, "--by", "M")
    result = cli.invoke(main, ["campaign", "preview", "x"])
    assert (result.exit_code, result.output) == (
        1,
        "Error: the sms message does not render: SMS text: more than 20000 loop steps and calls\n",
    )


def test_a_campaign_in_two_languages_named_with_a_slash_goes_by_its_slug(
    cli: CliRunner, runtime: Runtime
) -> None:
    patient(runtime, "P1")
    patient(runtime, "P2", language="es")
    created = run(
        cli,
        "campaign",
        "create",
        "Weehawken 12/2026 rebook",
        "--channel",
        "sms",
        "--sms-text",
        "Hi {{ patient.first_name }}, time to rebook.",
        "--sms-text-es",
        "Hola {{ patient.first_name }}, es hora de reservar.",
        "--without-text",
        "skip",
        "--by",
        "Maria",
    )
    assert "saved as a draft (weehawken-12-2026-rebook)" in created
    shown = run(cli, "campaign", "preview", "weehawken-12-2026-rebook")
    assert "by language: English 1, Spanish 1\n" in shown
    assert "--- to Pat (Spanish) by sms  [GSM-7, 1 segment(s)]\nHola Pat, es hora" in shown
    run(cli, "campaign", "launch", "weehawken-12-2026-rebook", "--by", "Maria")
    status = run(cli, "campaign", "status", "weehawken-12-2026-rebook")
    assert "\n  waiting, " in status  # why, by reason (tests/campaigns/test_estimates.py)
    for verb, said in (
        ("pause", "paused"),
        ("resume", "resumed: 2 messages to go"),
        ("cancel", "cancelled: 2 messages will not be sent"),
    ):
        assert run(cli, "campaign", verb, "1", "--by", "Maria") == (
            f"campaign 'Weehawken 12/2026 rebook' {said}\n"
        )
