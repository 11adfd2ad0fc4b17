"""The campaign pages without script: per-language builder, slug addresses, and a
confirmation before launch, pause, resume and cancel."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select

from followup.models.campaigns import Campaign, CampaignStatus
from followup.models.outbox import Message
from followup.models.staff import Role
from followup.runtime import Runtime
from tests.campaigns.test_lifecycle import patient
from tests.console.test_console import form_token, make_staff, sign_in

NAME = "Weehawken 12/2026 rebook"


def build(console: TestClient, **fields: str) -> tuple[str, object]:
    """Post the builder's form; returns (the page's text, the response)."""
    form = console.get("/console/campaigns/new")
    data = {
        "csrf": form_token(form.text),
        "name": NAME,
        "channel": "sms",
        "sms_text": "Hi {{ patient.first_name }}, rebook your visit.",
        "sms_text_es": "Hola {{ patient.first_name }}, reserve su visita.",
        "missing_text": "fallback",
        "rate": "1",
        "offices": "Hoboken",
    } | fields
    answer = console.post("/console/campaigns/new", data=data, follow_redirects=False)
    return answer.text, answer


def test_a_campaign_named_with_a_slash_is_built_confirmed_launched_and_cancelled(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    patient(web_runtime, "P1")
    patient(web_runtime, "P2", language="es")
    patient(web_runtime, "P3", language="es", campaign={})
    shown, _ = build(console, save="no")
    assert 'data-testid="language-en">English 1' in shown
    assert 'data-testid="language-es">Spanish 1' in shown
    assert "Hola Pat, reserve su visita." in shown
    assert "Left out: 1 (no campaign consent on record (never asked))." in shown
    _, saved = build(console, save="yes")
    assert saved.status_code == 303  # type: ignore[attr-defined]
    page_url = saved.headers["location"]  # type: ignore[attr-defined]
    assert page_url == "/console/campaigns/weehawken-12-2026-rebook"
    page = console.get(page_url)
    assert page.status_code == 200 and NAME in page.text
    # The button is a link to a confirmation page, which says what happens to whom.
    assert f'href="{page_url}/launch"' in page.text
    confirm = console.get(f"{page_url}/launch")
    assert "Send to 2 patients: 2 by text; this cannot be undone." in confirm.text
    assert 'name="confirmed" value="yes"' in confirm.text
    # A POST without the confirmation changes nothing and goes to the confirmation.
    csrf = form_token(confirm.text)
    bare = console.post(f"{page_url}/launch", data={"csrf": csrf}, follow_redirects=False)
    assert bare.headers["location"] == f"{page_url}/launch"
    with web_runtime.sessions() as session:
        assert session.scalars(select(Campaign.status)).one() == CampaignStatus.DRAFT
    launched = console.post(
        f"{page_url}/launch", data={"csrf": csrf, "confirmed": "yes"}, follow_redirects=False
    )
    assert launched.headers["location"] == page_url
    with web_runtime.sessions() as session:
        assert (
            len(session.scalars(select(Message).where(Message.campaign_id.is_not(None))).all()) == 2
        )
    cancel = console.get(f"{page_url}/cancel")
    assert "Cancel: 2 unsent messages will never be sent; this cannot be undone." in cancel.text
    pause = console.get(f"{page_url}/pause")
    assert "Pause: 2 waiting messages stay unsent until you resume." in pause.text
    console.post(
        f"{page_url}/cancel",
        data={"csrf": form_token(cancel.text), "confirmed": "yes"},
        follow_redirects=False,
    )
    with web_runtime.sessions() as session:
        assert session.scalars(select(Campaign.status)).one() == CampaignStatus.CANCELLED
    listed = console.get("/console/campaigns")
    assert f'<a href="{page_url}">{NAME}</a>' in listed.text


def test_a_bad_form_says_what_is_wrong_in_the_front_desk_s_words(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    shown, answer = build(console, save="yes", sms_text_es="Hola {{ patient.firstname }}")
    assert answer.status_code == 400  # type: ignore[attr-defined]
    assert "the Spanish SMS text: unknown field `patient.firstname` (did you mean" in shown
    shown, _ = build(console, save="yes", rate="fast")
    assert "the send rate &#39;fast&#39; is not a number" in shown
    shown, _ = build(console, save="yes", name="rebook\u202e")
    assert "only printable characters" in shown


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"sms_text": "", "sms_text_es": ""}, "write a text in at least one language"),
        ({"sms_text": "   ", "sms_text_es": ""}, "the English SMS text is empty"),
        (
            {"sms_text": "Hi {{ clinic }}"},
            "the English SMS text: `clinic` is not a field you can print; fields you can use: "
            "{{ patient.first_name }}, {{ clinic.name }}, {{ clinic.phone }}",
        ),
        (
            {"sms_text_es": "Hola {{patient.first_name}}}"},
            "the Spanish SMS text: a brace is left over near `{{patient.first_name}}}`: "
            "fields are written {{ patient.first_name }}",
        ),
        (
            {"sms_text": "Hi {{ patient.first_name }"},
            "the English SMS text: a `{{` is not closed with `}}`",
        ),
    ],
)
def test_a_text_that_would_send_junk_is_refused_on_the_form(
    web_runtime: Runtime, console: TestClient, fields: dict[str, str], said: str
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    previewed, _ = build(console, save="no", **fields)
    assert str(escape(said)) in previewed
    shown, answer = build(console, save="yes", **fields)
    assert answer.status_code == 400  # type: ignore[attr-defined]
    assert str(escape(said)) in shown
    with web_runtime.sessions() as session:
        assert session.scalars(select(Campaign)).all() == []
