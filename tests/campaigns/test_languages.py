"""A campaign speaks each patient's language: a text per language, a preview per
language, and a recorded choice for a language without one."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from followup.campaigns.launches import launch
from followup.campaigns.previews import Preview, preview
from followup.campaigns.segments import Segment
from followup.content.campaign_text import LanguageText
from followup.exceptions import InvalidInput
from followup.models.campaigns import Campaign
from followup.models.outbox import Message, MessageStatus
from followup.models.staff import AuditEntry
from followup.runtime import Runtime
from tests.campaigns.test_lifecycle import NOW, new_campaign, patient
from tests.conftest import tick
from tests.peers.twilio_server import TwilioPeer

ENGLISH = LanguageText(sms="Hi {{ patient.first_name }}, we now open Saturdays.")
SPANISH = LanguageText(sms="Hola {{ patient.first_name }}, ahora abrimos los sábados.")


def two_languages(runtime: Runtime, **overrides: object) -> int:
    return new_campaign(runtime, sms_text=None, texts={"en": ENGLISH, "es": SPANISH}, **overrides)


def shown(runtime: Runtime, campaign_id: int, now: datetime = NOW) -> Preview:
    with runtime.sessions() as session:
        return preview(
            session,
            session.get_one(Campaign, campaign_id),
            settings=runtime.settings,
            renderer=runtime.renderer,
            now=now,
        )


def test_each_patient_gets_the_text_of_their_language(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient(live_runtime, "P1")
    patient(live_runtime, "P2", language="es")
    patient(live_runtime, "P3", language="es")
    campaign_id = two_languages(live_runtime)
    result = shown(live_runtime, campaign_id)
    assert dict(result.languages) == {"en": 1, "es": 2}
    assert not result.without_text
    by_language = {s.language: s for s in result.samples}
    assert by_language["es"].body.startswith("Hola Pat, ahora abrimos los sabados.")
    assert by_language["en"].body.startswith("Hi Pat, we now open Saturdays.")
    assert [s.language for s in result.samples].count("es") == 2  # two real recipients
    launch(live_runtime.sessions, campaign_id, settings=live_runtime.settings, by="M", now=NOW)
    tick(live_runtime, NOW + timedelta(minutes=1))
    assert twilio_server.bodies_to("+12015550002")[0].startswith("Hola Pat, ahora abrimos")
    assert twilio_server.bodies_to("+12015550001")[0].startswith("Hi Pat, we now open")


def test_a_language_without_text_gets_the_other_when_staff_chose_so(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient(live_runtime, "P1")
    patient(live_runtime, "P2", language="es")
    campaign_id = new_campaign(live_runtime)  # English only; fallback is the default
    result = shown(live_runtime, campaign_id)
    assert dict(result.without_text) == {"es": 1} and result.fallback == "en"
    assert result.total == 2
    spanish = next(s for s in result.samples if s.language == "es")
    assert spanish.written_in == "en"
    launch(live_runtime.sessions, campaign_id, settings=live_runtime.settings, by="M", now=NOW)
    tick(live_runtime, NOW + timedelta(minutes=1))
    assert twilio_server.bodies_to("+12015550002")[0].startswith("Hi Pat, winter tip")


def test_a_language_without_text_is_skipped_with_the_reason_when_staff_chose_so(
    runtime: Runtime,
) -> None:
    patient(runtime, "P1")
    spanish = patient(runtime, "P2", language="es")
    patient(runtime, "P3")
    campaign_id = new_campaign(runtime, missing_text="skip", rate=1.0)
    result = shown(runtime, campaign_id)
    assert result.total == 2 and dict(result.without_text) == {"es": 1}
    assert dict(result.excluded) == {"no Spanish text (skipped)": 1}
    assert launch(runtime.sessions, campaign_id, settings=runtime.settings, by="M", now=NOW) == 3
    with runtime.sessions() as session:
        rows = session.scalars(
            select(Message).where(Message.campaign_id == campaign_id).order_by(Message.patient_id)
        ).all()
        created = session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "create"))
        assert created.one().endswith("texts in en; without one: skip")
    skipped = [m for m in rows if m.status == MessageStatus.SKIPPED]
    assert [m.patient_id for m in skipped] == [spanish]
    assert skipped[0].last_error == (
        "no campaign text in the patient's language (es): the campaign skips patients without one"
    )
    # The skipped one takes no slot: the two texts go a second apart.
    sent = [m.due_at for m in rows if m.status == MessageStatus.SCHEDULED]
    assert sent[1] - sent[0] == timedelta(seconds=1)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"texts": {"es": LanguageText(sms="Hola {{ patient.nombre }}")}}, "Spanish SMS text"),
        ({"texts": {"fr": LanguageText(sms="Bonjour")}}, "language 'fr' is not one of en, es"),
        ({"texts": {"en": ENGLISH}}, "English text is given twice"),
        ({"missing_text": "maybe"}, "choose fallback or skip"),
        (
            {"channel": "email", "sms_text": None, "texts": {"es": LanguageText(email="Hola")}},
            "Spanish email campaign needs an email subject and text",
        ),
    ],
)
def test_a_bad_text_in_any_language_is_refused_naming_the_language(
    runtime: Runtime, overrides: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        new_campaign(runtime, **overrides)


def test_email_samples_show_each_language_subject(runtime: Runtime) -> None:
    patient(runtime, "P1")
    patient(runtime, "P2", language="es")
    texts = {
        "en": LanguageText(subject="Saturday hours", email="Hi {{ patient.first_name }}"),
        "es": LanguageText(subject="Horario del sábado", email="Hola {{ patient.first_name }}"),
    }
    campaign_id = new_campaign(runtime, channel="email", sms_text=None, texts=texts)
    subjects = {s.language: s.subject for s in shown(runtime, campaign_id).samples}
    assert subjects == {"en": "Saturday hours", "es": "Horario del sábado"}


def test_a_segments_language_may_be_written_as_its_name() -> None:
    for written in ("es", "ES", "Spanish", "español", "Espanol "):
        assert Segment.parse(languages=[written]).languages == ("es",)
    assert Segment.parse(languages="English, es").languages == ("en", "es")
    with pytest.raises(InvalidInput, match="'Klingon' is not one of en \\(English\\), es"):
        Segment.parse(languages=["Klingon"])
