"""The labelled corpus of patient replies (`corpus/*.tsv`), for the second reader and
the triage report. Pure: reads files, no database."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from followup.config import PROJECT_ROOT

CORPUS_DIR = PROJECT_ROOT / "corpus"
# In the order they were written: the blind set was measured once before any change.
SOURCES = ("first", "more", "holdout", "blind", "grown", "everyday")
COLUMNS = ("text", "language", "triage", "consent", "pain", "family", "form", "sender")


@dataclass(frozen=True)
class Labelled:
    source: str
    index: int
    text: str
    language: str
    triage: str  # "emergency", "attention" or "routine"
    consent: str | None  # "stop", "start", "help", "unsure" or None
    pain: int | None
    family: str
    form: str
    sender: str  # "patient" or "unknown"


def load_corpus(directory: Path = CORPUS_DIR) -> list[Labelled]:
    """Every labelled reply, source by source; a malformed row is a clear error."""
    items: list[Labelled] = []
    for source in SOURCES:
        path = directory / f"{source}.tsv"
        with path.open(encoding="utf-8", newline="") as file:
            rows = csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
            if tuple(rows.fieldnames or ()) != COLUMNS:
                raise ValueError(f"{path}: the header must be {' '.join(COLUMNS)}")
            for index, row in enumerate(rows):
                items.append(_labelled(path, source, index, row))
    return items


def corpus_hash(directory: Path = CORPUS_DIR) -> str:
    """SHA-256 over the corpus files, in order: what a model was trained on."""
    digest = hashlib.sha256()
    for source in SOURCES:
        digest.update(source.encode())
        digest.update((directory / f"{source}.tsv").read_bytes())
    return digest.hexdigest()


def _labelled(path: Path, source: str, index: int, row: dict[str, str]) -> Labelled:
    if row["triage"] not in ("emergency", "attention", "routine"):
        raise ValueError(f"{path} row {index + 2}: triage {row['triage']!r}")
    if row["consent"] not in ("", "stop", "start", "help", "unsure"):
        raise ValueError(f"{path} row {index + 2}: consent {row['consent']!r}")
    return Labelled(
        source=source,
        index=index,
        text=row["text"],
        language=row["language"],
        triage=row["triage"],
        consent=row["consent"] or None,
        pain=int(row["pain"]) if row["pain"] else None,
        family=row["family"],
        form=row["form"],
        sender=row["sender"],
    )
