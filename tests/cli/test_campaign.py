"""`followup campaign ...` as staff would type it."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner, Result

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
    assert run(cli, "campaign", "launch", "saturday-hours", "--yes", "--by", "Maria") == (
        "campaign 'saturday-hours' launched: 2 new messages\n"
    )
    assert run(cli, "campaign", "launch", "saturday-hours", "--yes", "--by", "Maria").endswith(
        ": 0 new messages\n"
    )
    assert "[" + "." * 30 + "] 0/2  scheduled 2" in run(cli, "campaign", "status", "saturday-hours")
    assert (
        run(cli, "campaign", "pause", "saturday-hours", "--by", "Maria")
        == "campaign 'saturday-hours' paused\n"
    )
    assert "saturday-hours           paused    sms" in run(cli, "campaign", "list")
    assert run(cli, "campaign", "cancel", "saturday-hours", "--yes", "--by", "Dr. Lee").endswith(
        ": 2 messages will not be sent\n"
    )
    assert "[" + "#" * 30 + "] 2/2  cancelled 2" in run(
        cli, "campaign", "status", "saturday-hours", "--follow"
    )


class Terminal(io.BytesIO):
    """What staff type at a terminal: stdin that is one, as `campaign launch` asks."""

    def isatty(self) -> bool:
        return True


def draft(cli: CliRunner, runtime: Runtime) -> None:
    """'flu-shots', to two patients by text, one left out."""
    for n in (1, 2):
        patient(runtime, f"P{n}")
    patient(runtime, "P3", campaign={})
    run(cli, "campaign", "create", "Flu shots", "--channel", "sms", "--sms-text", "Hi", "--by", "M")


def answered(cli: CliRunner, verb: str, answer: str) -> Result:
    return cli.invoke(
        main, ["campaign", verb, "flu-shots", "--by", "M"], input=Terminal(answer.encode())
    )


def state(cli: CliRunner) -> str:
    """The campaign's status and its messages, as `campaign status` shows them."""
    return run(cli, "campaign", "status", "flu-shots").splitlines()[0]


NONE_WRITTEN = "Flu shots (draft): [" + "." * 30 + "] 0/0  no messages"
WRITTEN = "Flu shots (running): [" + "." * 30 + "] 0/2  scheduled 2"


def test_a_launch_says_to_how_many_and_what_then_asks(cli: CliRunner, runtime: Runtime) -> None:
    draft(cli, runtime)
    result = answered(cli, "launch", "y\n")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "Send to 2 patients: 2 by text; this cannot be undone.\n"
        "  English: 2\n"
        "  Left out: 1 no campaign consent on record (never asked)\n"
        "  Texts start about "
    )
    assert result.output.endswith(
        "Launch campaign 'Flu shots'? [y/N]: y\ncampaign 'flu-shots' launched: 2 new messages\n"
    )
    assert state(cli) == WRITTEN


@pytest.mark.parametrize("answer", ["n\n", "\n"])  # No, and the default
def test_a_launch_not_agreed_to_changes_nothing(
    cli: CliRunner, runtime: Runtime, answer: str
) -> None:
    draft(cli, runtime)
    result = answered(cli, "launch", answer)
    assert result.exit_code == 1
    assert result.output.endswith("nothing changed: campaign 'Flu shots' is still draft\n")
    assert state(cli) == NONE_WRITTEN


def test_without_a_terminal_a_launch_needs_yes(cli: CliRunner, runtime: Runtime) -> None:
    draft(cli, runtime)
    result = cli.invoke(main, ["campaign", "launch", "flu-shots", "--by", "M"], input="y\n")
    assert (result.exit_code, result.output) == (
        1,
        "Error: campaign launch asks first and there is no terminal to ask at; nothing was "
        "done (add --yes to launch without the question)\n",
    )
    assert state(cli) == NONE_WRITTEN
    assert run(cli, "campaign", "launch", "flu-shots", "--yes", "--by", "M") == (
        "campaign 'flu-shots' launched: 2 new messages\n"
    )
    assert state(cli) == WRITTEN


def test_a_cancel_says_how_many_messages_it_stops_then_asks(
    cli: CliRunner, runtime: Runtime
) -> None:
    draft(cli, runtime)
    run(cli, "campaign", "launch", "flu-shots", "--yes", "--by", "M")
    refused = cli.invoke(main, ["campaign", "cancel", "flu-shots", "--by", "M"])
    assert refused.exit_code == 1 and "add --yes to cancel" in refused.output
    kept = answered(cli, "cancel", "n\n")
    assert kept.output == (
        "Cancel: 2 unsent messages will never be sent; this cannot be undone.\n"
        "  A cancelled campaign cannot be launched again.\n"
        "Cancel campaign 'Flu shots'? [y/N]: n\n"
        "nothing changed: campaign 'Flu shots' is still running\n"
    )
    assert state(cli) == WRITTEN
    done = answered(cli, "cancel", "y\n")
    assert done.output.endswith("campaign 'Flu shots' cancelled: 2 messages will not be sent\n")
    assert state(cli).startswith("Flu shots (cancelled): ")


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
        "Error: the English SMS text: more than 20000 loop steps and calls\n",
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
    run(cli, "campaign", "launch", "weehawken-12-2026-rebook", "--yes", "--by", "Maria")
    status = run(cli, "campaign", "status", "weehawken-12-2026-rebook")
    assert "\n  waiting, " in status  # why, by reason (tests/campaigns/test_estimates.py)
    for verb, said in (
        ("pause", "paused"),
        ("resume", "resumed: 2 messages to go"),
        ("cancel --yes", "cancelled: 2 messages will not be sent"),
    ):
        assert run(cli, "campaign", *verb.split(), "1", "--by", "Maria") == (
            f"campaign 'Weehawken 12/2026 rebook' {said}\n"
        )
