"""`read_reply` on a labelled corpus: every emergency caught, numbers read right."""

from __future__ import annotations

import pytest

from followup.replies import is_yes, read_reply
from tests.replies_corpus import CORPUS, E


def test_the_corpus_is_large_and_covers_every_outcome() -> None:
    assert len(CORPUS) >= 150
    expected = {item[2] for item in CORPUS}
    assert expected == {"emergency", "attention", "routine", "stop", "start", "help"}
    assert {item[1] for item in CORPUS} == {"en", "es"}


@pytest.mark.parametrize(("text", "language", "expected", "pain"), CORPUS)
def test_corpus_reply_is_read_as_labelled(
    text: str, language: str, expected: str, pain: int | None
) -> None:
    reading = read_reply(text, language=language)
    outcome = reading.keyword or reading.triage
    assert (outcome, reading.pain) == (expected, pain), reading.reasons


def test_every_emergency_is_caught_without_knowing_the_language() -> None:
    missed = [
        text for text, _, expected, _ in CORPUS if expected == E and read_reply(text).triage != E
    ]
    assert missed == []


def test_an_emergency_names_its_reasons() -> None:
    reading = read_reply("fever and chills and my back aches")
    assert reading.reasons == ("back pain with fever",)
    assert read_reply("7").reasons == ("pain score 7",)


def test_keywords_carry_no_triage_or_score() -> None:
    reading = read_reply("STOP")
    assert (reading.keyword, reading.triage, reading.pain) == ("stop", None, None)


def test_yes_is_recognised_only_alone() -> None:
    assert is_yes("YES") and is_yes(" yes! ") and is_yes("si", language="es")
    assert not is_yes("yes it hurts more")
