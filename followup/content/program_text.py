"""What a reminder says about the patient's home programme: each exercise's name and
dose in the patient's language, the link to its instructions and a one-tap "done"."""

from __future__ import annotations

from typing import Any

from followup.care.programs import Assigned


def exercise_items(assigned: list[Assigned], language: str) -> list[dict[str, Any]]:
    """The exercises as templates and the instructions page read them."""
    return [
        {
            "key": item.exercise.key,
            "name": item.exercise.name.get(language, item.exercise.name["en"]),
            "short": item.exercise.short.get(language, item.exercise.short["en"]),
            "dose": item.dose.short(language),
            "dose_words": item.dose.words(language),
            "steps": list(item.exercise.steps.get(language, item.exercise.steps["en"])),
            "cautions": list(item.exercise.cautions.get(language, item.exercise.cautions["en"])),
        }
        for item in assigned
    ]


def program_context(
    assigned: list[Assigned], language: str, *, exercises_url: str, done_url: str
) -> dict[str, Any]:
    return {
        "exercises": exercise_items(assigned, language),
        "exercises_url": exercises_url,
        "done_url": done_url,
    }
