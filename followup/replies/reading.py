"""Reading a patient's reply: keyword, pain score (0-10) and triage. Pure, no I/O.

The phrase lists live in `rules/replies.toml`, for a clinician to read. Every reply
is read with every language's rules, whatever the patient's recorded language:
patients switch languages and mix them. A reply is cut into clauses at punctuation
and at "but"; a phrase preceded in its clause by a negation ("no numbness", "not
worse") does not count. A reply that mentions a body symptom no rule places goes to
staff (`attention`): a false alarm costs a call, a miss can cost a spine.

Every reply is read twice: by these rules and by the second reader, a classifier
trained on the labelled corpus (`followup.replies.second_reader`). It is an emergency if either
says so. A consent keyword never stops the reading: "STOP, I can't feel my legs" is an
opt-out and an emergency. Consent intent in words comes from the rules' phrases and,
where they find none, from the model: a clear intent, or `unsure` (it asks how to stop).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from difflib import SequenceMatcher

from followup.replies.phrase_lists import PhraseLists, Rule, fuse, normalize, phrase_lists
from followup.replies.second_reader import ModelReading, second_reader

NEGATION_WINDOW = 3  # words before a phrase that a negation reaches
EMERGENCY, ATTENTION, ROUTINE = "emergency", "attention", "routine"
CLAUSE_BREAK = re.compile(r"[,;:!?\n()]|\.(?!\d)|\b(?:but|pero|although|aunque|though|tho)\b")
SCALE = re.compile(r"\b[01]\s*(?:-|to|a)\s*10\b")  # "on a 1-10 scale" is not a score
# Numbers that are never scores: sets ("3x15"), and three digits or more (phone numbers,
# temperatures, years).
NOT_SCORES = re.compile(r"\b\d+\s*x\s*\d+\b|\b\d{3,}(?:\.\d+)?\b|#\d+")
# A number with no context is a score only in a short reply, or alone in its clause.
BARE_REPLY_WORDS, BARE_CLAUSE_WORDS = 8, 3
TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z]+")
DOUBLED = re.compile(r"([a-z])\1+")
RULES, MODEL = "rules", "model"
MODEL_CONSENT_LETTERS = 4  # fewer letters than this: no consent intent from the model
# A stop the model reads alone must be about our messages, or open or close with a stop
# word ("please stop", "BASTA. no puedo orinar", "stahp"): "cant stop coughing" and "no mas
# dolor" (no more pain) are not opt-outs, and an opt-out silences care. A routine reply
# the model reads as a stop without either is asked about instead.
ABOUT_MESSAGES = re.compile(
    r"\b(?:te?xt\w*|txt\w*|msgs?|messag\w*|sms|reminder\w*|notification\w*|list|number|"
    r"phone|contact\w*|unsub\w*|subscri\w*|opt\w*|consent\w*|remove|spam|"
    r"mensaj\w*|escrib\w*|recordatorio\w*|lista|numero|telefono|baja|suscri\w*|"
    r"notificacion\w*|manden|envien|mandar\w*|enviar\w*|receiv\w*|send\w*|recib\w*)\b"
)
STOP_WORDS = ("stop", "basta", "alto", "unsubscribe", "cancel", "quit", "block", "end")
ARTICLES = (["a"], ["an"], ["un"], ["una"])


@dataclass(frozen=True)
class Reading:
    # Consent intent: "stop", "start", "help", "unsure" (asks how to stop) or None.
    keyword: str | None
    pain: int | None
    # "emergency", "attention", "routine"; None for a bare keyword (nothing else said).
    triage: str | None
    reasons: tuple[str, ...]
    # Advice the answer to the patient carries (a rule's `advice`, e.g. "constant-popping").
    advice: tuple[str, ...] = ()
    # Which readers found an emergency: ("rules",), ("model",), both, or ().
    readers: tuple[str, ...] = ()
    # The second reader's probability that the reply is an emergency.
    model_probability: float | None = None

    @property
    def model_only(self) -> bool:
        """An emergency only the model found: the answer says what is in doubt."""
        return self.readers == (MODEL,)


def read_reply(text: str) -> Reading:
    """Read any reply text, in any language, with both readers."""
    rules = read_by_rules(text)
    if rules.triage is None:  # a bare keyword: nothing else to read
        return rules
    reader = second_reader()
    return combine(text, rules, reader.read(text), reader.consent_thresholds)


def combine(
    text: str, rules: Reading, model: ModelReading, consent_thresholds: dict[str, float]
) -> Reading:
    """The two readings as one: emergency if either says so; the rules' consent
    keyword, else the model's clear intent; `unsure` only for an otherwise routine reply."""
    readers = tuple(
        name
        for name, says in ((RULES, rules.triage == EMERGENCY), (MODEL, model.flags_emergency))
        if says
    )
    triage, reasons = rules.triage, rules.reasons
    if readers == (MODEL,):
        triage = EMERGENCY
        reasons = (*reasons, f"second reader: emergency at {model.emergency:.2f}")
    keyword = rules.keyword or _consent_intent(text, model, triage, consent_thresholds)
    return replace(
        rules,
        keyword=keyword,
        triage=triage,
        reasons=reasons,
        readers=readers,
        model_probability=round(model.emergency, 4),
    )


def _addresses_our_texts(text: str) -> bool:
    """The reply names our messages, or opens or closes with a stop word (typos too)."""
    plain = normalize(text)
    if ABOUT_MESSAGES.search(plain):
        return True
    words = re.findall(r"[a-z]+", plain)
    ends = {words[0], words[-1]} if words else set()
    return any(
        SequenceMatcher(None, word, stop).ratio() >= 0.66 for word in ends for stop in STOP_WORDS
    )


def _consent_intent(
    text: str, model: ModelReading, triage: str | None, thresholds: dict[str, float]
) -> str | None:
    """The model's consent intent, if it is clear enough; none from a reply too short
    to read ("RT", "ya": the rules read the keywords themselves)."""
    if sum(c.isalpha() for c in text) < MODEL_CONSENT_LETTERS:
        return None
    for intent in ("stop", "start", "help"):
        if model.consent.get(intent, 0.0) >= thresholds[intent]:
            if intent == "stop" and not _addresses_our_texts(text):
                break  # not clearly about our texts: ask, as for any doubt
            return intent
    doubt = model.consent.get("stop", 0.0) + model.consent.get("unsure", 0.0)
    if triage == ROUTINE and doubt >= thresholds["unsure"]:
        return "unsure"
    return None


def read_by_rules(text: str) -> Reading:
    """Read any reply text with the phrase lists alone, in every language they know."""
    rules = phrase_lists()
    normalized = normalize(text)
    words = TOKEN.findall(normalized)
    whole = " ".join(words)
    for name, listed in (("stop", rules.stop), ("start", rules.start), ("help", rules.help)):
        if _is_keyword(whole, words, listed):
            return Reading(name, None, None, (whole,))
    normalized = rules.look_alikes.sub(" ~ ", fuse(normalized))
    clauses = [c.strip() for c in CLAUSE_BREAK.split(normalized) if c and c.strip()]
    keyword: str | None = None
    if rules.stop_requests.search(normalized) and any(
        _found(rules.stop_requests, clause, rules) for clause in clauses
    ):
        keyword = "stop"
        # What the request says is no symptom ("no more texts"); the rest is read.
        clauses = [rules.stop_requests.sub(" ~ ", clause) for clause in clauses]
        normalized = rules.stop_requests.sub(" ~ ", normalized)
    reading = _triage(normalized, clauses, rules)
    if keyword:
        return replace(
            reading, keyword=keyword, reasons=("asked to stop messages", *reading.reasons)
        )
    return reading


def _is_keyword(whole: str, words: list[str], listed: frozenset[str]) -> bool:
    """The whole reply is the keyword, maybe repeated ("STOP STOP") or with a letter
    doubled ("Stopp", "helpp")."""
    if whole in listed:
        return True
    squeezed = {DOUBLED.sub(r"\1", w) for w in words}
    return len(squeezed) == 1 and any(DOUBLED.sub(r"\1", k) in squeezed for k in listed)


def _triage(normalized: str, clauses: list[str], rules: PhraseLists) -> Reading:
    pain = pain_score(normalized, rules)
    for level, level_rules in ((EMERGENCY, rules.emergency), (ATTENTION, rules.attention)):
        # A rule whose phrases appear nowhere in the reply cannot fire in a clause of it.
        fired = [
            rule
            for rule in level_rules
            if rule.phrases.search(normalized) and _fires(rule, clauses, rules, pain)
        ]
        reasons = [rule.name for rule in fired]
        if level == ATTENTION and pain is not None and pain >= 7:
            reasons.append(f"pain score {pain}")
        if reasons:
            advice = tuple(dict.fromkeys(rule.advice for rule in fired if rule.advice))
            return Reading(None, pain, level, tuple(dict.fromkeys(reasons)), advice)
    unplaced = _unplaced(clauses, rules, pain)
    if unplaced is not None:
        return Reading(None, pain, ATTENTION, (f"mentions {unplaced!r}: for staff to review",))
    return Reading(None, pain, ROUTINE, ())


def is_yes(text: str) -> bool:
    """A bare "yes" (any language): after an opt-out it restores SMS consent."""
    whole = " ".join(TOKEN.findall(normalize(text)))
    return whole in phrase_lists().yes


def pain_score(normalized: str, rules: PhraseLists) -> int | None:
    """The 0-10 score a reply gives now, if any; out-of-range numbers give None.

    "was 6 now 3" and "from 6 to 3" give 3; a range ("6-7", "2 or 3") its top."""
    text = NOT_SCORES.sub(" ", SCALE.sub(" ", normalized))
    words = rules.number_words
    number = r"\d+(?:\.\d+)?|" + "|".join(sorted(words, key=len, reverse=True))
    explicit = [
        m.group(1)
        for m in re.finditer(rf"\b({number})\s*(?:/|out of|of|de|sobre)\s*(?:10|ten|diez)\b", text)
    ]
    if explicit:
        return _score(explicit[-1], words)
    tokens = [(m.group(), m.start()) for m in TOKEN.finditer(text)]
    current: list[str] = []
    in_context: list[str] = []
    bare: list[str] = []
    labelled = False
    for i, (token, start) in enumerate(tokens):
        is_digit = token[0].isdigit()
        if not is_digit and token not in words:
            continue
        after = text[start + len(token) :]
        if text[start - 1 : start] in {"/", ":"} or re.match(r"[:/]\d", after):
            continue  # part of a time or a date
        if rules.units.match(after.lstrip()):
            continue  # "10 reps", "2 days", "5pm"
        before = [t for t, _ in tokens[max(0, i - 3) : i]]
        if (before[-1:] and before[-1] in rules.labels) or (
            labelled and before[-1:] in (["or"], ["to"], ["o"])
        ):
            labelled = True
            continue  # "apt 7", "suite 5 or 6"
        labelled = False
        said_before = TOKEN.findall(text[_clause_start(text, start) : start])
        if (
            said_before[-1:]
            and said_before[-1] in rules.past_words
            or said_before[-2:-1] == ["from"]
        ):
            continue  # "was 6 now 3": the earlier score
        if (
            (
                any(word in rules.now_words for word in before[-2:])
                or " ".join(before[-2:]) in rules.now_words
            )
            or before[-1:] == ["to"]
            and any(t == "from" for t, _ in tokens[max(0, i - 4) : i])
        ):
            current.append(token)
            continue
        # "a 2 or 3": the second number of a range shares the first one's context.
        ranged = bool(in_context) and (
            before[-1:] in (["or"], ["to"], ["o"]) or text[start - 1 : start] == "-"
        )
        next_word = TOKEN.match(after.lstrip())
        if (
            ranged
            or any(word in rules.pain_words for word in before)
            or " ".join(before[-2:]) in rules.score_leads
            or before[-1:] in ARTICLES
            or (before[-1:] and before[-1] in rules.score_leads)
            or (next_word is not None and next_word.group() in rules.pain_words)
        ):
            in_context.append(token)
        elif is_digit and _alone_enough(text, start, len(tokens)) or len(tokens) <= 2:
            bare.append(token)
    chosen = current[-1:] or in_context or bare
    if not chosen:
        return None
    return max((s for s in (_score(t, words) for t in chosen) if s is not None), default=None)


def _clause_start(text: str, position: int) -> int:
    return max((m.end() for m in CLAUSE_BREAK.finditer(text, 0, position)), default=0)


def _alone_enough(text: str, start: int, reply_words: int) -> bool:
    """A bare number reads as a score in a short reply or a clause of its own ("..., 4 or 5")."""
    if reply_words <= BARE_REPLY_WORDS:
        return True
    opens = _clause_start(text, start)
    closes = CLAUSE_BREAK.search(text, start)
    clause = text[opens : closes.start() if closes else len(text)]
    return len(TOKEN.findall(clause)) <= BARE_CLAUSE_WORDS


def _score(token: str, words: dict[str, int]) -> int | None:
    value = Decimal(words[token]) if token in words else Decimal(token)
    if value >= Decimal("10.5"):
        return None  # rounds to 11 or more: out of range
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _fires(rule: Rule, clauses: list[str], rules: PhraseLists, pain: int | None) -> bool:
    if rule.unless is not None:
        clauses = [rule.unless.sub(" ~ ", clause) for clause in clauses]
    if not any(_found(rule.phrases, clause, rules) for clause in clauses):
        return False
    if rule.with_ is None:
        return True
    if rule.or_score is not None and pain is not None and pain >= rule.or_score:
        return True

    # The rule's own phrase is no negation of its companion: in "no siento las nalgas"
    # the "no" belongs to "no siento".
    def unnegated(match: re.Match[str]) -> str:
        return " ".join("~" if (w,) in rules.negations else w for w in match.group().split())

    masked = [rule.phrases.sub(unnegated, clause) for clause in clauses]
    return any(_found(rule.with_, clause, rules) for clause in masked)


def _unplaced(clauses: list[str], rules: PhraseLists, pain: int | None) -> str | None:
    """A symptom the reply mentions that nothing placed, or None."""
    for clause in clauses:
        found = _first(rules.symptoms, clause, rules)
        if found:
            return found
    if pain is not None or any(_found(rules.reassurance, c, rules) for c in clauses):
        return None
    for clause in clauses:
        found = _first(rules.complaints, clause, rules)
        if found:
            return found
    return None


def _found(pattern: re.Pattern[str], clause: str, rules: PhraseLists) -> bool:
    """True if `pattern` matches somewhere in `clause` without a negation before it."""
    return _first(pattern, clause, rules) is not None


def _first(pattern: re.Pattern[str], clause: str, rules: PhraseLists) -> str | None:
    """The first match of `pattern` in `clause` with no negation before it, or None."""
    for match in pattern.finditer(clause):
        before = TOKEN.findall(clause[: match.start()])[-NEGATION_WINDOW:]
        after = TOKEN.findall(clause[match.end() :])[: NEGATION_WINDOW + 1]
        negated = any(
            _ends_with(before[: k + 1], neg) for neg in rules.negations for k in range(len(before))
        ) or any(
            tuple(after[k : k + len(ok)]) == ok for ok in rules.fine for k in range(len(after))
        )
        if not negated:
            return match.group()
    return None


def _ends_with(words: list[str], phrase: tuple[str, ...]) -> bool:
    return tuple(words[-len(phrase) :]) == phrase
