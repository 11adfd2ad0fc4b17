"""`followup check` catches broken templates before a patient would."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from followup.checks import check_templates
from followup.config import PROJECT_ROOT, Settings


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
    assert all(item.segments <= 2 and item.encoding == "GSM-7" for item in checked if item.encoding)


def test_missing_variable_names_the_template_and_the_variable(templates: Path) -> None:
    sms = templates / "sms/en/keep-moving.txt"
    sms.write_text(sms.read_text() + "{{ patient.diagnosis }}")
    [problem] = problems_with(templates)
    assert "sms/en/keep-moving.txt" in problem
    assert "'diagnosis'" in problem


def test_too_long_sms_is_flagged_with_its_segment_count(templates: Path) -> None:
    sms = templates / "sms/en/rebook.txt"
    sms.write_text(sms.read_text() + " Thanks again." * 12)
    [problem] = problems_with(templates)
    assert "step rebook" in problem and "3 segments (GSM-7)" in problem


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
