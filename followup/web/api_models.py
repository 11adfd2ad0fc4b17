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


class TextIn(BaseModel):
    """A campaign's message in one language: the SMS, and the email's subject and text."""

    # Line breaks are text here; the other control characters are refused.
    sms_text: Text | None = Field(default=None, max_length=1000)
    email_subject: Text | None = Field(default=None, max_length=200)
    email_text: Text | None = Field(default=None, max_length=20000)


class CampaignIn(BaseModel):
    name: Text = Field(
        min_length=1, max_length=100, description="A label; any printable text, '/' too."
    )
    channel: Literal["sms", "email", "preferred"]
    segment: SegmentIn = Field(default_factory=SegmentIn)
    template: Text | None = Field(default=None, max_length=100)
    texts: dict[Literal["en", "es"], TextIn] = Field(
        default_factory=dict, description="The message per patient language."
    )
    missing_text: Literal["fallback", "skip"] = Field(
        default="fallback",
        description="A patient whose language has no text: sent another language's "
        "text (fallback), or skipped with the reason recorded (skip).",
    )
    # Before `texts`: one text, English. Still taken; not with texts["en"].
    sms_text: Text | None = Field(
        default=None, max_length=1000, description="The English SMS (same as texts.en)."
    )
    email_subject: Text | None = Field(default=None, max_length=200)
    email_text: Text | None = Field(default=None, max_length=20000)
    start_at: datetime | None = None
    rate: float = Field(
        default=1.0, gt=0, description="Messages a second; at most the clinic's SMS limit."
    )


class LaunchOut(BaseModel):
    state: Literal["none", "queued", "writing", "done"]
    done: int  # reachable patients whose messages are written
    total: int | None  # reachable patients, once writing started


class CampaignOut(BaseModel):
    id: int
    slug: str  # what /api/campaigns/{ref} takes, with the id
    name: str
    texts: dict[str, TextIn]
    missing_text: str
    channel: str
    status: str
    segment: str
    rate: float
    start_at: datetime
    created_by: str
    launch: LaunchOut
    progress: dict[str, int]


class EstimateOut(BaseModel):
    starts: datetime  # its first message, on either channel
    earliest_finish: datetime
    latest_finish: datetime
    rate: float  # messages a second it gets (texts no faster than the limit)
    limit: float | None  # the clinic's SMS limit (None: none, or it sends no texts)
    ahead: int  # texts due before it (0 when it sends no texts)
    quiet_hours: int  # texts waiting for the patient's sending window
    capped: int  # recipients the frequency cap holds to a later day
    lines: list[str]


class PreviewOut(BaseModel):
    recipients: dict[str, int]
    languages: dict[str, int]  # recipients per patient language
    without_text: dict[str, int]  # patients whose language has no text
    missing_text: str  # what happens to them: fallback or skip
    fallback: str | None  # the language they get on fallback
    excluded: dict[str, int]
    explanation: str | None  # why nobody would receive it
    samples: list[dict[str, str]]
    estimate: EstimateOut | None
    duration_seconds: float  # from now to the earliest finish


class TestSendIn(BaseModel):
    """A test goes to the member's own phone (sms) or email, as an admin recorded it."""

    channel: Literal["sms", "email"]
    language: Literal["en", "es"] = "en"


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
