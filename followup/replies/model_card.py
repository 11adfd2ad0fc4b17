"""Training the second reader end to end (`followup triage train`): measure, fit on the
whole corpus, write the model file and its model card beside it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from followup.replies.corpus import CORPUS_DIR, SOURCES, corpus_hash, load_corpus
from followup.replies.measures import measure
from followup.replies.second_reader import FEATURES_VERSION, MODEL_FILE
from followup.replies.training import (
    CONSENT_THRESHOLDS,
    FOLDS,
    MIN_DOCUMENTS,
    MISSED_EMERGENCY_COST,
    REGULARIZATION,
    fit,
    model_data,
    reader_of,
    write_model,
)

CARD_FILE = MODEL_FILE.parent / "MODEL_CARD.md"


@dataclass(frozen=True)
class Trained:
    model: Path
    card: Path
    seconds: float
    model_bytes: int
    microseconds_per_reply: float
    measures: dict[str, Any]


def train(
    *, corpus: Path = CORPUS_DIR, model: Path = MODEL_FILE, card: Path = CARD_FILE
) -> Trained:
    """Measure the readers, fit on every labelled reply, write the model and its card."""
    started = time.perf_counter()
    items = load_corpus(corpus)
    measures = measure(items)
    fitted = fit(items)
    data = model_data(
        fitted,
        threshold=measures["threshold"],
        corpus=corpus_hash(corpus),
        size=len(items),
        measures=measures,
    )
    reader = reader_of(data)
    texts = [i.text for i in items]
    timing = time.perf_counter()
    for text in texts:
        reader.read(text)
    per_reply = (time.perf_counter() - timing) / len(texts) * 1e6
    write_model(data, model)
    seconds = time.perf_counter() - started
    card.write_text(card_text(data, per_reply, model.stat().st_size), encoding="utf-8")
    return Trained(model, card, seconds, model.stat().st_size, per_reply, measures)


def card_text(data: dict[str, Any], per_reply: float, size: int) -> str:
    """The model card (Mitchell et al. 2019): data, date, use, measures by subgroup, limits."""
    m = data["measures"]
    cv, blind = m["cross_validated"], m["blind_set_unseen"]
    lines = [
        "# Model card: the second reader of patient replies",
        "",
        "Written by `followup triage train`; do not edit by hand (retrain instead).",
        "",
        "## The model",
        f"- File: `models/{MODEL_FILE.name}` ({size / 1e6:.1f} MB), gzip-compressed JSON: the",
        "  feature vocabulary, its idf weights and each head's coefficients. Plain data: loading",
        "  it runs no code from the file (no pickle); reading a reply needs no scikit-learn.",
        f"- Trained: {data['trained_at']}, on {data['corpus_size']} labelled replies",
        f"  (`corpus/`: {', '.join(f'{s}.tsv' for s in SOURCES)}), SHA-256",
        f"  `{data['corpus_sha256']}`.",
        f"- Features (v{FEATURES_VERSION}, `followup.replies.second_reader.features`): words and word",
        "  pairs (a word within three after a negation marked), character 3-5-grams of the",
        "  words, character 4-5-grams of the text with spaces removed (for run-together words);",
        "  case, accents, apostrophes and letters typed three times or more do not count;",
        f"  tf-idf with sublinear tf, features seen in fewer than {MIN_DOCUMENTS} replies dropped.",
        "- Heads: triage (emergency, attention, routine) and consent intent (none, stop, start,",
        f"  help, unsure), multinomial logistic regressions, C={REGULARIZATION}, classes balanced.",
        f"- Emergency threshold: **{data['emergency_threshold']}**. Chosen for recall: the",
        "  threshold at which the rules and the model together cost least out of fold",
        f"  ({FOLDS}-fold cross-validation), a missed emergency counting as much as",
        f"  {MISSED_EMERGENCY_COST} false alarms (each a call to a patient who is fine). Lower",
        "  ones catch few more and alarm on many more routine replies (the table below).",
        f"- Consent thresholds: {CONSENT_THRESHOLDS}: a stop or help at 0.5, a start (texts",
        "  resume) only at 0.9; stop and unsure together at 0.3 ask the patient and put the",
        "  reply in the inbox (routine replies only); none from a reply of under 4 letters.",
        f"- Time per reply: {per_reply:.0f} µs (pure Python, measured while training).",
        "",
        "## Intended use",
        "A second reader beside the phrase lists (`rules/replies.toml`): a reply is an",
        "emergency if either says so. Never the only safety net, never a diagnosis.",
        "",
        f"## Measures out of fold ({FOLDS}-fold cross-validation, {cv['replies']} replies)",
        "",
        *_recall_table(cv),
        "",
        "What each threshold would have given, out of fold (rules or model):",
        "",
        "| threshold | emergencies caught | routine replies read as emergencies |",
        "| ---: | ---: | ---: |",
        *[
            f"| {c['threshold']:.2f} | {c['caught']} of {cv['emergency_recall']['emergencies']} "
            f"| {c['routine_alarms']} of {cv['false_alarms_on_routine']['routine']} |"
            for c in m["curve"]
        ],
        "",
        "## Leave-one-family-out (trained without the family, tested on it)",
        "",
        "| family | emergencies | model | rules or model |",
        "| --- | ---: | ---: | ---: |",
        *[
            f"| {family} | {r['emergencies']} | {r['model']} | {r['both']} |"
            for family, r in m["leave_one_family_out"].items()
        ],
        "",
        "## The blind set, by a model trained without it",
        "",
        "246 replies written before any change for issue 19; the rules on it then caught 68",
        "of 126 emergencies. The rules have since learnt from its misses, so only the",
        "model's column here is unseen data.",
        "",
        *_recall_table(blind),
        "",
        "## Known limits",
        "- The corpus is written by staff imagining patients, not real replies; real texts",
        "  will find families and phrasings it lacks: leave-one-family-out is the honest",
        "  estimate for those, and it is much lower than cross-validation for the model alone.",
        "- Two languages only (English, Spanish); other languages read as routine unless the",
        "  rules or the model find an English or Spanish red flag in them.",
        "- The model does not read pain scores or negation beyond three words; the rules do.",
        "- It is retrained by hand when the corpus changes (a test fails until it is).",
        "",
    ]
    return "\n".join(lines)


def _recall_table(s: dict[str, Any]) -> list[str]:
    r, fa, consent = s["emergency_recall"], s["false_alarms_on_routine"], s["consent"]
    rows = [
        "| emergencies by | n | rules | model | rules or model |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| all | {r['emergencies']} | {r['rules']} | {r['model']} | {r['both']} |",
    ]
    for key in ("by_family", "by_language", "by_form"):
        for name, g in s[key].items():
            rows.append(
                f"| {key[3:]}: {name} | {g['emergencies']} | {g['rules']} | {g['model']} | {g['both']} |"
            )
    rows += [
        "",
        f"Routine replies read as emergencies: rules {fa['rules']}, model {fa['model']},",
        f"rules or model {fa['both']} of {fa['routine']} (any alert: {fa['both_any_alert']}).",
        f"Consent intents read as labelled: rules {consent['rules_right']}, rules and model",
        f"{consent['both_right']} of {consent['labelled']}; an intent read where none is",
        f"labelled: {consent['read_where_none']}.",
    ]
    return rows
