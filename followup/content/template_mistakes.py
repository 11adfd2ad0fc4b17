"""Mistakes in how a campaign text is written, said in the front desk's words.

Jinja2 reports a mistake in its own terms ("expected 'end of print statement'", "No
filter named 'upperr'", a file called <introspection>); `read` says instead what is
not closed, out of place or not available. `stray_brace` finds what Jinja2 takes for
plain text and a patient would read as a typo: a `{` or `}` left over from a field.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from jinja2 import TemplateSyntaxError, meta, nodes

from followup.content import sandbox
from followup.content.template_limits import FILTERS
from followup.exceptions import TemplateProblem

HOW_FIELDS_ARE_WRITTEN = "fields are written {{ patient.first_name }}"
CONDITIONS = "{% if … %}…{% endif %}"
TAGS = ("if", "for", "set", "macro", "raw")
# Tags that read other templates: campaign text has none to read.
READING_TAGS: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from",
}
# What Jinja2 names by kind in its messages (the ends of `{{ }}` and `{% %}`, ...).
TOKENS = {
    "end of print statement": "`}}`",
    "begin of print statement": "`{{`",
    "end of statement block": "`%}`",
    "begin of statement block": "`{%`",
    "end of template": "the end of the text",
    "integer": "a number",
    "float": "a number",
    "string": "a text in quotes",
}
SHOWN = 40  # characters of the text around a stray brace


def read(source: str) -> tuple[nodes.Template, set[str]]:
    """The parsed text and the names it reads; a mistake raises `TemplateProblem`
    saying what it is, and on which line when the text has several."""
    try:
        parsed = sandbox.parse(source)
        # Reading the names compiles the text: an unknown filter is found here.
        undeclared = meta.find_undeclared_variables(parsed)
    except TemplateSyntaxError as exc:  # an unknown filter's is a subclass
        line = f" (line {exc.lineno})" if "\n" in source.strip() and exc.lineno else ""
        raise TemplateProblem(_explain(exc.message or "", source) + line) from None
    except ValueError:  # Python refuses an integer of 4300 digits and more
        raise TemplateProblem("a number is too long") from None
    for node in parsed.find_all(tuple(READING_TAGS)):
        raise TemplateProblem(
            f"`{{% {READING_TAGS[type(node)]} %}}` is not available in campaign text"
        )
    return parsed, undeclared


def stray_brace(source: str) -> str | None:
    """Why a `{` or `}` Jinja2 leaves as it is (plain text, quoted, raw) would reach
    patients, near where it is; None when none would."""
    tokens = [(kind, value) for _, kind, value in sandbox.lex(source)]
    text, at = "".join(value for _, value in tokens), 0
    for kind, value in tokens:
        brace = re.search(r"[{}]", value) if kind in ("data", "string") else None
        if brace:
            near = value if kind == "string" else _around(text, at + brace.start())
            return f"a brace is left over near `{near}`: {HOW_FIELDS_ARE_WRITTEN}"
        at += len(value)
    return None


def _around(text: str, at: int) -> str:
    """The field a stray brace was meant to open or close, or the words around it."""
    line_start = text.rfind("\n", 0, at) + 1
    line_end = len(text) if text.find("\n", at) < 0 else text.find("\n", at)
    if text[at] == "{":
        closing = text.find("}", at, line_end)
        start, end = at, closing if closing >= 0 else min(line_end, at + SHOWN)
        while end < line_end and text[end] == "}":
            end += 1
    else:
        opening = text.rfind("{", line_start, at)
        start, end = opening if opening >= 0 else max(line_start, at - SHOWN), at + 1
        while start > line_start and text[start - 1] == "{":
            start -= 1
        while end < line_end and text[end] == "}":
            end += 1
    return text[start:end].strip()[: SHOWN * 2]


def _explain(message: str, source: str) -> str:
    """Jinja2's message for a text it cannot read, in words staff use."""
    for pattern, said in RULES:
        found = re.search(pattern, message)
        if found:
            return said(found, source)
    return f"something is out of place: {HOW_FIELDS_ARE_WRITTEN}, conditions {CONDITIONS}"


def _unclosed(source: str) -> str:
    """Which of `{{`, `{%` and `{#` is opened more often than it is closed."""
    for opening, closing in (("{{", "}}"), ("{%", "%}"), ("{#", "#}")):
        if source.count(opening) > source.count(closing):
            return f"a `{opening}` is not closed with `{closing}`"
    return f"a brace is out of place: {HOW_FIELDS_ARE_WRITTEN}"


def _token(described: str) -> str:
    return TOKENS.get(described, f"`{described}`")


def _unknown_tag(found: re.Match[str], _: str) -> str:
    tag, inside = found.group(1), found.group(2)
    if inside and (tag.startswith("end") or tag in ("else", "elif")):
        return (
            f"`{{% {tag} %}}` is out of place: close the `{{% {inside} %}}` before it "
            f"with `{{% end{inside} %}}` first"
        )
    if tag.startswith("end"):
        return f"`{{% {tag} %}}` has no `{{% {tag[3:]} %}}` before it to close"
    if tag in ("else", "elif"):
        return f"`{{% {tag} %}}` has no `{{% if %}}` before it"
    tags = ", ".join(f"{{% {name} %}}" for name in TAGS)
    return f"`{{% {tag} %}}` is not a tag you can use; tags: {tags}"


def _unknown_filter(found: re.Match[str], _: str) -> str:
    return _not_available(found.group(1), "filter", sorted(FILTERS))


def _unknown_test(found: re.Match[str], _: str) -> str:
    return _not_available(found.group(1), "test", sandbox.available_tests())


def _not_available(name: str, kind: str, available: list[str]) -> str:
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.6)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"`{name}` is not a {kind} you can use{hint}; {kind}s: {', '.join(available)}"


def _missing_expression(found: re.Match[str], source: str) -> str:
    if found.group(1) == "end of print statement" and re.search(r"\{\{-?\s*-?\}\}", source):
        return f"a `{{{{ }}}}` is empty: write a field in it; {HOW_FIELDS_ARE_WRITTEN}"
    condition = re.search(r"\{%-?\s*(if|elif)\s*-?%\}", source)
    if condition:
        return (
            f"`{{% {condition.group(1)} %}}` needs a condition, e.g. {{% if patient.first_name %}}"
        )
    return f"something is missing before {_token(found.group(1))}"


def _unexpected(found: re.Match[str], source: str) -> str:
    got = _token(found.group(1))
    if got in ("`}`", "`{`", "the end of the text"):
        return _unclosed(source)
    if got in ("`}}`", "`%}`"):
        return f"something is missing before {got}"
    return f"{got} is out of place"


RULES: tuple[tuple[str, Callable[[re.Match[str], str], str]], ...] = (
    (r"^unexpected end of template, expected '([^']*)'", lambda f, s: _unclosed(s)),
    (
        r"^Unexpected end of template\..*needs to be closed is '(\w+)'",
        lambda f, _: f"a `{{% {f.group(1)} %}}` is not closed with `{{% end{f.group(1)} %}}`",
    ),
    (r"^Encountered unknown tag '(\w+)'\.(?:.*needs to be closed is '(\w+)')?", _unknown_tag),
    (r"^No filter named '([^']*)'", _unknown_filter),
    (r"^No test named '([^']*)'", _unknown_test),
    (r"^Expected an expression, got '([^']*)'", _missing_expression),
    (
        r"^unexpected '[^']*', expected '([)\]])'",
        lambda f, _: f"a `{'(' if f.group(1) == ')' else '['}` is not closed with `{f.group(1)}`",
    ),
    (r"^unexpected '([^']*)'$", _unexpected),
    (r"^expected token '[^']*', got '([{}])'", lambda f, s: _unclosed(s)),
    (
        r"^expected token 'end of print statement', got '([^']*)'",
        lambda f, _: (
            f"{_token(f.group(1))} is out of place in `{{{{ … }}}}`; {HOW_FIELDS_ARE_WRITTEN}"
        ),
    ),
    (
        r"^expected token 'name', got '([^']*)'",
        lambda f, _: f"a name is missing before {_token(f.group(1))}",
    ),
    (
        r"^expected token '[^']*', got '([^']*)'",
        lambda f, _: f"{_token(f.group(1))} is out of place",
    ),
    (r"^expected name or number", lambda f, _: "a name is missing after `.`"),
    (r"^unexpected char [\"']([\"'])[\"']", lambda f, _: f"a quote ({f.group(1)}) is not closed"),
    (r"^unexpected char [\"'](.)[\"']", lambda f, _: f"`{f.group(1)}` cannot be used here"),
    (
        r"^Missing end of comment tag",
        lambda f, _: "a `{#` note is not closed with `#}`",
    ),
    (
        r"^Missing end of raw directive",
        lambda f, _: "a `{% raw %}` is not closed with `{% endraw %}`",
    ),
)
