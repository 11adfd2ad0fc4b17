"""The exercise library, doses, and the programme a visit assigns (with its history)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from followup.care.exercises import LANGUAGES, load_library, parse_dose
from followup.care.imports import import_csv
from followup.care.programs import current_programs, parse_program, program_history
from followup.care.visits import record_visit
from followup.cli.checks import check_templates
from followup.cli.main import main
from followup.config import PROJECT_ROOT, Settings
from followup.content.readability import reading_level
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.care import Office, Patient, Visit
from followup.models.programs import ExerciseAssignment
from followup.runtime import Runtime
from tests.conftest import VISIT, add_patient

LIBRARY = PROJECT_ROOT / "plans" / "exercises"
ARTICLE_REMEDIES = {"daily-tasks", "stay-active", "strengthen"}
STANDARD = {"pelvic-tilt", "knee-to-chest", "cat-cow", "bridge", "bird-dog", "walk"}


def test_the_library_covers_the_article_remedies_and_the_standard_low_back_exercises() -> None:
    library = load_library(LIBRARY)
    assert set(library) >= STANDARD
    assert {exercise.remedy for exercise in library.values()} == ARTICLE_REMEDIES
    for exercise in library.values():
        assert exercise.sources and all(s.url.startswith("https://") for s in exercise.sources)
        for language in LANGUAGES:
            text = " ".join((*exercise.steps[language], *exercise.cautions[language]))
            assert reading_level(text, language).grade <= 6, (exercise.key, language)
            assert any(
                "numb" in c or "dolor" in c or "pain" in c for c in exercise.cautions[language]
            )


@pytest.mark.parametrize(
    ("written", "kind", "code", "english", "spanish"),
    [
        ("2x10", "reps", "2x10", "2 sets of 10, once a day", "2 series de 10, 1 vez al día"),
        (
            "3X20s",
            "hold",
            "3x20s",
            "3 holds of 20 seconds, once a day",
            "3 veces de 20 segundos, 1 vez al día",
        ),
        ("15 min", "minutes", "15min", "15 minutes, once a day", "15 minutos, 1 vez al día"),
        ("2x8/2", "reps", "2x8/2", "2 sets of 8, 2 times a day", "2 series de 8, 2 veces al día"),
    ],
)
def test_doses_read_as_a_therapist_writes_them(
    written: str, kind: str, code: str, english: str, spanish: str
) -> None:
    dose = parse_dose(written, kind)
    assert (dose.code(), dose.words("en"), dose.words("es")) == (code, english, spanish)


@pytest.mark.parametrize(
    ("program", "problem"),
    [
        ("bridge:15min", "dosed in sets x repetitions"),
        ("bridge:9x10", "sets must be 1 to 5"),
        ("walk:2x10", "dosed in minutes"),
        ("walk:90min", "minutes must be 1 to 60"),
        ("bridge:2x10/5", "daily must be 1 to 3"),
        ("plank:2x10", "no exercise 'plank'"),
        ("bridge,bridge:2x5", "assigned twice"),
        ("bridge:ten", "is not like 2x10"),
        ("bridge,walk,cat-cow,bird-dog", "at most 3 exercises"),
    ],
)
def test_a_bad_programme_is_refused_saying_why(program: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        parse_program(program, LIBRARY)


def test_an_exercise_without_a_dose_gets_its_usual_one() -> None:
    [bridge, walk] = parse_program("Bridge, walk:20min", LIBRARY)
    assert (bridge.exercise.key, bridge.dose.code()) == ("bridge", "2x10")
    assert (walk.exercise.key, walk.dose.code()) == ("walk", "20min")


@pytest.mark.parametrize(
    ("field", "replacement", "problem"),
    [
        ('kind = "reps"', 'kind = "laps"', "kind 'laps'"),
        ('dose = "2x10"', 'dose = "20min"', "dosed in sets x repetitions"),
        ("es = [\n", "fr = [\n", "languages en, es"),
        ('remedy = "strengthen"', 'remedy = "rest"', "remedy 'rest'"),
        (
            'en = ["Do not arch your back. Stop if it causes sharp pain or numbness."]',
            'en = ["Discontinue immediately should you experience intensifying discomfort, '
            "paresthesia, or radiating symptoms, and consult your physiotherapist regarding "
            'modifications appropriate to your presentation."]',
            "reading grade",
        ),
        ("https://www.nhs.uk", "http://www.nhs.uk", "https address"),
    ],
)
def test_followup_check_refuses_a_library_file_that_breaks_a_rule(
    tmp_path: Path, field: str, replacement: str, problem: str
) -> None:
    library = tmp_path / "exercises"
    shutil.copytree(LIBRARY, library)
    bridge = library / "bridge.toml"
    text = bridge.read_text()
    assert field in text
    bridge.write_text(text.replace(field, replacement, 1))
    problems = check_templates(Settings(exercises_dir=library))[1]
    assert any("'bridge'" in p and problem in p for p in problems), problems


def visit(runtime: Runtime, patient: Patient, ref: str, days: int, program: str | None) -> None:
    with transaction(runtime.sessions) as session:
        record_visit(
            session,
            settings=runtime.settings,
            ref=ref,
            patient=session.get_one(Patient, patient.id),
            office=Office.HOBOKEN,
            clinician="Dr. Rivera",
            visited_at=VISIT + timedelta(days=days),
            exercises=parse_program(program, LIBRARY) if program is not None else None,
        )


def programme(runtime: Runtime) -> list[str]:
    with runtime.sessions() as session:
        episode = session.scalars(select(Visit.episode_id)).first()
        assert episode is not None
        found = current_programs(session, {episode}, LIBRARY).get(episode, [])
        return [f"{a.exercise.key}:{a.dose.code()}" for a in found]


def test_a_later_visit_changes_the_programme_and_the_history_is_kept(runtime: Runtime) -> None:
    patient = add_patient(runtime)
    visit(runtime, patient, "V1", 0, "bridge:2x10,walk:15min")
    assert programme(runtime) == ["bridge:2x10", "walk:15min"]
    visit(runtime, patient, "V2", 7, None)  # no exercises named: the programme stays
    assert programme(runtime) == ["bridge:2x10", "walk:15min"]
    visit(runtime, patient, "V3", 14, "bird-dog:2x8,walk:20min")
    assert programme(runtime) == ["bird-dog:2x8", "walk:20min"]
    visit(runtime, patient, "V3", 14, "bird-dog:3x8,walk:20min")  # the same visit, corrected
    assert programme(runtime) == ["bird-dog:3x8", "walk:20min"]
    with runtime.sessions() as session:
        history = program_history(session, patient.id)
        rows = session.scalars(select(ExerciseAssignment)).all()
    assert [(h.visit_ref, h.program) for h in history] == [
        ("V3", "bird-dog:3x8,walk:20min"),
        ("V1", "bridge:2x10,walk:15min"),
    ]
    assert len(rows) == 4 and {r.assigned_by for r in rows} == {"Dr. Rivera"}


def test_a_visit_with_no_programme_keeps_the_general_reminder(runtime: Runtime) -> None:
    visit(runtime, add_patient(runtime), "V1", 0, None)
    assert programme(runtime) == []


def test_the_visits_csv_takes_an_exercises_column_and_a_bad_one_imports_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    add_patient(runtime, "P1")
    add_patient(runtime, "P2", phone="+12015550112")
    header = "ref,patient_ref,office,clinician,visited_at,exercises\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(
        header + 'V1,P1,Hoboken,Dr. Lee,2026-11-16 10:00,"bridge:2x10,walk:15min"\n'
        'V2,P2,Hoboken,Dr. Lee,2026-11-16 11:00,"bridge:40x10"\n'
    )
    refused = pytest.raises(InvalidInput, match="line 3: dose '40x10': sets must be 1 to 5")
    with refused:
        import_csv(runtime.sessions, bad, settings=runtime.settings)
    good = tmp_path / "good.csv"
    good.write_text(
        header + 'V1,P1,Hoboken,Dr. Lee,2026-11-16 10:00,"bridge:2x10,walk:15min"\n'
        "V2,P2,Hoboken,Dr. Lee,2026-11-16 11:00,\n"
    )
    import_csv(runtime.sessions, good, settings=runtime.settings)
    with runtime.sessions() as session:
        rows = session.execute(
            select(Visit.ref, ExerciseAssignment.exercise, ExerciseAssignment.dose).join(
                Visit, ExerciseAssignment.visit_id == Visit.id
            )
        ).all()
    assert sorted(tuple(r) for r in rows) == [("V1", "bridge", "2x10"), ("V1", "walk", "15min")]


def test_the_visit_command_assigns_exercises(database_url: str) -> None:
    cli = CliRunner(env={"FOLLOWUP_DATABASE_URL": database_url})
    assert cli.invoke(main, ["init-db"]).exit_code == 0
    runtime = Runtime(Settings(database_url=database_url))
    add_patient(runtime)
    base = ["visit", "P1", "--office", "Hoboken", "--clinician", "Dr. Lee", "--at"]
    refused = cli.invoke(main, [*base, "2026-11-16 10:00", "--exercises", "bridge:2x99"])
    assert refused.exit_code != 0 and "reps must be 1 to 30" in refused.output
    done = cli.invoke(main, [*base, "2026-11-16 10:00", "--exercises", "bridge:2x10,walk:15min"])
    assert done.exit_code == 0, done.output
    assert "exercises assigned: bridge:2x10,walk:15min" in done.output
    assert programme(runtime) == ["bridge:2x10", "walk:15min"]
    runtime.close()


def test_followup_check_reads_the_patient_pages_at_grade_six(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    page = templates / "web" / "en" / "done-thanks.html"
    page.write_text(
        page.read_text().replace(
            "Keep it up!",
            "Consistent adherence to prescribed therapeutic exercise regimens substantially "
            "facilitates functional rehabilitation and diminishes recurrence probability.",
        )
    )
    problems = check_templates(Settings(templates_dir=templates))[1]
    assert any(p.startswith("page done-thanks.html (en): reading grade") for p in problems)
