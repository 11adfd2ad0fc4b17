"""How triage reads the labelled corpora: recall per family and per language, the
false-alarm rate on routine replies, and the confusion matrix.

    .venv/bin/python -m tests.replies.triage_report

The corpora: `replies_corpus.py` (the first 180), `replies_corpus_more.py` (written
from the standard low-back red-flag lists and patients' texting) and
`replies_holdout.py` (written apart from the rules, measured before any rule was
tuned to it; its first-run figures are in the README).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from followup.replies.reading import read_reply
from tests.replies.corpus import CORPUS
from tests.replies.corpus_more import MORE
from tests.replies.holdout import HOLDOUT

OUTCOMES = ("emergency", "attention", "routine", "stop", "start", "help")


@dataclass(frozen=True)
class Labelled:
    source: str
    index: int
    text: str
    language: str
    expected: str
    pain: int | None
    family: str


LABELLED = (
    [
        Labelled("first", n, text, language, expected, pain, f"first corpus: {expected}")
        for n, (text, language, expected, pain) in enumerate(CORPUS)
    ]
    + [Labelled("more", n, *item) for n, item in enumerate(MORE)]
    + [Labelled("holdout", n, *item) for n, item in enumerate(HOLDOUT)]
)


def report() -> str:
    """The report as text."""
    outcomes = {item: _outcome(item.text) for item in LABELLED}
    lines = [f"{len(LABELLED)} labelled replies", "", "recall per family (read as labelled):"]
    for family in sorted({i.family for i in LABELLED}):
        items = [i for i in LABELLED if i.family == family]
        hits = sum(outcomes[i] == i.expected for i in items)
        lines.append(f"  {family:<32} {hits:>4}/{len(items):<4} {hits / len(items):7.1%}")
    lines += ["", "emergency recall per recorded language:"]
    for language in ("en", "es"):
        items = [i for i in LABELLED if i.expected == "emergency" and i.language == language]
        hits = sum(outcomes[i] == "emergency" for i in items)
        lines.append(f"  {language}  {hits:>4}/{len(items):<4} {hits / len(items):7.1%}")
    routine = [i for i in LABELLED if i.expected == "routine"]
    alarms = sum(outcomes[i] in ("emergency", "attention") for i in routine)
    lines += [
        "",
        f"false alarms on routine replies: {alarms}/{len(routine)} ({alarms / len(routine):.1%})",
    ]
    scored = [i for i in LABELLED if i.expected not in ("stop", "start", "help")]
    pain_right = sum(read_reply(i.text).pain == i.pain for i in scored)
    lines.append(f"pain score read as labelled: {pain_right}/{len(scored)}")
    matrix = Counter((i.expected, outcomes[i]) for i in LABELLED)
    lines += ["", "confusion matrix (rows: labelled, columns: read)"]
    lines.append(" " * 11 + "".join(f"{o:>10}" for o in OUTCOMES))
    for expected in OUTCOMES:
        lines.append(f"{expected:>11}" + "".join(f"{matrix[expected, o]:>10}" for o in OUTCOMES))
    return "\n".join(lines)


def _outcome(text: str) -> str:
    reading = read_reply(text)
    return reading.keyword or reading.triage or "routine"


if __name__ == "__main__":
    print(report())
