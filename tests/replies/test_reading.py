"""`read_reply` on the labelled corpora: every emergency caught, numbers read right."""

from __future__ import annotations

import pytest

from followup.replies.reading import is_yes, read_reply
from tests.replies.triage_report import LABELLED, Labelled


def test_the_corpus_is_large_and_covers_every_outcome_and_family() -> None:
    assert len(LABELLED) >= 600
    assert {item.expected for item in LABELLED} == {
        "emergency",
        "attention",
        "routine",
        "stop",
        "start",
        "help",
    }
    assert {item.language for item in LABELLED} == {"en", "es"}
    emergencies = {item.family for item in LABELLED if item.expected == "emergency"}
    assert {"bladder or bowel", "saddle numbness", "leg weakness", "trauma", "infection"} <= (
        emergencies
    )


@pytest.mark.parametrize("item", LABELLED, ids=lambda item: f"{item.source}-{item.index}")
def test_corpus_reply_is_read_as_labelled(item: Labelled) -> None:
    reading = read_reply(item.text)
    outcome = reading.keyword or reading.triage
    assert (outcome, reading.pain) == (item.expected, item.pain), reading.reasons


def test_every_emergency_is_caught() -> None:
    missed = [
        i.text
        for i in LABELLED
        if i.expected == "emergency" and read_reply(i.text).triage != "emergency"
    ]
    assert missed == []


def test_a_reply_is_read_in_every_language_whatever_the_patient_speaks() -> None:
    # No language is passed: Spanish, English and a mix read the same way.
    assert read_reply("no puedo orinar desde ayer").triage == "emergency"
    assert read_reply("I cant pee since yesterday").triage == "emergency"
    assert read_reply("cant pee desde ayer").triage == "emergency"
    assert read_reply("PARAR").keyword == "stop" and read_reply("STOP").keyword == "stop"


def test_popping_and_pain_anywhere_in_the_reply_need_attention() -> None:
    reading = read_reply("My back pops a lot. Later in the day it hurts.")
    assert reading.triage == "attention" and "pain with popping" in reading.reasons
    assert read_reply("It pops when I twist but no pain at all").triage == "routine"


def test_constant_popping_carries_the_articles_advice() -> None:
    reading = read_reply("my back pops all day long now, doesnt hurt")
    assert reading.triage == "attention"
    assert reading.advice == ("constant-popping",)


def test_a_body_symptom_no_rule_places_goes_to_staff() -> None:
    reading = read_reply("my ankle is swollen")
    assert reading.triage == "attention"
    assert reading.reasons == ("mentions 'swollen': for staff to review",)
    assert read_reply("back is a little sore after the stretches").triage == "routine"
    assert read_reply("it hurts").triage == "attention"


def test_an_emergency_names_its_reasons() -> None:
    reading = read_reply("fever and chills and my back aches")
    assert reading.reasons == ("back pain with fever or signs of infection",)
    assert read_reply("7").reasons == ("pain score 7",)


def test_keywords_carry_no_triage_or_score() -> None:
    reading = read_reply("STOP")
    assert (reading.keyword, reading.triage, reading.pain) == ("stop", None, None)


def test_yes_is_recognised_only_alone_in_either_language() -> None:
    assert is_yes("YES") and is_yes(" yes! ") and is_yes("si") and is_yes("Sí")
    assert not is_yes("yes it hurts more")
