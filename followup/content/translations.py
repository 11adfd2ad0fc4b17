"""Every patient-facing template exists in every patient language, with the same variables.

Patients' languages are `followup.care.patients.LANGUAGES`. Templates kept per language
(`sms/<lang>/`, `email/<lang>/`, `web/<lang>/`) must be there in each of them and use
the same variables: a Spanish text that lost `visit.date`, or one never written, would
otherwise show only in front of a Spanish-speaking patient (English stands in).
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, TemplateSyntaxError, meta, nodes

from followup.care.patients import LANGUAGES

PER_LANGUAGE = ("sms", "email", "web")


def language_problems(environment: Environment, templates_dir: Path) -> list[str]:
    """A line per template missing in a language, or whose variables differ."""
    problems = []
    for kind in PER_LANGUAGE:
        names = {language: _names(templates_dir / kind / language) for language in LANGUAGES}
        for name in sorted(set().union(*names.values())):
            present = [language for language in LANGUAGES if name in names[language]]
            problems += [
                f"{kind}/{language}/{name}: missing (there is {kind}/{present[0]}/{name})"
                for language in LANGUAGES
                if language not in present
            ]
            used = {
                language: variables(environment, templates_dir / kind / language / name)
                for language in present
            }
            if len({frozenset(found) for found in used.values()}) > 1:
                listed = "; ".join(f"{lang}: {', '.join(sorted(v))}" for lang, v in used.items())
                problems.append(f"{kind}/*/{name}: variables differ between languages ({listed})")
    return problems


def variables(environment: Environment, path: Path) -> set[str]:
    """The variables a template reads, with the attributes it reads of them
    ("visit", "visit.date"); names it sets itself are not variables."""
    try:
        tree = environment.parse(path.read_text(encoding="utf-8"))
    except TemplateSyntaxError:
        return set()  # reported on its own by `followup check`
    free = meta.find_undeclared_variables(tree)
    found = set(free)
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name in free:
            found.add(f"{node.node.name}.{node.attr}")
    return found


def _names(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
