"""What the staff API takes and gives: request bodies, validated (control characters
refused), and answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from followup.campaigns.segments import MAX_DAYS
from followup.plain_text import CONTROL_CHARACTERS


def _without_control_characters(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("contains a control character")
    return value


# Text from staff: anything but NUL and the other control characters (followup.plain_text).
Text = Annotated[str, AfterValidator(_without_control_characters)]


class SegmentIn(BaseModel):
    offices: list[Text] = []
    visited_from: date | None = None
    visited_to: date | None = None
    not_seen_days: int | None = Field(default=None, ge=0, le=MAX_DAYS)
    tags: list[Text] = []
    languages: list[Text] = []
    min_pain: int | None = Field(default=None, ge=0, le=10)
    replied_since: date | None = None
    not_replied_since: date | None = None


class CampaignIn(BaseModel):
    name: Text = Field(min_length=1, max_length=100)
    channel: Literal["sms", "email", "preferred"]
    segment: SegmentIn = Field(default_factory=SegmentIn)
    template: Text | None = Field(default=None, max_length=100)
    # Line breaks are text here; the other control characters are refused.
    sms_text: Text | None = Field(default=None, max_length=1000)
    email_subject: Text | None = Field(default=None, max_length=200)
    email_text: Text | None = Field(default=None, max_length=20000)
    start_at: datetime | None = None
    rate: float = Field(default=1.0, gt=0)


class LaunchOut(BaseModel):
    state: Literal["none", "queued", "writing", "done"]
    done: int  # reachable patients whose messages are written
    total: int | None  # reachable patients, once writing started


class CampaignOut(BaseModel):
    name: str
    channel: str
    status: str
    segment: str
    rate: float
    start_at: datetime
    created_by: str
    launch: LaunchOut
    progress: dict[str, int]


class PreviewOut(BaseModel):
    recipients: dict[str, int]
    excluded: dict[str, int]
    samples: list[dict[str, str]]
    duration_seconds: float


class TestSendIn(BaseModel):
    """A test goes to the member's own phone (sms) or email, as an admin recorded it."""

    channel: Literal["sms", "email"]


class StaffIn(BaseModel):
    name: Text = Field(min_length=1, max_length=100)
    role: Literal["staff", "clinician", "admin"]


class TokenOut(BaseModel):
    id: int
    token: str


class PatientOut(BaseModel):
    ref: str
    first_name: str
    last_name: str
    phone: str | None
    email: str | None
    language: str
    timezone: str
    date_of_birth: date | None


class PatientsFound(BaseModel):
    total: int
    patients: list[PatientOut]
    next_cursor: str | None  # give it as `cursor` for the next page


class PatientChange(BaseModel):
    """Corrections to a patient; a field left out keeps its value, null clears it."""

    first_name: Text | None = Field(default=None, min_length=1, max_length=100)
    last_name: Text | None = Field(default=None, min_length=1, max_length=100)
    phone: Text | None = Field(default=None, max_length=40)
    email: Text | None = Field(default=None, max_length=320)
    date_of_birth: date | None = None


class VisitOut(BaseModel):
    ref: str
    office: str
    clinician: str
    visited_at: datetime
    tags: str
    plan: str
    cancelled_at: datetime | None


class ReplyOut(BaseModel):
    id: int
    received_at: datetime
    channel: str
    from_address: str
    patient_ref: str | None
    # None when the token's role may not read this reply's words (an emergency or
    # attention reply, for the staff role) or its pain score: the console's rule.
    body: str | None
    pain: int | None
    triage: str | None
    keyword: str | None
