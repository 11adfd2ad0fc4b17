"""Who may do what: the one access policy, for the console and the API alike.

A role grants abilities; every console page and API endpoint names the one ability it
needs, and what a page or an answer shows of a reply (its text, its pain score) is
decided here too, so a `staff` token reads through the API exactly what a `staff`
member reads in the console. The README's Security section shows this table.
"""

from __future__ import annotations

from enum import StrEnum

from followup.models.replies import Triage
from followup.models.staff import Role


class Ability(StrEnum):
    SEE_ALERTS = "see alerts"  # the open alerts, an alert's page (not the reply's words)
    ACKNOWLEDGE_ALERTS = "acknowledge alerts"
    WORK_INBOX = "work the inbox"  # replies listed, marked handled, assigned
    READ_URGENT_REPLIES = "read emergency and attention replies"
    READ_PAIN = "read pain scores and the pain chart"
    SEE_PATIENTS = "see patients"  # details, consent, visits, messages, conversation
    CARE_FOR_PATIENTS = "change consent, pause or resume a series, answer"
    CALL_BACK_AT_NIGHT = "text a safety call-back outside quiet hours"
    RUN_CAMPAIGNS = "build, test-send, launch, pause, resume and cancel campaigns"
    SEE_DELIVERY = "see delivery health and settle unconfirmed messages"
    ASSIGN_EXERCISES = "assign a patient's home exercises"
    READ_OUTCOMES = "read and export outcome measures"
    MANAGE_STAFF = "manage staff, their second factors and API tokens"
    READ_AUDIT = "read the audit log"
    # A whole list leaves the console: on top of the list's own ability, so a clinic
    # can take exporting away from a role in one place.
    EXPORT = "export lists as CSV"


_STAFF = frozenset(
    {
        Ability.SEE_ALERTS,
        Ability.WORK_INBOX,
        Ability.SEE_PATIENTS,
        Ability.CARE_FOR_PATIENTS,
        Ability.RUN_CAMPAIGNS,
        Ability.SEE_DELIVERY,
        Ability.EXPORT,
    }
)
_CLINICIAN = _STAFF | {
    Ability.ACKNOWLEDGE_ALERTS,
    Ability.READ_URGENT_REPLIES,
    Ability.READ_PAIN,
    Ability.CALL_BACK_AT_NIGHT,
    Ability.ASSIGN_EXERCISES,
    Ability.READ_OUTCOMES,
}
GRANTS: dict[Role, frozenset[Ability]] = {
    Role.STAFF: _STAFF,
    Role.CLINICIAN: _CLINICIAN,
    Role.ADMIN: _CLINICIAN | {Ability.MANAGE_STAFF, Ability.READ_AUDIT},
}


def may(role: Role | str, ability: Ability) -> bool:
    return ability in GRANTS[Role(role)]


def reads_reply_text(role: Role | str, triage: str | None) -> bool:
    """Whether `role` reads the words of a reply of this triage: routine replies and
    keywords (STOP, START, HELP: no triage) for everyone, the rest for clinicians."""
    return not triage or triage == Triage.ROUTINE or may(role, Ability.READ_URGENT_REPLIES)
