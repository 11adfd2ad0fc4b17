"""Reading a patient's reply: keyword, pain score (0-10) and triage. Pure, no I/O.

The phrase lists live in `rules/replies.toml`, for a clinician to read. A reply is
cut into clauses at punctuation and at "but"; a phrase preceded in its clause by a
negation ("no numbness", "not worse") does not count.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

from followup.config import PROJECT_ROOT

RULES_FILE = PROJECT_ROOT / "rules" / "replies.toml"
NEGATION_WINDOW = 3  # words before a phrase that a negation reaches
EMERGENCY, ATTENTION, ROUTINE = "emergency", "attention", "routine"
CLAUSE_BREAK = re.compile(r"[,;:!?\n]|\.(?!\d)|\b(?:but|pero|although|aunque)\b")
SCALE = re.compile(r"\b[01]\s*(?:-|to|a)\s*10\b")  # "on a 1-10 scale" is not a score
TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z]+")
ARTICLES = (["a"], ["an"], ["un"], ["una"])


@dataclass(frozen=True)
class Reading:
    keyword: str | None  # "stop", "start", "help" or None
    pain: int | None
    triage: str | None  # "emergency", "attention", "routine"; None for a keyword
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class _Rule:
    name: str
    phrases: re.Pattern[str]
    with_: re.Pattern[str] | None
    or_score: int | None
    unless: re.Pattern[str] | None  # phrases that only look alike ("fall asleep")


@dataclass(frozen=True)
class _Language:
    stop: frozenset[str]
    start: frozenset[str]
    help: frozenset[str]
    yes: frozenset[str]
    stop_requests: re.Pattern[str]
    negations: tuple[tuple[str, ...], ...]
    pain_words: frozenset[str]
    number_words: dict[str, int]
    units: re.Pattern[str]
    emergency: tuple[_Rule, ...]
    attention: tuple[_Rule, ...]


def read_reply(text: str, *, language: str | None = None) -> Reading:
    """Read any reply text; `language` ("en", "es") narrows the rules, None uses all."""
    rules = _rules(RULES_FILE)
    languages = [rules[language]] if language in rules else list(rules.values())
    normalized = normalize(text)
    whole = " ".join(TOKEN.findall(normalized))
    for lang in languages:
        for keyword, words in (("stop", lang.stop), ("start", lang.start), ("help", lang.help)):
            if whole in words:
                return Reading(keyword, None, None, (whole,))
    clauses = [c.strip() for c in CLAUSE_BREAK.split(normalized) if c and c.strip()]
    for lang in languages:
        if lang.stop_requests.search(normalized) and any(
            _found(lang.stop_requests, clause, lang) for clause in clauses
        ):
            return Reading("stop", None, None, ("asked to stop messages",))
    pain = pain_score(normalized, languages)
    for level, pick in ((EMERGENCY, "emergency"), (ATTENTION, "attention")):
        # A rule whose phrases appear nowhere in the reply cannot fire in a clause of it.
        fired = [
            rule.name
            for lang in languages
            for rule in getattr(lang, pick)
            if rule.phrases.search(normalized) and _fires(rule, clauses, lang, pain)
        ]
        if level == ATTENTION and pain is not None and pain >= 7:
            fired.append(f"pain score {pain}")
        if fired:
            return Reading(None, pain, level, tuple(dict.fromkeys(fired)))
    return Reading(None, pain, ROUTINE, ())


def is_yes(text: str, *, language: str | None = None) -> bool:
    """A bare "yes": after an opt-out it restores SMS consent."""
    rules = _rules(RULES_FILE)
    languages = [rules[language]] if language in rules else list(rules.values())
    whole = " ".join(TOKEN.findall(normalize(text)))
    return any(whole in lang.yes for lang in languages)


def normalize(text: str) -> str:
    """Lower case, no accents, apostrophes dropped ("can't" -> "cant"), spaces folded."""
    plain = text.lower()
    if not plain.isascii():
        decomposed = unicodedata.normalize("NFKD", plain)
        plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = re.sub(r"['’‘`´]", "", plain)
    return re.sub(r"[ \t]+", " ", plain).strip()


def pain_score(normalized: str, languages: list[_Language]) -> int | None:
    """The 0-10 score a reply gives, if any; out-of-range numbers give None."""
    text = SCALE.sub(" ", normalized)
    words = {w: n for lang in languages for w, n in lang.number_words.items()}
    number = r"\d+(?:\.\d+)?|" + "|".join(sorted(words, key=len, reverse=True))
    explicit = re.search(rf"\b({number})\s*(?:/|out of|of|de|sobre)\s*10\b", text)
    if explicit:
        return _score(explicit.group(1), words)
    tokens = [(m.group(), m.start()) for m in TOKEN.finditer(text)]
    pain_words = frozenset().union(*(lang.pain_words for lang in languages))
    in_context: list[str] = []
    bare: list[str] = []
    for i, (token, start) in enumerate(tokens):
        is_digit = token[0].isdigit()
        if not is_digit and token not in words:
            continue
        after = text[start + len(token) :]
        if text[start - 1 : start] in {"/", ":"} or re.match(r"[:/]\d", after):
            continue  # part of a time or a date
        if any(lang.units.match(after.lstrip()) for lang in languages):
            continue  # "10 reps", "2 days", "5pm"
        before = [t for t, _ in tokens[max(0, i - 3) : i]]
        # "a 2 or 3": the second number of a range shares the first one's context.
        ranged = before[-1:] in (["or"], ["to"], ["o"]) and bool(in_context)
        if ranged or any(word in pain_words for word in before) or before[-1:] in ARTICLES:
            in_context.append(token)
        elif is_digit or len(tokens) <= 2:
            bare.append(token)
    chosen = in_context or bare
    if not chosen:
        return None
    return max((s for s in (_score(t, words) for t in chosen) if s is not None), default=None)


def _score(token: str, words: dict[str, int]) -> int | None:
    value = Decimal(words[token]) if token in words else Decimal(token)
    if value >= Decimal("10.5"):
        return None  # rounds to 11 or more: out of range
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _fires(rule: _Rule, clauses: list[str], lang: _Language, pain: int | None) -> bool:
    if rule.unless is not None:
        clauses = [rule.unless.sub(" ", clause) for clause in clauses]
    if not any(_found(rule.phrases, clause, lang) for clause in clauses):
        return False
    if rule.with_ is None:
        return True
    if rule.or_score is not None and pain is not None and pain >= rule.or_score:
        return True
    return any(_found(rule.with_, clause, lang) for clause in clauses)


def _found(pattern: re.Pattern[str], clause: str, lang: _Language) -> bool:
    """True if `pattern` matches somewhere in `clause` without a negation before it."""
    for match in pattern.finditer(clause):
        before = TOKEN.findall(clause[: match.start()])[-NEGATION_WINDOW:]
        if not any(
            _ends_with(before[: k + 1], neg) for neg in lang.negations for k in range(len(before))
        ):
            return True
    return False


def _ends_with(words: list[str], phrase: tuple[str, ...]) -> bool:
    return tuple(words[-len(phrase) :]) == phrase


def _phrases(phrases: list[str]) -> re.Pattern[str]:
    parts = []
    for phrase in phrases:
        words = normalize(phrase).split()
        body = r"\s+".join(
            re.escape(w.rstrip("*")) + (r"\w*" if w.endswith("*") else "") for w in words
        )
        parts.append(body)
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)")


def _rule(raw: dict[str, Any]) -> _Rule:
    return _Rule(
        name=raw["name"],
        phrases=_phrases(raw["phrases"]),
        with_=_phrases(raw["with"]) if "with" in raw else None,
        or_score=raw.get("or_score"),
        unless=_phrases(raw["unless"]) if "unless" in raw else None,
    )


@cache
def _rules(path: Path) -> dict[str, _Language]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {
        code: _Language(
            stop=frozenset(normalize(w) for w in raw["stop"]),
            start=frozenset(normalize(w) for w in raw["start"]),
            help=frozenset(normalize(w) for w in raw["help"]),
            yes=frozenset(normalize(w) for w in raw["yes"]),
            stop_requests=_phrases(raw["stop_requests"]),
            negations=tuple(tuple(normalize(n).split()) for n in raw["negations"]),
            pain_words=frozenset(normalize(w) for w in raw["pain_words"]),
            number_words={normalize(w): n for n, w in enumerate(raw["number_words"])},
            units=re.compile(_phrases(raw["units"]).pattern.replace("(?<!\\w)", "^", 1)),
            emergency=tuple(_rule(r) for r in raw["emergency"]),
            attention=tuple(_rule(r) for r in raw["attention"]),
        )
        for code, raw in data.items()
    }
