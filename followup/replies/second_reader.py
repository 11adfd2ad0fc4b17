"""The second reader: a linear text classifier trained on the labelled corpus, reading
every reply beside the phrase lists. Pure Python at run time, no I/O after loading.

The model file (`models/reply_reader.json.gz`) is plain data: the feature vocabulary,
its inverse document frequencies and each head's weights, written by
`followup triage train` (`followup.replies.training`). Loading it runs no code from the
file (no pickle). Features are computed here, and the trainer uses this very function,
so the two cannot drift apart; `FEATURES_VERSION` changes whenever it changes.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from followup.config import PROJECT_ROOT

MODEL_FILE = PROJECT_ROOT / "models" / "reply_reader.json.gz"
MODEL_FORMAT = "followup reply reader"
FEATURES_VERSION = 1
TOKEN = re.compile(r"[a-z0-9]+|[.,;:!?]|[^\sa-z0-9'\"()\-]")
# A letter typed three times or more counts twice ("leeeegs" -> "leegs").
REPEATS = re.compile(r"(.)\1{2,}")
NEGATIONS = frozenset(
    [
        "no",
        "not",
        "never",
        "without",
        "dont",
        "didnt",
        "doesnt",
        "havent",
        "hasnt",
        "isnt",
        "wasnt",
        "arent",
        "nothing",
        "none",
        "zero",
        "nor",
        "any",
        "sin",
        "nunca",
        "ni",
        "nada",
        "ningun",
        "ninguna",
        "tampoco",
    ]
)
# Where a negation's reach ends.
BREAKS = frozenset([".", ",", ";", ":", "!", "?", "but", "pero", "and", "y"])
NEGATION_REACH = 3  # words
WORD_GRAMS, FUSED_GRAMS = (3, 4, 5), (4, 5)


def features(text: str) -> list[str]:
    """The model's features of a reply: words and word pairs (a word within three words
    after a negation is marked "~"), character 3-5-grams of the words, and character
    4-5-grams of the text with its spaces removed ("cantfeelmylegs" shares them with
    "cant feel my legs"). Case, accents, apostrophes and letter repeats do not count."""
    tokens = TOKEN.findall(REPEATS.sub(r"\1\1", _plain(text)))
    words: list[str] = []
    reach = 0
    for token in tokens:
        if token in BREAKS:
            reach = 0
        if token in ".,;:!?":
            continue
        if reach and token not in NEGATIONS:
            words.append("~" + token)
            reach -= 1
        else:
            words.append(token)
        if token in NEGATIONS:
            reach = NEGATION_REACH
    found = [f"w:{w}" for w in words] + [f"b:{a} {b}" for a, b in pairwise(words)]
    spaced = f" {' '.join(words)} "
    fused = "".join(w.lstrip("~") for w in words)
    for n in WORD_GRAMS:
        found += [f"c:{spaced[i : i + n]}" for i in range(len(spaced) - n + 1)]
    for n in FUSED_GRAMS:
        found += [f"f:{fused[i : i + n]}" for i in range(len(fused) - n + 1)]
    return found


def _plain(text: str) -> str:
    """Lower case, no accents, no apostrophes: the model's own normalization, so that
    changing the phrase lists' never changes the features a model was trained on."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"['’‘`´]", "", plain)


@dataclass(frozen=True)
class ModelReading:
    """What the model thinks of one reply."""

    emergency: float  # probability that the reply is an emergency
    flags_emergency: bool  # emergency >= the model's threshold
    consent: dict[str, float]  # probability of each consent intent ("none" for none)


@dataclass(frozen=True)
class _Head:
    classes: tuple[str, ...]
    intercepts: tuple[float, ...]
    first_column: int  # where its weights start in a feature's row


class SecondReader:
    """A loaded model: `read` gives its probabilities for a reply."""

    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("format") != MODEL_FORMAT:
            raise ValueError("not a followup reply reader model file")
        if data["features_version"] != FEATURES_VERSION:
            raise ValueError(
                f"the model was trained on features v{data['features_version']}, this code "
                f"computes v{FEATURES_VERSION}: retrain it (followup triage train)"
            )
        self.meta: dict[str, Any] = {k: v for k, v in data.items() if k not in ("weights",)}
        self.sublinear_tf: bool = data["sublinear_tf"]
        self.emergency_threshold: float = data["emergency_threshold"]
        self.consent_thresholds: dict[str, float] = data["consent_thresholds"]
        self.heads = {
            name: _Head(tuple(head["classes"]), tuple(head["intercepts"]), head["first_column"])
            for name, head in data["heads"].items()
        }
        # feature -> (idf, weights of the triage classes..., weights of the consent classes...)
        self.weights: dict[str, tuple[float, ...]] = {
            feature: tuple(row) for feature, row in data["weights"].items()
        }

    def probabilities(self, text: str) -> dict[str, dict[str, float]]:
        """Each head's class probabilities for `text`, as the trainer's model gives them."""
        weights = self.weights
        counts = Counter(f for f in features(text) if f in weights)
        rows = [
            (weights[f], (1 + math.log(n) if self.sublinear_tf else n) * weights[f][0])
            for f, n in counts.items()
        ]
        norm = math.sqrt(sum(value * value for _, value in rows)) or 1.0
        result: dict[str, dict[str, float]] = {}
        for name, head in self.heads.items():
            scores = []
            for column, intercept in enumerate(head.intercepts, start=head.first_column):
                scores.append(intercept + sum(row[column] * value for row, value in rows) / norm)
            result[name] = dict(zip(head.classes, _softmax(scores), strict=True))
        return result

    def read(self, text: str) -> ModelReading:
        found = self.probabilities(text)
        emergency = found["triage"]["emergency"]
        return ModelReading(emergency, emergency >= self.emergency_threshold, found["consent"])


def _softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def load_model(path: Path) -> SecondReader:
    """Read a model file: gzip-compressed JSON, plain data only."""
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return SecondReader(json.load(file))


@cache
def second_reader(path: Path = MODEL_FILE) -> SecondReader:
    """The repository's model, loaded once per process."""
    return load_model(path)
