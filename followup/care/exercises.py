"""The exercise library: one TOML file per exercise under `plans/exercises/`, and doses.

A file gives the exercise's name (and a short one for text messages), its steps and
cautions in every patient language, its kind of dose and usual dose, the article
remedy it serves, and the public guidance it follows (title and address). A dose is
written the way a therapist writes it:

    2x10      2 sets of 10 (kind "reps")
    3x20s     3 holds of 20 seconds (kind "hold")
    15min     15 minutes (kind "minutes")
    2x10/2    the same, twice a day (any kind; once a day when left out)
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from followup.exceptions import InvalidInput, NotFound

LANGUAGES = ("en", "es")
KINDS = ("reps", "hold", "minutes")
REMEDIES = ("daily-tasks", "stay-active", "strengthen")
# What a home programme may ask, by kind: a dose outside is a typing mistake.
BOUNDS = {"sets": (1, 5), "reps": (1, 30), "seconds": (5, 120), "minutes": (1, 60), "daily": (1, 3)}
DOSE = re.compile(
    r"^(?:(?P<sets>\d+)x(?P<count>\d+)(?P<seconds>s)?|(?P<minutes>\d+)\s*min)(?:/(?P<daily>\d+))?$"
)
KEY = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class Dose:
    kind: str
    sets: int = 0
    count: int = 0  # repetitions, seconds held, or minutes
    daily: int = 1

    def code(self) -> str:
        """The dose as a therapist writes it ("2x10", "3x20s", "15min/2")."""
        base = {
            "reps": f"{self.sets}x{self.count}",
            "hold": f"{self.sets}x{self.count}s",
            "minutes": f"{self.count}min",
        }[self.kind]
        return base if self.daily == 1 else f"{base}/{self.daily}"

    def words(self, language: str) -> str:
        """'2 sets of 10, once a day' / '2 series de 10, 1 vez al día'."""
        es = language == "es"
        if self.kind == "reps":
            base = (
                f"{self.sets} series de {self.count}" if es else f"{self.sets} sets of {self.count}"
            )
        elif self.kind == "hold":
            base = (
                f"{self.sets} veces de {self.count} segundos"
                if es
                else f"{self.sets} holds of {self.count} seconds"
            )
        else:
            base = f"{self.count} minutos" if es else f"{self.count} minutes"
        if es:
            often = "1 vez al día" if self.daily == 1 else f"{self.daily} veces al día"
        else:
            often = "once a day" if self.daily == 1 else f"{self.daily} times a day"
        return f"{base}, {often}"

    def short(self, language: str) -> str:
        """The dose in a text message: '2x10', '15 min', '3x20 s', with '2/day'."""
        base = {
            "reps": f"{self.sets}x{self.count}",
            "hold": f"{self.sets}x{self.count}s",
            "minutes": f"{self.count} min",
        }[self.kind]
        if self.daily == 1:
            return base
        return f"{base} {self.daily}/{'dia' if language == 'es' else 'day'}"


@dataclass(frozen=True)
class Source:
    title: str
    url: str


@dataclass(frozen=True)
class Exercise:
    key: str
    name: dict[str, str]
    short: dict[str, str]
    kind: str
    dose: Dose
    remedy: str
    steps: dict[str, tuple[str, ...]]
    cautions: dict[str, tuple[str, ...]]
    sources: tuple[Source, ...]


def parse_dose(text: str, kind: str) -> Dose:
    """A dose for an exercise of `kind`; `InvalidInput` saying what is wrong."""
    match = DOSE.match(text.strip().lower().replace(" ", ""))
    if match is None:
        raise InvalidInput(
            f"dose {text!r} is not like 2x10, 3x20s or 15min (with /2 for twice a day)"
        )
    daily = int(match["daily"] or 1)
    if match["minutes"] is not None:
        dose = Dose("minutes", count=int(match["minutes"]), daily=daily)
    else:
        held = match["seconds"] is not None
        dose = Dose("hold" if held else "reps", int(match["sets"]), int(match["count"]), daily)
    if dose.kind != kind:
        wanted = {"reps": "sets x repetitions", "hold": "sets x seconds", "minutes": "minutes"}
        raise InvalidInput(f"dose {text!r}: this exercise is dosed in {wanted[kind]}")
    for part, value in _parts(dose).items():
        low, high = BOUNDS[part]
        if not low <= value <= high:
            raise InvalidInput(f"dose {text!r}: {part} must be {low} to {high}")
    return dose


def _parts(dose: Dose) -> dict[str, int]:
    if dose.kind == "minutes":
        return {"minutes": dose.count, "daily": dose.daily}
    return {
        "sets": dose.sets,
        "seconds" if dose.kind == "hold" else "reps": dose.count,
        "daily": dose.daily,
    }


def parse_exercise(key: str, text: str) -> Exercise:
    """Read one library file; `InvalidInput` naming the exercise and the field."""
    if not KEY.match(key):
        raise InvalidInput(f"exercise {key!r}: a file name must be lower case words and dashes")
    try:
        data = tomllib.loads(text)
        kind = str(data["kind"])
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        remedy = str(data["remedy"])
        if remedy not in REMEDIES:
            raise ValueError(f"remedy {remedy!r} is not one of {', '.join(REMEDIES)}")
        sources = tuple(Source(str(s["title"]), str(s["url"])) for s in data["sources"])
        if not sources or any(not s.url.startswith("https://") for s in sources):
            raise ValueError("it needs at least one source, each with an https address")
        exercise = Exercise(
            key=key,
            name=_texts(data, "name"),
            short=_texts(data, "short"),
            kind=kind,
            dose=parse_dose(str(data["dose"]), kind),
            remedy=remedy,
            steps=_lists(data, "steps"),
            cautions=_lists(data, "cautions"),
            sources=sources,
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, InvalidInput) as exc:
        raise InvalidInput(f"exercise {key!r}: {exc}") from None
    return exercise


def _texts(data: dict[str, object], field: str) -> dict[str, str]:
    raw = data[field]
    if not isinstance(raw, dict) or set(raw) != set(LANGUAGES):
        raise ValueError(f"{field} needs exactly the languages {', '.join(LANGUAGES)}")
    texts = {language: str(raw[language]).strip() for language in LANGUAGES}
    if not all(texts.values()):
        raise ValueError(f"{field} must not be empty")
    return texts


def _lists(data: dict[str, object], field: str) -> dict[str, tuple[str, ...]]:
    raw = data[field]
    if not isinstance(raw, dict) or set(raw) != set(LANGUAGES):
        raise ValueError(f"{field} needs exactly the languages {', '.join(LANGUAGES)}")
    lists = {}
    for language in LANGUAGES:
        items = raw[language]
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            raise ValueError(f"{field}.{language} must be a list of sentences")
        lists[language] = tuple(item.strip() for item in items)
    if len({len(items) for items in lists.values()}) != 1 and field == "steps":
        raise ValueError("steps must have as many sentences in every language")
    return lists


@cache
def _load(directory: Path, stamp: tuple[tuple[str, float], ...]) -> dict[str, Exercise]:
    return {
        path.stem: parse_exercise(path.stem, path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.toml"))
    }


def load_library(directory: Path) -> dict[str, Exercise]:
    """Every exercise in `directory` by key (read again when a file changes)."""
    stamp = tuple((p.name, p.stat().st_mtime) for p in sorted(directory.glob("*.toml")))
    return _load(directory, stamp)


def get_exercise(library: dict[str, Exercise], key: str) -> Exercise:
    found = library.get(key.strip().lower())
    if found is None:
        raise NotFound(f"no exercise {key!r} in the library (known: {', '.join(sorted(library))})")
    return found
