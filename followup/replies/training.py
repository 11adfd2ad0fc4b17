"""Training the second reader on the labelled corpus, and measuring it honestly.

`train` fits two heads on the same features (`followup.replies.second_reader.features`, tf-idf
weighted): triage (emergency, attention, routine) and consent intent (none, stop, start,
help, unsure), both multinomial logistic regressions (scikit-learn). The emergency
threshold is chosen on out-of-fold probabilities, for recall: the one at which the rules
and the model together cost least, a missed emergency counting `MISSED_EMERGENCY_COST`
false alarms. scikit-learn is needed here only, never to read a reply.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from followup.replies.corpus import Labelled
from followup.replies.second_reader import FEATURES_VERSION, MODEL_FORMAT, SecondReader, features

CONSENT_CLASSES = ("none", "stop", "start", "help", "unsure")
TRIAGE_CLASSES = ("emergency", "attention", "routine")
# What a missed emergency costs, in false alarms (each a phone call to a patient who is
# fine). Recall comes first, but not at any price: staff alerted for one routine reply
# in four stop reading alerts. The model card prints the whole curve.
MISSED_EMERGENCY_COST = 25
# Consent from the model alone: a clear intent at 0.5, but a start (texts resume for a
# patient who revoked consent) only at 0.9; a stop or unsure reading of 0.3 or more
# together asks the patient (one clarifying text) and puts the reply in the inbox.
CONSENT_THRESHOLDS = {"stop": 0.5, "start": 0.9, "help": 0.5, "unsure": 0.3}
REGULARIZATION = 10.0  # logistic regression's C; chosen by cross-validation (README)
MIN_DOCUMENTS = 2  # a feature seen in one reply only is left out
FOLDS = 5
SEED = 19
DIGITS = 9  # significant digits kept in the model file


@dataclass(frozen=True)
class Fitted:
    """A trained pair of heads with their vectorizer (scikit-learn objects)."""

    vectorizer: Any
    triage: Any
    consent: Any

    def probabilities(self, texts: Sequence[str]) -> list[dict[str, dict[str, float]]]:
        matrix = self.vectorizer.transform(list(texts))
        heads = {"triage": self.triage, "consent": self.consent}
        found: list[dict[str, dict[str, float]]] = [{} for _ in texts]
        for name, head in heads.items():
            if head is None:
                continue
            for row, probabilities in zip(found, head.predict_proba(matrix), strict=True):
                row[name] = dict(zip(head.classes_, map(float, probabilities), strict=True))
        return found


def fit(items: Sequence[Labelled], *, consent: bool = True) -> Fitted:
    """Fit the vectorizer and both heads (only triage when `consent` is False)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer=features, sublinear_tf=True, min_df=MIN_DOCUMENTS)
    matrix = vectorizer.fit_transform([i.text for i in items])

    def head(labels: list[str]) -> Any:
        model = LogisticRegression(
            C=REGULARIZATION, solver="newton-cg", max_iter=1000, class_weight="balanced"
        )
        return model.fit(matrix, labels)

    return Fitted(
        vectorizer,
        head([i.triage for i in items]),
        head([i.consent or "none" for i in items]) if consent else None,
    )


def out_of_fold(items: Sequence[Labelled]) -> list[dict[str, dict[str, float]]]:
    """Each reply's probabilities from a model trained on the other folds."""
    from sklearn.model_selection import StratifiedKFold

    found: list[dict[str, dict[str, float]]] = [{} for _ in items]
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    strata = [f"{i.triage}/{i.consent}" if i.consent else i.triage for i in items]
    for train_rows, test_rows in folds.split(strata, _grouped(strata)):
        fitted = fit([items[k] for k in train_rows])
        for k, probabilities in zip(
            test_rows, fitted.probabilities([items[k].text for k in test_rows]), strict=True
        ):
            found[k] = probabilities
    return found


def leave_one_family_out(
    items: Sequence[Labelled], families: Sequence[str]
) -> dict[str, list[float]]:
    """For each family, the emergency probability of its replies from a model that never
    saw one of them: the honest estimate for a family nobody has written down yet."""
    found = {}
    for family in families:
        fitted = fit([i for i in items if i.family != family], consent=False)
        held = [i.text for i in items if i.family == family]
        found[family] = [p["triage"]["emergency"] for p in fitted.probabilities(held)]
    return found


def choose_threshold(
    items: Sequence[Labelled], emergency: Sequence[float], rules_emergency: Sequence[bool]
) -> float:
    """The threshold (in steps of 0.01) at which rules or model, out of fold, miss the
    fewest emergencies per false alarm: least `MISSED_EMERGENCY_COST` x misses + false
    alarms on routine replies; the lower threshold on a tie."""

    def cost(threshold: float) -> int:
        read = [
            rules or p >= threshold for rules, p in zip(rules_emergency, emergency, strict=True)
        ]
        missed = sum(not r for r, i in zip(read, items, strict=True) if i.triage == "emergency")
        alarms = sum(r for r, i in zip(read, items, strict=True) if i.triage == "routine")
        return MISSED_EMERGENCY_COST * missed + alarms

    return min((step / 100 for step in range(1, 100)), key=cost)


def model_data(
    fitted: Fitted, *, threshold: float, corpus: str, size: int, measures: dict[str, Any]
) -> dict[str, Any]:
    """The model as plain data: what `followup.replies.second_reader.SecondReader` reads."""
    vocabulary = fitted.vectorizer.vocabulary_
    idf = fitted.vectorizer.idf_
    heads = {"triage": fitted.triage, "consent": fitted.consent}
    weights = {}
    for feature, column in sorted(vocabulary.items()):
        row = [_rounded(idf[column])]
        for model in heads.values():
            row += [_rounded(w) for w in model.coef_[:, column]]
        weights[feature] = row
    return {
        "format": MODEL_FORMAT,
        "features_version": FEATURES_VERSION,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus_sha256": corpus,
        "corpus_size": size,
        "sublinear_tf": True,
        "emergency_threshold": threshold,
        "consent_thresholds": CONSENT_THRESHOLDS,
        "heads": {
            name: {
                "classes": [str(c) for c in model.classes_],
                "intercepts": [_rounded(b) for b in model.intercept_],
                # Where its coefficients start in each feature's weights (after the idf).
                "first_column": 1 + sum(len(m.intercept_) for m in list(heads.values())[:n]),
            }
            for n, (name, model) in enumerate(heads.items())
        },
        "measures": measures,
        "weights": weights,
    }


def write_model(data: dict[str, Any], path: Path) -> None:
    """Write the model file; the same data always gives the same bytes (mtime 0)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    with path.open("wb") as file, gzip.GzipFile(fileobj=file, mode="wb", mtime=0) as packed:
        packed.write(raw.encode("utf-8"))


def reader_of(data: dict[str, Any]) -> SecondReader:
    """The run-time reader of freshly trained model data (as if loaded from its file)."""
    return SecondReader(json.loads(json.dumps(data)))


def _rounded(value: float) -> float:
    return float(f"{value:.{DIGITS}g}")


def _grouped(strata: list[str]) -> list[str]:
    """Strata with fewer members than folds merge into their triage (StratifiedKFold
    needs each stratum in every fold)."""
    counts: dict[str, int] = {}
    for s in strata:
        counts[s] = counts.get(s, 0) + 1
    return [s if counts[s] >= FOLDS else s.split("/")[0] for s in strata]
