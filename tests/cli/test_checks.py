"""`followup check` catches broken templates before a patient would."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from followup.cli.checks import SAFETY_ANSWER_SEGMENTS, SAFETY_ANSWERS, check_templates
from followup.config import PROJECT_ROOT, Settings
from followup.models.base import Channel


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    copy = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", copy)
    return copy


def problems_with(templates: Path) -> list[str]:
    return check_templates(Settings(templates_dir=templates))[1]


def test_shipped_templates_pass_every_rule() -> None:
    checked, problems = check_templates(Settings())
    assert problems == []
    texts = [item for item in checked if item.channel is Channel.SMS]
    assert all(item.encoding == "GSM-7" for item in texts)
    safety = [i for i in texts if i.step.split("-alerted")[0].split("-nobody")[0] in SAFETY_ANSWERS]
    assert safety and all(item.segments <= SAFETY_ANSWER_SEGMENTS for item in safety)
    assert all(item.segments <= 2 for item in texts if item not in safety)


def test_missing_variable_names_the_template_and_the_variable(templates: Path) -> None:
    sms = templates / "sms/en/keep-moving.txt"
    sms.write_text(sms.read_text() + "{{ patient.diagnosis }}")
    *renders, languages = problems_with(templates)
    # The plan step, and the same template naming a programme (with and without a form)
    # or with the outcome form alone.
    assert [p.split(":")[0] for p in renders] == [
        "keep-moving+exercises (en)",
        "keep-moving+exercises+form (en)",
        "keep-moving+form (en)",
        "plan lower-back, step keep-moving, sms (en)",
    ]
    assert all("sms/en/keep-moving.txt" in p and "'diagnosis'" in p for p in renders)
    assert languages.startswith("sms/*/keep-moving.txt: variables differ between languages")
    assert "measures_url, patient, patient.diagnosis, patient.first_name; es:" in languages


def test_a_missing_spanish_template_fails(templates: Path) -> None:
    (templates / "email/es/warning-signs.html").unlink()
    (templates / "web/es/unsubscribed.html").unlink()
    assert problems_with(templates) == [
        "email/es/warning-signs.html: missing (there is email/en/warning-signs.html)",
        "web/es/unsubscribed.html: missing (there is web/en/unsubscribed.html)",
    ]


def test_a_translation_that_lost_a_variable_fails(templates: Path) -> None:
    rebook = templates / "email/es/rebook.txt"
    rebook.write_text(rebook.read_text().replace("el {{ visit.date }}", "hace poco"))
    [problem] = problems_with(templates)
    assert problem.startswith("email/*/rebook.txt: variables differ between languages")


def test_health_detail_in_a_spanish_subject_or_sms_is_flagged(templates: Path) -> None:
    subject = templates / "email/es/rebook.subject.txt"
    subject.write_text(subject.read_text().replace("¿Es hora de", "Su dolor de espalda:"))
    sms = templates / "sms/es/stay-active.txt"
    sms.write_text(sms.read_text().replace("Siga con", "Cuide su columna y siga con"))
    problems = problems_with(templates)
    assert any("step rebook, email (es)" in p and "mentions 'espalda'" in p for p in problems)
    assert any("step stay-active, sms (es)" in p and "mentions 'columna'" in p for p in problems)


def test_every_message_is_read_for_its_reading_level() -> None:
    checked, _ = check_templates(Settings())
    assert {(item.channel, item.language) for item in checked} == {
        (Channel.SMS, "en"),
        (Channel.SMS, "es"),
        (Channel.EMAIL, "en"),
        (Channel.EMAIL, "es"),
    }
    assert [item.name for item in checked if item.over_goal] == []
    assert all(item.grade > 0 for item in checked)


def test_too_long_sms_is_flagged_with_its_segment_count(templates: Path) -> None:
    sms = templates / "sms/en/rebook.txt"
    sms.write_text(sms.read_text() + " Thanks again." * 12)
    [problem] = problems_with(templates)
    assert "step rebook, sms (en)" in problem and "3 segments (GSM-7)" in problem


def test_diagnosis_in_sms_and_health_detail_in_subject_are_flagged(templates: Path) -> None:
    sms = templates / "sms/en/stay-active.txt"
    sms.write_text(sms.read_text().replace("stay active", "rest your facet joints"))
    subject = templates / "email/en/rebook.subject.txt"
    subject.write_text(subject.read_text().replace("Time for a follow-up visit", "Your back pain"))
    problems = problems_with(templates)
    assert any("stay-active" in p and "SMS mentions 'facet'" in p for p in problems)
    assert any("rebook" in p and "subject mentions 'back'" in p for p in problems)
    assert any("rebook" in p and "subject mentions 'pain'" in p for p in problems)


def test_template_without_its_source_is_flagged(templates: Path) -> None:
    html = templates / "email/en/welcome.html"
    html.write_text(html.read_text().split("\n", 1)[1])
    assert problems_with(templates) == [
        "email/en/welcome.html: no '{# Source: ... #}' comment at its top"
    ]


def test_syntax_error_is_reported_with_its_line(templates: Path) -> None:
    (templates / "email/en/progress.txt").write_text("{# Source: x #}\n{% if %}\n")
    assert any(p.startswith("email/en/progress.txt: line 2:") for p in problems_with(templates))
