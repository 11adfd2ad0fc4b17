"""Reading level of a message: a US school grade, pure.

English: the Flesch–Kincaid grade, 0.39 × words per sentence + 11.8 × syllables per
word − 15.59. Spanish: Flesch–Kincaid does not transfer (Spanish words have more
syllables at the same difficulty), so the Fernández-Huerta reading ease, Flesch's
ease recalibrated for Spanish (206.84 − 0.60 × syllables per 100 words − 1.02 × words
per sentence: the sentence term as in the Flesch formula it recalibrates; it is often
misquoted as sentences per 100 words, which would reward long sentences), is read as
a grade with Flesch's own table of ease to school grade (90–100: 5th grade, 80–90: 6th, 70–80: 7th, 60–70: 8th–9th, 50–60:
10th–12th, 30–50: college), interpolated between its bands.

Syllables are counted by rule, not looked up: vowel groups less a silent final "e" in
English; vowel nuclei in Spanish, where two strong vowels (a, e, o, or an accented i
or u) are two syllables and any other pair one. Links and numbers are not words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
LINK = re.compile(r"https?://\S+")
SENTENCE_END = re.compile(r"[.!?]+")
# Flesch's table, (reading ease, grade) from easiest to hardest.
EASE_TO_GRADE: tuple[tuple[float, float], ...] = (
    (100.0, 4.0),
    (90.0, 5.0),
    (80.0, 6.0),
    (70.0, 7.0),
    (60.0, 8.0),
    (50.0, 10.0),
    (30.0, 13.0),
    (0.0, 16.0),
)
SPANISH_VOWELS = "aeiouáéíóúü"
SPANISH_STRONG = "aeoáéíóú"


@dataclass(frozen=True)
class Reading:
    words: int
    sentences: int
    syllables: int
    grade: float


def reading_level(text: str, language: str) -> Reading:
    """The grade a reader needs for `text` in `language` ("en" or "es")."""
    words = WORD.findall(LINK.sub(" ", text))
    if not words:
        return Reading(0, 0, 0, 0.0)
    sentences = max(1, len(SENTENCE_END.findall(LINK.sub(" ", text))))
    count = spanish_syllables if language == "es" else english_syllables
    syllables = sum(count(word) for word in words)
    if language == "es":
        ease = 206.84 - 60.0 * syllables / len(words) - 1.02 * len(words) / sentences
        grade = ease_to_grade(ease)
    else:
        grade = 0.39 * len(words) / sentences + 11.8 * syllables / len(words) - 15.59
    return Reading(len(words), sentences, syllables, round(max(grade, 0.0), 1))


def ease_to_grade(ease: float) -> float:
    """A reading ease (Flesch's scale) as a school grade, by Flesch's table."""
    if ease >= EASE_TO_GRADE[0][0]:
        return EASE_TO_GRADE[0][1]
    for (high, easier), (low, harder) in zip(EASE_TO_GRADE, EASE_TO_GRADE[1:], strict=False):
        if ease >= low:
            return harder + (easier - harder) * (ease - low) / (high - low)
    return EASE_TO_GRADE[-1][1]


def english_syllables(word: str) -> int:
    w = re.sub(r"[^a-z]", "", word.lower())
    if len(w) <= 3:
        return 1
    # A silent final e ("time", "takes", "called"), but not "-le" ("simple") or "-ee".
    w = re.sub(r"(?:[^laeiouy]es|[^laeiouy]ed|[^laeiouy]e)$", "", w)
    w = re.sub(r"^y", "", w)
    return max(1, len(re.findall(r"[aeiouy]+", w)))


def spanish_syllables(word: str) -> int:
    w = word.lower()
    # The u of que, qui, gue, gui is not pronounced.
    w = re.sub(r"(?<=[qg])u(?=[eéií])", "", w)
    if not any(c in SPANISH_VOWELS for c in w):
        return 1  # "y"
    count = 0
    previous = ""
    for c in w:
        if c in SPANISH_VOWELS:
            # A new nucleus, unless this vowel joins the last in a diphthong.
            if not previous or (previous in SPANISH_STRONG and c in SPANISH_STRONG):
                count += 1
            previous = c
        else:
            previous = ""
    return count
