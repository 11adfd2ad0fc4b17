"""Home exercise programmes: what a therapist assigns at a visit, and what is current.

A visit may assign exercises with doses (`bridge:2x10,walk:15min`). The episode's
programme is that of its latest live visit that assigned any; a later visit that
assigns none keeps it, one that assigns others replaces it, and every visit's rows stay
as the history. An episode with no programme keeps the plan's general reminder.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from followup.care.exercises import Dose, Exercise, get_exercise, load_library, parse_dose
from followup.exceptions import InvalidInput, NotFound
from followup.models.care import Visit
from followup.models.programs import ExerciseAssignment

# A text message names every exercise with its dose and stays within two segments.
MAX_EXERCISES = 3
# The plan's reminders that name the exercises when the episode has a programme.
PROGRAM_TEMPLATES = frozenset({"keep-moving", "stay-active"})


@dataclass(frozen=True)
class Assigned:
    exercise: Exercise
    dose: Dose


def parse_program(text: str, exercises_dir: Path) -> list[Assigned]:
    """`bridge:2x10,walk:15min` as exercises of the library with their doses; an
    exercise without a dose gets its usual one. `InvalidInput` names what is wrong."""
    library = load_library(exercises_dir)
    assigned: list[Assigned] = []
    for item in (part.strip() for part in text.replace(";", ",").split(",")):
        if not item:
            continue
        key, _, dose_text = item.partition(":")
        try:
            exercise = get_exercise(library, key)
        except NotFound as exc:
            raise InvalidInput(str(exc)) from None
        dose = parse_dose(dose_text, exercise.kind) if dose_text.strip() else exercise.dose
        if any(a.exercise.key == exercise.key for a in assigned):
            raise InvalidInput(f"exercise {exercise.key!r} is assigned twice")
        assigned.append(Assigned(exercise, dose))
    if len(assigned) > MAX_EXERCISES:
        raise InvalidInput(f"at most {MAX_EXERCISES} exercises at a time (a text names them all)")
    return assigned


def program_code(assigned: list[Assigned]) -> str:
    return ",".join(f"{a.exercise.key}:{a.dose.code()}" for a in assigned)


def assign_program(
    session: Session, *, visit: Visit, assigned: list[Assigned], by: str, now: datetime
) -> None:
    """The visit's exercises are `assigned` (recording the same visit again replaces
    its own rows, never another visit's)."""
    session.execute(delete(ExerciseAssignment).where(ExerciseAssignment.visit_id == visit.id))
    session.add_all(
        ExerciseAssignment(
            visit_id=visit.id,
            episode_id=visit.episode_id,
            patient_id=visit.patient_id,
            position=position,
            exercise=item.exercise.key,
            dose=item.dose.code(),
            assigned_at=now,
            assigned_by=by[:100],
        )
        for position, item in enumerate(assigned)
    )
    session.flush()


def current_programs(
    session: Session, episode_ids: set[int], exercises_dir: Path
) -> dict[int, list[Assigned]]:
    """Each episode's programme: its latest live visit's exercises (episodes with none
    are left out). An exercise since removed from the library is left out too."""
    if not episode_ids:
        return {}
    rows = session.execute(
        select(ExerciseAssignment, Visit.visited_at)
        .join(Visit, ExerciseAssignment.visit_id == Visit.id)
        .where(ExerciseAssignment.episode_id.in_(episode_ids), Visit.cancelled_at.is_(None))
        .order_by(Visit.visited_at, Visit.id, ExerciseAssignment.position)
    ).all()
    latest: dict[int, int] = {}
    for row, _ in rows:
        latest[row.episode_id] = row.visit_id
    library = load_library(exercises_dir)
    programs: dict[int, list[Assigned]] = defaultdict(list)
    for row, _ in rows:
        exercise = library.get(row.exercise)
        if latest[row.episode_id] == row.visit_id and exercise is not None:
            programs[row.episode_id].append(Assigned(exercise, parse_dose(row.dose, exercise.kind)))
    return dict(programs)


@dataclass(frozen=True)
class ProgramChange:
    visit_ref: str
    visited_at: datetime
    program: str
    by: str


def program_history(session: Session, patient_id: int) -> list[ProgramChange]:
    """Every programme the patient was given, latest first."""
    rows = session.execute(
        select(Visit.ref, Visit.visited_at, ExerciseAssignment)
        .join(Visit, ExerciseAssignment.visit_id == Visit.id)
        .where(ExerciseAssignment.patient_id == patient_id)
        .order_by(Visit.visited_at.desc(), Visit.id.desc(), ExerciseAssignment.position)
    ).all()
    changes: dict[str, ProgramChange] = {}
    for ref, visited_at, row in rows:
        entry = f"{row.exercise}:{row.dose}"
        found = changes.get(ref)
        program = f"{found.program},{entry}" if found else entry
        changes[ref] = ProgramChange(ref, visited_at, program, row.assigned_by)
    return list(changes.values())
