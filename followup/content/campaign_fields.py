"""The fields staff may use in campaign text, and refusals that name them.

Jinja2's own words for a wrong field ("'dict object' has no attribute 'firstname'")
are the engine's, not the front desk's: a refusal here says which field is unknown,
the closest one that exists (difflib) and every field there is.
"""

from __future__ import annotations

import difflib
import re

from jinja2 import nodes

FIELDS: dict[str, tuple[str, ...]] = {
    "patient": ("first_name",),
    "clinic": ("name", "phone"),
}
NAMES = tuple(f"{owner}.{field}" for owner, fields in FIELDS.items() for field in fields)
# What Jinja2's StrictUndefined says of a missing attribute or a missing name.
ENGINE_ATTRIBUTE = re.compile(r"has no attribute '([^']*)'")
ENGINE_NAME = re.compile(r"'([^']*)' is undefined")


def unknown_field(parsed: nodes.Template, undeclared: set[str]) -> str | None:
    """A refusal for the first field the text uses that does not exist, else None.
    `undeclared`: the names the text reads and does not set itself (Jinja2's `meta`)."""
    for name in sorted(undeclared - set(FIELDS)):
        return refusal(name)
    for node in parsed.find_all((nodes.Getattr, nodes.Getitem)):
        if not isinstance(node, nodes.Getattr | nodes.Getitem):
            continue  # find_all is typed as yielding any node
        owner = _owner(node)
        field = node.attr if isinstance(node, nodes.Getattr) else _constant(node)
        if owner is not None and field is not None and field not in FIELDS[owner]:
            return refusal(f"{owner}.{field}")
    return None


def explain_engine(message: str) -> str:
    """Jinja2's message for an undefined value, in the words of `refusal`."""
    for pattern in (ENGINE_ATTRIBUTE, ENGINE_NAME):
        found = pattern.search(message)
        if found:
            return refusal(found.group(1))
    return message


def refusal(field: str) -> str:
    """'unknown field `x` (did you mean `y`?); fields you can use: ...'."""
    choices = [*NAMES, *(name.split(".")[1] for name in NAMES)]
    close = difflib.get_close_matches(field, choices, n=1, cutoff=0.6)
    hint = ""
    if close:
        named = next(name for name in NAMES if close[0] in (name, name.split(".")[1]))
        hint = f" (did you mean `{named}`?)"
    listed = ", ".join("{{ " + name + " }}" for name in NAMES)
    return f"unknown field `{field}`{hint}; fields you can use: {listed}"


def _owner(node: nodes.Getattr | nodes.Getitem) -> str | None:
    inner = node.node
    return inner.name if isinstance(inner, nodes.Name) and inner.name in FIELDS else None


def _constant(node: nodes.Getitem) -> str | None:
    return str(node.arg.value) if isinstance(node.arg, nodes.Const) else None
