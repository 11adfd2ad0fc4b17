"""How the two readers read the labelled corpus (`corpus/*.tsv`): per family, language
and form, the recall of the rules, of the model and of both, out of fold and
leave-one-family-out; false alarms on routine replies; the confusion matrix; keyword
accuracy; and the same for the shipped model on every reply (in sample).

    .venv/bin/python -m tests.replies.triage_report

It trains the model several times (cross-validation, one per family): about half a
minute. The blind set's first-run figure (rules alone, before issue 19) is in
`corpus/README.md`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from followup.replies.corpus import load_corpus
from followup.replies.measures import measure
from followup.replies.reading import read_reply

TRIAGES = ("emergency", "attention", "routine")
CONSENTS = ("stop", "start", "help", "unsure", "None")


def report() -> str:
    items = load_corpus()
    m = measure(items)
    lines = [
        f"{len(items)} labelled replies; emergency threshold {m['threshold']}",
        "",
        "== out of fold (5-fold cross-validation: the model never saw the reply) ==",
        *_summary(m["cross_validated"]),
        "",
        "== leave-one-family-out (the model never saw the family) ==",
        f"  {'family':<22}{'n':>5}{'model':>8}{'both':>8}",
        *[
            f"  {family:<22}{r['emergencies']:>5}{r['model']:>8}{r['both']:>8}"
            for family, r in m["leave_one_family_out"].items()
        ],
        "",
        "== the blind set, by a model trained without it ==",
        *_summary(m["blind_set_unseen"]),
        "",
        "== the shipped model with the rules, on every reply (in sample) ==",
        *_shipped(items),
    ]
    return "\n".join(lines)


def _summary(s: dict[str, Any]) -> list[str]:
    r, fa, consent = s["emergency_recall"], s["false_alarms_on_routine"], s["consent"]
    lines = [f"  {'emergencies by':<30}{'n':>5}{'rules':>7}{'model':>7}{'both':>7}"]
    lines.append(f"  {'all':<30}{r['emergencies']:>5}{r['rules']:>7}{r['model']:>7}{r['both']:>7}")
    for key in ("by_family", "by_language", "by_form"):
        for name, g in s[key].items():
            label = f"{key[3:]}: {name}"
            lines.append(
                f"  {label:<30}{g['emergencies']:>5}{g['rules']:>7}{g['model']:>7}{g['both']:>7}"
            )
    lines += [
        f"  false alarms (routine read as emergency): rules {fa['rules']}, model {fa['model']}, "
        f"both {fa['both']} of {fa['routine']}; any alert on routine: {fa['both_any_alert']}",
        f"  consent intents read as labelled: rules {consent['rules_right']}, "
        f"both {consent['both_right']} of {consent['labelled']}; "
        f"an intent read where none is labelled: {consent['read_where_none']}",
        "  triage confusion (labelled -> read by both): "
        + ", ".join(f"{a}->{b} {n}" for a, b, n in s["triage_confusion"] if a != b),
    ]
    return lines


def _shipped(items: list[Any]) -> list[str]:
    readings = [(item, read_reply(item.text)) for item in items]
    matrix = Counter((i.triage, r.triage or "routine") for i, r in readings)
    consent = Counter((str(i.consent), str(r.keyword)) for i, r in readings)
    keywords = [(i, r) for i, r in readings if i.consent]
    right = sum(r.keyword == i.consent for i, r in keywords)
    scored = [(i, r) for i, r in readings if i.source in ("first", "more", "holdout")]
    pain = sum(r.pain == i.pain for i, r in scored)
    lines = ["  triage confusion (rows: labelled, columns: read)"]
    lines.append(" " * 13 + "".join(f"{t:>11}" for t in TRIAGES))
    lines += [f"  {t:>11}" + "".join(f"{matrix[t, o]:>11}" for o in TRIAGES) for t in TRIAGES]
    lines.append("  consent confusion (rows: labelled, columns: read)")
    lines.append(" " * 13 + "".join(f"{c:>8}" for c in CONSENTS))
    lines += [f"  {c:>11}" + "".join(f"{consent[c, o]:>8}" for o in CONSENTS) for c in CONSENTS]
    lines += [
        f"  keyword accuracy: {right}/{len(keywords)}",
        f"  pain score read as labelled (first, more, holdout): {pain}/{len(scored)}",
    ]
    return lines


if __name__ == "__main__":
    print(report())
