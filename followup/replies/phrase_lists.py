"""The phrase lists (`rules/replies.toml`), compiled for the rules reader; and the text
normalization their matching uses. Pure: reads the file once per process."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from followup.config import PROJECT_ROOT

RULES_FILE = PROJECT_ROOT / "rules" / "replies.toml"


@dataclass(frozen=True)
class Rule:
    name: str
    phrases: re.Pattern[str]
    with_: re.Pattern[str] | None
    or_score: int | None
    unless: re.Pattern[str] | None  # phrases that only look alike ("fall asleep")
    advice: str | None


@dataclass(frozen=True)
class PhraseLists:
    """Every language's lists, merged: a reply is read with all of them."""

    stop: frozenset[str]
    start: frozenset[str]
    help: frozenset[str]
    yes: frozenset[str]
    stop_requests: re.Pattern[str]
    negations: tuple[tuple[str, ...], ...]
    # Words after a phrase that say it is all right ("bladder is fine").
    fine: tuple[tuple[str, ...], ...]
    pain_words: frozenset[str]
    score_leads: frozenset[str]
    # "now 3", "ahora 3": the current score; "was 6", "antes 6": an earlier one.
    now_words: frozenset[str]
    past_words: frozenset[str]
    number_words: dict[str, int]
    units: re.Pattern[str]
    # Words before a number that make it a label ("apt 7", "route 3", "lot 2").
    labels: frozenset[str]
    # Expressions that only look like symptoms ("fell asleep", "weak wifi"): read as blank.
    look_alikes: re.Pattern[str]
    emergency: tuple[Rule, ...]
    attention: tuple[Rule, ...]
    # Symptoms a person must look at whenever no rule placed them ("my calf is swollen").
    symptoms: re.Pattern[str]
    # Complaints that a score or a reassurance places ("sore but better"); else staff look.
    complaints: re.Pattern[str]
    reassurance: re.Pattern[str]


def normalize(text: str) -> str:
    """Lower case, no accents, apostrophes dropped ("can't" -> "cant"), spaces folded."""
    plain = text.lower()
    if not plain.isascii():
        decomposed = unicodedata.normalize("NFKD", plain)
        plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = re.sub(r"['’‘`´]", "", plain)
    return re.sub(r"[ \t]+", " ", plain).strip()


def fuse(normalized: str) -> str:
    """Join each `inability` expression into one word ("no puedo" -> "nopuedo"): it says
    what the patient cannot do, so its "no" negates nothing."""
    pattern = _inability(RULES_FILE)
    if pattern is None:
        return normalized
    return pattern.sub(lambda m: "".join(m.group().split()), normalized)


def _phrases(phrases: list[str]) -> re.Pattern[str]:
    parts = []
    for phrase in phrases:
        words = fuse(normalize(phrase)).split()
        body = r"\s+".join(
            re.escape(w.rstrip("*")) + (r"\w*" if w.endswith("*") else "") for w in words
        )
        parts.append(body)
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)")


def _compiled_rule(raw: dict[str, Any]) -> Rule:
    return Rule(
        name=raw["name"],
        phrases=_phrases(raw["phrases"]),
        with_=_phrases(raw["with"]) if "with" in raw else None,
        or_score=raw.get("or_score"),
        unless=_phrases(raw["unless"]) if "unless" in raw else None,
        advice=raw.get("advice"),
    )


@cache
def _inability(path: Path) -> re.Pattern[str] | None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    found = [normalize(p) for lang in data.values() for p in lang.get("inability", [])]
    if not found:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in found) + r")(?!\w)")


@cache
def phrase_lists(path: Path = RULES_FILE) -> PhraseLists:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    languages = list(data.values())

    def words(key: str) -> frozenset[str]:
        return frozenset(normalize(w) for lang in languages for w in lang[key])

    def phrases(key: str) -> re.Pattern[str]:
        return _phrases([p for lang in languages for p in lang[key]])

    return PhraseLists(
        stop=words("stop"),
        start=words("start"),
        help=words("help"),
        yes=words("yes"),
        stop_requests=phrases("stop_requests"),
        negations=tuple(
            dict.fromkeys(
                tuple(normalize(n).split()) for lang in languages for n in lang["negations"]
            )
        ),
        fine=tuple(tuple(normalize(w).split()) for lang in languages for w in lang["fine"]),
        pain_words=words("pain_words"),
        score_leads=words("score_leads"),
        now_words=words("now_words"),
        past_words=words("past_words"),
        number_words={
            normalize(w): n for lang in languages for n, w in enumerate(lang["number_words"])
        },
        units=re.compile(phrases("units").pattern.replace("(?<!\\w)", "^", 1)),
        labels=words("labels"),
        look_alikes=phrases("look_alikes"),
        emergency=tuple(_compiled_rule(r) for lang in languages for r in lang.get("emergency", [])),
        attention=tuple(_compiled_rule(r) for lang in languages for r in lang.get("attention", [])),
        symptoms=phrases("symptoms"),
        complaints=phrases("complaints"),
        reassurance=phrases("reassurance"),
    )
