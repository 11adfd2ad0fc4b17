"""Reading replies on the labelled corpus: the rules as labelled on the sets they were
written against, and the two readers together catching every emergency and keyword."""

from __future__ import annotations

import pytest

from followup.replies.corpus import Labelled, load_corpus
from followup.replies.reading import is_yes, read_by_rules, read_reply

CORPUS = load_corpus()
# The sets the phrase lists were written against, or tuned to after their first run.
RULE_SETS = ("first", "more", "holdout")


def test_the_corpus_is_large_and_covers_every_family_the_issue_names() -> None:
    assert len(CORPUS) >= 1500
    assert {i.triage for i in CORPUS} == {"emergency", "attention", "routine"}
    assert {i.consent for i in CORPUS} == {None, "stop", "start", "help", "unsure"}
    assert {i.language for i in CORPUS} == {"en", "es"}
    assert sum(i.consent is not None for i in CORPUS) >= 150
    assert sum(i.source == "blind" for i in CORPUS) >= 200
    emergencies = {i.family for i in CORPUS if i.triage == "emergency"}
    assert {
        "bladder or bowel",
        "saddle numbness",
        "leg weakness",
        "trauma",
        "infection",
        "self-harm",
        "stroke",
        "overdose",
        "fainting",
        "chest or breathing",
    } <= emergencies
    forms = {i.form for i in CORPUS if i.triage == "emergency"}
    assert {"fused", "repeat", "caps", "emoji", "buried", "mixed"} <= forms
    assert {i.sender for i in CORPUS if i.triage == "emergency"} == {"patient", "unknown"}
    assert sum(i.family == "look-alike" for i in CORPUS) >= 100


@pytest.mark.parametrize(
    "item",
    [i for i in CORPUS if i.source in RULE_SETS],
    ids=lambda item: f"{item.source}-{item.index}",
)
def test_the_rules_read_their_sets_as_labelled(item: Labelled) -> None:
    reading = read_by_rules(item.text)
    triage = reading.triage or "routine"  # a bare keyword has nothing else to read
    assert (reading.keyword, triage, reading.pain) == (item.consent, item.triage, item.pain), (
        reading.reasons
    )


def test_every_emergency_in_the_corpus_is_caught_by_the_two_readers() -> None:
    missed = [i.text for i in CORPUS if i.triage == "emergency"]
    missed = [text for text in missed if read_reply(text).triage != "emergency"]
    assert missed == []


def test_every_consent_intent_in_the_corpus_is_read_by_the_two_readers() -> None:
    wrong = [
        (i.text, i.consent, read_reply(i.text).keyword)
        for i in CORPUS
        if i.consent and read_reply(i.text).keyword != i.consent
    ]
    assert wrong == []


def test_a_keyword_never_hides_a_red_flag() -> None:
    reading = read_reply("STOP texting me, I can't feel my legs")
    assert (reading.keyword, reading.triage) == ("stop", "emergency")
    assert "rules" in reading.readers
    reading = read_reply("No more texts please. also I cant pee and my legs are numb")
    assert (reading.keyword, reading.triage) == ("stop", "emergency")


def test_look_alikes_stay_what_they_are() -> None:
    exercises = read_reply("I had to stop the exercises, pain is 7")
    assert (exercises.keyword, exercises.triage, exercises.pain) == (None, "attention", 7)
    crash = read_reply("ran a stop sign and t-boned my car")
    assert (crash.keyword, crash.triage) == (None, "emergency")


def test_only_the_model_found_it_is_said_in_the_reading() -> None:
    reading = read_reply("cantfeelmylegs")
    assert reading.triage == "emergency" and reading.readers == ("model",)
    assert reading.model_only and reading.model_probability is not None
    assert reading.reasons[-1].startswith("second reader: emergency at")
    both = read_reply("I cant feel anything between my legs and I wet myself")
    assert both.readers == ("rules", "model") and not both.model_only


def test_consent_in_words_repeats_and_misspellings() -> None:
    for text in ("STOP STOP STOP", "Stopp", "ya no quiero mensajes", "unsubscribe por favor"):
        assert read_reply(text).keyword == "stop", text
    assert read_reply("resume texts please").keyword == "start"
    assert read_reply("quiero volver a recibir los mensajes").keyword == "start"
    assert read_reply("what is this number? who is texting me").keyword == "help"
    assert read_reply("how do I make these stop?").keyword == "unsure"


def test_a_reply_is_read_in_every_language_whatever_the_patient_speaks() -> None:
    assert read_reply("no puedo orinar desde ayer").triage == "emergency"
    assert read_reply("I cant pee since yesterday").triage == "emergency"
    assert read_reply("cant pee desde ayer").triage == "emergency"
    assert read_reply("PARAR").keyword == "stop" and read_reply("STOP").keyword == "stop"


def test_self_harm_carries_the_crisis_line_advice() -> None:
    reading = read_reply(
        "honestly i dont see the point anymore. everyone would be better off without me"
    )
    assert reading.triage == "emergency" and "crisis-line" in reading.advice
    assert read_reply("ya no quiero seguir viviendo con este dolor").advice == ("crisis-line",)


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


def test_a_bare_keyword_carries_no_triage_or_score() -> None:
    reading = read_reply("STOP")
    assert (reading.keyword, reading.triage, reading.pain) == ("stop", None, None)


def test_yes_is_recognised_only_alone_in_either_language() -> None:
    assert is_yes("YES") and is_yes(" yes! ") and is_yes("si") and is_yes("Sí")
    assert not is_yes("yes it hurts more")


@pytest.mark.parametrize(
    "text",
    ["cant stop coughing", "no mas dolor", "the pain wont stop", "no more pain today!"],
)
def test_a_stop_the_model_reads_in_words_about_the_body_is_no_opt_out(text: str) -> None:
    assert read_reply(text).keyword in (None, "unsure")


@pytest.mark.parametrize(
    "text",
    ["please stop", "BASTA. no puedo orinar", "not interested, stop", "dont contact me anymore"],
)
def test_a_stop_that_addresses_our_texts_is_an_opt_out(text: str) -> None:
    assert read_reply(text).keyword == "stop"
