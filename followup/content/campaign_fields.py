"""The fields staff may use in campaign text, and refusals that name them.

Jinja2's own words for a wrong field ("'dict object' has no attribute 'firstname'")
are the engine's, not the front desk's: a refusal here names the whole expression
staff wrote, the closest field that exists (difflib) and every field there is.

A field is text: it may be printed, indexed (`patient.first_name[0]`) or have a text
method called on it (`clinic.phone.replace('-', ' ')`). `patient` or `clinic` alone,
a method not called (`patient.first_name.upper`) or a field called would print Python's
insides to patients, and is refused like an unknown field.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

from jinja2 import nodes

from followup.content.template_limits import FILTERS

FIELDS: dict[str, tuple[str, ...]] = {
    "patient": ("first_name",),
    "clinic": ("name", "phone"),
}
NAMES = tuple(f"{owner}.{field}" for owner, fields in FIELDS.items() for field in fields)
YOU_CAN_USE = "fields you can use: " + ", ".join("{{ " + name + " }}" for name in NAMES)
# What Jinja2's StrictUndefined says of a missing attribute or a missing name.
ENGINE_ATTRIBUTE = re.compile(r"'([^']*) object' has no attribute '([^']*)'")
ENGINE_NAME = re.compile(r"'([^']*)' is undefined")
# A part of an expression after a name: an attribute, a constant key, or another key.
INDEXED = "[]"


def wrong_field(parsed: nodes.Template, undeclared: set[str]) -> str | None:
    """A refusal for the first field the text uses that does not exist or cannot be
    printed, else None. `undeclared`: the names the text reads and does not set itself
    (Jinja2's `meta`)."""
    for name in sorted(undeclared - set(FIELDS)):
        return refusal(name)
    called = {id(call.node) for call in parsed.find_all(nodes.Call)}
    inner = {
        id(node.node)
        for node in parsed.find_all((nodes.Getattr, nodes.Getitem))
        if isinstance(node, nodes.Getattr | nodes.Getitem)  # find_all is typed as any node
    }
    for node in parsed.find_all((nodes.Name, nodes.Getattr, nodes.Getitem)):
        if id(node) in inner:
            continue  # the expression it is part of is read whole
        parts = list(_parts(node))
        if not parts or parts[0] not in undeclared:
            continue  # not a field (a name the text set itself, a call's result)
        problem = _misused(parts, called=id(node) in called)
        if problem:
            return problem
    return None


def _misused(parts: list[str], *, called: bool) -> str | None:
    owner, *path = parts
    if not path:
        return not_printable(owner)
    field = f"{owner}.{path[0]}"
    if path[0] == INDEXED:
        return None  # a key only the patient's data gives: checked when rendered
    if path[0] not in FIELDS[owner]:
        return refusal(field)
    if called and len(path) == 1:
        return f"`{field}` is a field, not something to call: write {{{{ {field} }}}}"
    # What follows a field: keys into its text, then at most one text method, called.
    for position, part in enumerate(path[1:], start=2):
        if part == INDEXED:
            continue
        before, whole = _written(parts[:position]), _written(parts[: position + 1])
        if callable(getattr(str, part, None)) and not part.startswith("_"):
            if position == len(path) and called:
                return None
            written = f"{before}|{part}" if part in FILTERS else f"{whole}()"
            return not_printable(whole, hint=written)
        return refusal(whole)
    return None


def explain_engine(message: str) -> str:
    """Jinja2's message for an undefined value, in the words of `refusal`."""
    attribute = ENGINE_ATTRIBUTE.search(message)
    if attribute:
        # Only a group of fields has fields to suggest; a field's text has none.
        return refusal(attribute.group(2), suggest=attribute.group(1) == "dict")
    name = ENGINE_NAME.search(message)
    if name:
        return refusal(name.group(1))
    return message


def refusal(field: str, *, suggest: bool = True) -> str:
    """'unknown field `x` (did you mean `y`?); fields you can use: ...'."""
    choices = [*NAMES, *(name.split(".")[1] for name in NAMES)]
    close = difflib.get_close_matches(field, choices, n=1, cutoff=0.6) if suggest else []
    hint = ""
    if close:
        named = next(name for name in NAMES if close[0] in (name, name.split(".")[1]))
        hint = f" (did you mean `{named}`?)"
    return f"unknown field `{field}`{hint}; {YOU_CAN_USE}"


def not_printable(expression: str, *, hint: str | None = None) -> str:
    """'`patient` is not a field you can print; fields you can use: ...'."""
    meant = f" (did you mean `{hint}`?)" if hint else ""
    return f"`{expression}` is not a field you can print{meant}; {YOU_CAN_USE}"


def _written(parts: list[str]) -> str:
    return "".join(
        "[…]" if part == INDEXED else f".{part}" if position else part
        for position, part in enumerate(parts)
    )


def _parts(node: nodes.Node) -> Iterator[str]:
    """`patient.first_name[0]` as patient, first_name, []; nothing when it does not
    start with a name."""
    if isinstance(node, nodes.Name):
        if node.ctx == "load":
            yield node.name
    elif isinstance(node, nodes.Getattr | nodes.Getitem):
        inner = list(_parts(node.node))
        if not inner:
            return
        yield from inner
        if isinstance(node, nodes.Getattr):
            yield node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            yield node.arg.value
        else:
            yield INDEXED
