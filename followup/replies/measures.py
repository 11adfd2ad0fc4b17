"""How well the two readers read the labelled corpus, measured on replies each model did
not train on: out-of-fold (cross-validation), leave-one-family-out, and the blind set
(a model trained without it). The model card and the triage report print these."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from followup.replies.corpus import Labelled
from followup.replies.reading import EMERGENCY, Reading, combine, read_by_rules
from followup.replies.second_reader import ModelReading
from followup.replies.training import (
    CONSENT_THRESHOLDS,
    choose_threshold,
    fit,
    leave_one_family_out,
    out_of_fold,
)

Probabilities = dict[str, dict[str, float]]
BLIND = "blind"


@dataclass(frozen=True)
class Outcome:
    """One reply as read by the rules, by a model that did not train on it, and both."""

    item: Labelled
    rules: Reading
    model: float  # the model's emergency probability
    both: Reading


def emergency_families(items: Sequence[Labelled]) -> list[str]:
    return sorted({i.family for i in items if i.triage == EMERGENCY})


def outcomes(
    items: Sequence[Labelled], probabilities: Sequence[Probabilities], threshold: float
) -> list[Outcome]:
    found = []
    for item, p in zip(items, probabilities, strict=True):
        rules = read_by_rules(item.text)
        model = ModelReading(
            p["triage"]["emergency"], p["triage"]["emergency"] >= threshold, p["consent"]
        )
        both = (
            rules if rules.triage is None else combine(item.text, rules, model, CONSENT_THRESHOLDS)
        )
        found.append(Outcome(item, rules, model.emergency, both))
    return found


def measure(items: Sequence[Labelled]) -> dict[str, Any]:
    """Every figure of the model card, as plain data (it goes into the model file)."""
    rules_emergency = [read_by_rules(i.text).triage == EMERGENCY for i in items]
    folds = out_of_fold(items)
    emergency = [p["triage"]["emergency"] for p in folds]
    threshold = choose_threshold(items, emergency, rules_emergency)
    read = outcomes(items, folds, threshold)
    families = emergency_families(items)
    held_out = leave_one_family_out(items, families)
    blind = [i for i in items if i.source == BLIND]
    trained_without_blind = fit([i for i in items if i.source != BLIND])
    blind_read = outcomes(
        blind, trained_without_blind.probabilities([i.text for i in blind]), threshold
    )
    urgent = [k for k, i in enumerate(items) if i.triage == EMERGENCY]
    routine = [k for k, i in enumerate(items) if i.triage == "routine"]
    curve = [
        {
            "threshold": t / 100,
            "caught": sum(rules_emergency[k] or emergency[k] >= t / 100 for k in urgent),
            "routine_alarms": sum(rules_emergency[k] or emergency[k] >= t / 100 for k in routine),
        }
        for t in range(10, 95, 5)
    ]
    return {
        "threshold": threshold,
        "curve": curve,
        "cross_validated": summary(read, threshold),
        "leave_one_family_out": {
            family: _family_out(
                [o for o in read if o.item.family == family], held_out[family], threshold
            )
            for family in families
        },
        "blind_set_unseen": summary(blind_read, threshold),
    }


def summary(read: Sequence[Outcome], threshold: float) -> dict[str, Any]:
    """Recall by family, by language and by form; false alarms; consent; confusion."""

    def recall(group: Sequence[Outcome]) -> dict[str, int]:
        urgent = [o for o in group if o.item.triage == EMERGENCY]
        return {
            "emergencies": len(urgent),
            "rules": sum(o.rules.triage == EMERGENCY for o in urgent),
            "model": sum(o.model >= threshold for o in urgent),
            "both": sum(o.both.triage == EMERGENCY for o in urgent),
        }

    def grouped(key: str) -> dict[str, dict[str, int]]:
        names = sorted({getattr(o.item, key) for o in read if o.item.triage == EMERGENCY})
        return {n: recall([o for o in read if getattr(o.item, key) == n]) for n in names}

    routine = [o for o in read if o.item.triage == "routine"]
    consent = [o for o in read if o.item.consent is not None or o.both.keyword is not None]
    return {
        "replies": len(read),
        "emergency_recall": recall(read),
        "by_family": grouped("family"),
        "by_language": grouped("language"),
        "by_form": grouped("form"),
        "false_alarms_on_routine": {
            "routine": len(routine),
            "rules": sum(o.rules.triage == EMERGENCY for o in routine),
            "model": sum(o.model >= threshold for o in routine),
            "both": sum(o.both.triage == EMERGENCY for o in routine),
            "both_any_alert": sum(o.both.triage in (EMERGENCY, "attention") for o in routine),
        },
        "consent": {
            "labelled": sum(o.item.consent is not None for o in read),
            "rules_right": sum(
                o.rules.keyword == o.item.consent for o in consent if o.item.consent
            ),
            "both_right": sum(o.both.keyword == o.item.consent for o in consent if o.item.consent),
            "read_where_none": sum(o.item.consent is None for o in consent),
            "confusion": _pairs(Counter((o.item.consent, o.both.keyword) for o in consent)),
        },
        "triage_confusion": _pairs(
            Counter((o.item.triage, o.both.triage or "routine") for o in read)
        ),
    }


def _family_out(
    seen: Sequence[Outcome], unseen: Sequence[float], threshold: float
) -> dict[str, int]:
    """A family's recall by a model that never saw it, alone and with the rules."""
    urgent = [(o, p) for o, p in zip(seen, unseen, strict=True) if o.item.triage == EMERGENCY]
    return {
        "emergencies": len(urgent),
        "model": sum(p >= threshold for _, p in urgent),
        "both": sum(o.rules.triage == EMERGENCY or p >= threshold for o, p in urgent),
    }


def _pairs(counts: Counter[tuple[Any, Any]]) -> list[list[Any]]:
    return [[str(a), str(b), n] for (a, b), n in sorted(counts.items(), key=str)]
