"""Minimum necessary on a lock screen: what an SMS or an email subject may not say.

Texts and subjects show on lock screens and in shared inboxes, so they carry no word
that tells a reader what the patient has, in any patient language. `followup check`
holds plan templates to this, campaigns are refused when saved.
"""

from __future__ import annotations

import re

# Words that would tell a reader of a lock screen or an inbox what the patient has,
# in every patient language. "popping" names the condition; the verb in a warning sign
# every back patient is taught ("if your back pops and it hurts") does not.
DIAGNOSIS_TERMS = (
    r"\w*arthritis",
    "crepitus",
    "facets?",
    "nerves?",
    "ligaments?",
    "tendons?",
    "cartilage",
    "synovial",
    "steroids?",
    "injections?",
    r"diagnos\w*",
    "popping",
    "lower back",
    "spine",
    "spinal",
    "sciatica",
    "discs?",
    r"herniat\w*",
    r"artr[io]\w*",
    r"crepitaci\w+",
    r"crujidos?",
    r"nervios?",
    r"ligamentos?",
    r"tend[oó]n\w*",
    r"cart[ií]lago",
    r"esteroides?",
    r"inyecci\w+",
    r"diagn[oó]stic\w*",
    r"columna",
    r"lumbar\w*",
    r"ci[aá]tic\w*",
    r"hernia\w*",
)
SUBJECT_TERMS = DIAGNOSIS_TERMS + (
    "pain",
    "back",
    r"symptoms?",
    "therapy",
    r"exercis\w*",
    "warning",
    "dolor",
    "espalda",
    r"s[ií]ntomas?",
    r"\w*terapia",
    r"ejercicios?",
    r"advertencias?",
)


def health_terms(text: str, terms: tuple[str, ...]) -> list[str]:
    """The words of `terms` found in `text` (lower case), each once."""
    return sorted(set(re.findall(r"\b(?:" + "|".join(terms) + r")\b", text)))
