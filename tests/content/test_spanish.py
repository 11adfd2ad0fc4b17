"""A Spanish-speaking patient gets the whole series, the answers and the pages in Spanish."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

from followup.care.visits import record_visit
from followup.config import Settings
from followup.content.render import Renderer
from followup.db import transaction
from followup.models.care import Office, Patient
from followup.replies.call_back import answer_facts
from followup.runtime import Runtime
from tests.conftest import VISIT, SmtpRecorder, add_patient
from tests.delivery.test_caps import walk
from tests.peers.twilio_server import TwilioPeer

ENGLISH = ("Hi ", "Reply STOP", "Thank you", "call us", "your visit")


def spanish_visit(runtime: Runtime, ref: str, preferred: str, phone: str) -> Patient:
    patient = add_patient(runtime, ref, preferred=preferred, phone=phone, language="es")
    with transaction(runtime.sessions) as session:
        record_visit(
            session,
            settings=runtime.settings,
            ref=f"V{ref}",
            patient=session.get_one(Patient, patient.id),
            office=Office.WEEHAWKEN,
            clinician="Dr. Test",
            visited_at=VISIT,
            tags="lower-back,osteoarthritis",
            now=VISIT,
        )
    return patient


def test_a_spanish_speaking_patients_whole_series_is_in_spanish(
    live_runtime: Runtime,
    twilio_server: TwilioPeer,
    smtp_server: tuple[object, SmtpRecorder],
) -> None:
    spanish_visit(live_runtime, "P1", "sms", "+12015550111")
    spanish_visit(live_runtime, "P2", "email", "+12015550112")
    walk(live_runtime, VISIT + timedelta(days=60))
    texts = [str(message["body"]) for message in twilio_server.messages]
    emails = [
        message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[arg-type]
        for envelope in smtp_server[1].envelopes
    ]
    # Every step of the plan, osteoarthritis step included, on each channel.
    assert len(texts) == len(emails) == 8
    for text in texts:
        assert text.startswith("Hola Pat") and text.endswith("Responda STOP para no recibir mas.")
        assert not any(word in text for word in ENGLISH), text
    assert "Tiene fiebre y dolor de espalda" in texts[0]
    assert any("fue el lunes, 16 de noviembre" in text for text in texts)
    for email in emails:
        assert isinstance(email, EmailMessage)
        plain = str(email.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        html = str(email.get_body(("html",)).get_content())  # type: ignore[union-attr]
        assert plain.startswith("Hola, Pat:") and '<html lang="es">' in html
        assert "llame al 911" in plain.lower() and "llame al 911" in html.lower()
        assert not any(word in plain + email["Subject"] for word in ENGLISH), plain
    subjects = [email["Subject"] for email in emails]
    assert subjects[0] == "Gracias por su visita a Spine & PT Clinic"
    assert "el lunes, 16 de noviembre" in str(emails[0].get_body(("plain",)).get_content())  # type: ignore[union-attr]


def test_a_call_back_is_promised_in_clinic_hours_never_today_on_a_sunday() -> None:
    settings = Settings()
    sunday = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # 11:00 in New Jersey
    friday_evening = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)  # 18:00
    wednesday_morning = datetime(2026, 11, 18, 13, 0, tzinfo=UTC)  # 08:00

    def facts(now: datetime, language: str) -> dict[str, object]:
        return dict(answer_facts(settings, language=language, alerted=True, advice=(), now=now))

    assert facts(sunday, "en")["call_back"] == "tomorrow"
    assert facts(wednesday_morning, "en")["call_back"] == "today"
    assert facts(friday_evening, "es")["day"] == "lunes"
    renderer = Renderer(settings.templates_dir)
    said = {
        language: renderer.answer(
            "attention",
            language,
            settings,
            answer_facts(settings, language=language, alerted=True, advice=(), now=friday_evening),
        )
        for language in ("en", "es")
    }
    assert (
        "notifying our staff to call you back on Monday between 8:00 AM and 6:00 PM." in said["en"]
    )
    assert "para que le llame el lunes entre las 8:00 y las 18:00." in said["es"]
