"""Patients: validated contact details, and consent per channel and purpose."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from followup.care.search import date_parts, typed_date
from followup.care.typed_times import no_such_day
from followup.exceptions import InvalidInput, NotFound
from followup.models.base import Channel, utcnow
from followup.models.care import Consent, ConsentEvent, Patient
from followup.models.outbox import PENDING_STATUSES, Message, MessageStatus, Purpose

LANGUAGES = ("en", "es")
# A language as staff may write it instead of its code, in either language.
LANGUAGE_WORDS = {
    "english": "en",
    "ingles": "en",
    "inglés": "en",
    "spanish": "es",
    "espanol": "es",
    "español": "es",
}


def parse_language(raw: str) -> str:
    """A language's code from its code or its name ("Spanish", "español"), else
    `InvalidInput` naming the ones the clinic writes in."""
    word = raw.strip().lower()
    language = LANGUAGE_WORDS.get(word, word)
    if language not in LANGUAGES:
        raise InvalidInput(f"language {raw.strip()!r} is not one of en (English), es (Spanish)")
    return language


EARLIEST_BIRTH = date(1900, 1, 1)


@dataclass(frozen=True)
class PatientDetails:
    """A patient as given by a person or a file, already validated."""

    ref: str
    first_name: str
    last_name: str
    phone: str | None
    email: str | None
    preferred_channel: Channel
    language: str
    timezone: str
    date_of_birth: date | None = None

    @classmethod
    def parse(
        cls,
        *,
        ref: str,
        first_name: str,
        last_name: str,
        phone: str = "",
        email: str = "",
        preferred_channel: str = "",
        language: str = "",
        timezone: str = "",
        date_of_birth: str = "",
        default_timezone: str = "America/New_York",
    ) -> PatientDetails:
        """Validate raw text; raise `InvalidInput` naming the first bad field."""
        ref, first_name, last_name = ref.strip(), first_name.strip(), last_name.strip()
        if not ref:
            raise InvalidInput("patient ref is empty")
        if not first_name or not last_name:
            raise InvalidInput("first and last name are required")
        normalized_phone = normalize_phone(phone) if phone.strip() else None
        normalized_email = normalize_email(email) if email.strip() else None
        if not normalized_phone and not normalized_email:
            raise InvalidInput("a patient needs a phone number or an email address")
        preferred = (preferred_channel.strip().lower() or "sms") if normalized_phone else "email"
        if preferred not in {c.value for c in Channel}:
            raise InvalidInput(f"preferred channel {preferred_channel!r} is not sms or email")
        language = parse_language(language) if language.strip() else "en"
        zone = timezone.strip() or default_timezone
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"time zone {zone!r} is not an IANA zone name") from None
        born = parse_birth_date(date_of_birth, today=datetime.now(ZoneInfo(zone)).date())
        return cls(
            ref=ref,
            first_name=first_name,
            last_name=last_name,
            phone=normalized_phone,
            email=normalized_email,
            preferred_channel=Channel(preferred),
            language=language,
            timezone=zone,
            date_of_birth=born,
        )


def parse_birth_date(raw: str, *, today: date) -> date | None:
    """A date of birth as typed ("1962-03-14" or "03/14/1962"), or None for an empty
    one; a date that does not exist, is after `today` or before 1900 is refused."""
    if not raw.strip():
        return None
    born = typed_date(raw)
    if born is None:
        parts = date_parts(raw)
        wrong_day = no_such_day(*parts) if parts else None
        if wrong_day:
            raise InvalidInput(f"date of birth {raw!r} is not a date: {wrong_day}")
        raise InvalidInput(f"date of birth {raw!r} is not a date (YYYY-MM-DD or MM/DD/YYYY)")
    if born > today:
        raise InvalidInput(f"date of birth {raw!r} is in the future")
    if born < EARLIEST_BIRTH:
        raise InvalidInput(f"date of birth {raw!r} is before 1900")
    return born


def normalize_phone(raw: str) -> str:
    """E.164 form of a phone number; US numbers may omit the country code."""
    try:
        number = phonenumbers.parse(raw.strip(), "US")
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"phone {raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"phone {raw!r} is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_for_people(e164: str | None) -> str | None:
    """A stored North American number as staff dial and type it, "(201) 555-0111" (a
    spreadsheet reads no formula in it, an import reads it back); any other as stored.
    Sliced, not parsed: an export formats every row's."""
    if e164 and len(e164) == 12 and e164.startswith("+1"):
        return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"
    return e164


def normalize_email(raw: str) -> str:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput(f"email {raw!r} is not valid: {exc}") from None


def save_patient(session: Session, details: PatientDetails) -> Patient:
    """Create the patient, or update the one with the same ref."""
    patient = session.scalar(select(Patient).where(Patient.ref == details.ref))
    if patient is None:
        patient = Patient(ref=details.ref)
        session.add(patient)
    apply_details(patient, details)
    session.flush()
    return patient


def apply_details(patient: Patient, details: PatientDetails) -> None:
    """Give `patient` the contact details (not yet flushed)."""
    patient.first_name = details.first_name
    patient.last_name = details.last_name
    patient.phone = details.phone
    patient.email = details.email
    patient.preferred_channel = details.preferred_channel
    patient.language = details.language
    patient.timezone = details.timezone
    if details.date_of_birth is not None:  # a file without one keeps what staff entered
        patient.date_of_birth = details.date_of_birth


def change_details(
    session: Session,
    patient: Patient,
    *,
    first_name: str,
    last_name: str,
    phone: str,
    email: str,
    date_of_birth: str,
) -> None:
    """Correct a patient's name, contacts and date of birth (empty: none), validated
    as an import is; the search text follows (`followup.care.search`)."""
    details = PatientDetails.parse(
        ref=patient.ref,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        email=email,
        preferred_channel=patient.preferred_channel,
        language=patient.language,
        timezone=patient.timezone,
        date_of_birth=date_of_birth,
    )
    save_patient(session, details)
    patient.date_of_birth = details.date_of_birth
    session.flush()


def lock_patients(session: Session, patient_ids: list[int]) -> None:
    """Lock the patients' rows until the transaction ends (in id order, so two
    transactions never wait on each other in a circle): whoever decides what a patient
    is sent, or plans their series, takes turns and sees the other's rows."""
    ids = sorted(set(patient_ids))
    if session.get_bind().dialect.name == "sqlite":
        # No row locks in SQLite: a write takes the database's lock until the end.
        session.execute(
            update(Patient)
            .where(Patient.id.in_(ids))
            .values(id=Patient.id)
            .execution_options(synchronize_session=False)  # changes nothing to sync
        )
        return
    session.execute(
        select(Patient.id).where(Patient.id.in_(ids)).order_by(Patient.id).with_for_update()
    )


def get_patient(session: Session, ref: str) -> Patient:
    patient = session.scalar(select(Patient).where(Patient.ref == ref))
    if patient is None:
        raise NotFound(f"no patient with ref {ref!r}")
    return patient


def record_consent(
    session: Session,
    patient: Patient,
    *,
    channel: Channel,
    purpose: Purpose,
    granted: bool,
    source: str,
    by: str,
    at: datetime | None = None,
) -> bool:
    """Record a consent decision; returns False when it changes nothing.

    Revoking also cancels every pending message on that channel and purpose, including
    rows a dispatcher has claimed but not yet handed to the provider.
    """
    at = at or utcnow()
    current = session.get(Consent, (patient.id, channel.value, purpose.value))
    if current is not None and current.granted == granted:
        return False
    if current is None:
        current = Consent(patient_id=patient.id, channel=channel.value, purpose=purpose.value)
        session.add(current)
    current.granted = granted
    current.changed_at = at
    current.source = source
    current.changed_by = by
    session.add(
        ConsentEvent(
            patient_id=patient.id,
            channel=channel.value,
            purpose=purpose.value,
            granted=granted,
            at=at,
            source=source,
            recorded_by=by,
        )
    )
    if not granted:
        session.execute(
            update(Message)
            .where(
                Message.patient_id == patient.id,
                Message.channel == channel.value,
                Message.purpose == purpose.value,
                Message.status.in_(PENDING_STATUSES),
            )
            .values(
                status=MessageStatus.CANCELLED,
                last_error=f"{channel.value} consent revoked ({source})",
                updated_at=at,
            )
        )
    session.flush()
    return True


def record_consents(
    session: Session,
    patient: Patient,
    decisions: dict[tuple[Channel, Purpose], bool],
    *,
    source: str,
    by: str,
    at: datetime | None = None,
) -> None:
    """Record several consent decisions made at once (an intake form, a CSV row)."""
    for (channel, purpose), granted in decisions.items():
        record_consent(
            session,
            patient,
            channel=channel,
            purpose=purpose,
            granted=granted,
            source=source,
            by=by,
            at=at,
        )


def has_consent(session: Session, patient_id: int, channel: Channel, purpose: Purpose) -> bool:
    granted = session.scalar(
        select(Consent.granted).where(
            Consent.patient_id == patient_id,
            Consent.channel == channel.value,
            Consent.purpose == purpose.value,
        )
    )
    return bool(granted)
