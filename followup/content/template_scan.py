"""Staff text read whole, every branch, from its parse tree: no patient needed.

A sample render follows one path through a template; a condition on the patient's
name hides the others until some patient takes them. These read what every path
holds, so a campaign's text is refused when it is saved, not when it is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import TypeGuard

from jinja2 import nodes
from jinja2.sandbox import SecurityError

from followup.content.sandbox import GLOBALS, render
from followup.exceptions import TemplateProblem


def literal_text(tree: nodes.Template) -> str:
    """Every piece of literal text and every string constant, in every branch: each on
    its own, and each run together with the next (a word can be split by a tag)."""
    pieces = []
    for node in tree.find_all((nodes.TemplateData, nodes.Const)):
        if isinstance(node, nodes.TemplateData):
            pieces.append(node.data)
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            pieces.append(node.value)
    return " ".join([*pieces, *(first + second for first, second in pairwise(pieces))])


def over_limits(tree: nodes.Template) -> str | None:
    """Why an expression that reads no variable, in any branch, is refused by the
    sandbox (a limit or an unsafe attribute); None when none is."""
    for expression in _constant_expressions(tree):
        # Written as text (a list to loop over is not a value to print as it is).
        text = nodes.Filter(expression, "string", [], [], None, None, lineno=expression.lineno)
        lone = nodes.Template([nodes.Output([text], lineno=expression.lineno)], lineno=1)
        try:
            render(lone, {})
        except (TemplateProblem, SecurityError) as exc:
            return str(exc)
        except Exception:
            # Out of its branch it may fail for reasons that branch guards against (a
            # division by zero where the divisor is checked first): not a refusal.
            continue
    return None


def _constant_expressions(node: nodes.Node) -> Iterator[nodes.Expr]:
    """The largest expressions that read no variable (globals such as range aside)."""
    for child in node.iter_child_nodes():
        if _worth_evaluating(child) and not any(
            name.name not in GLOBALS for name in child.find_all(nodes.Name)
        ):
            yield child
        else:
            yield from _constant_expressions(child)


def _worth_evaluating(node: nodes.Node) -> TypeGuard[nodes.Expr]:
    # Constants, names and slices do no work or do not stand alone; a filter block's
    # filter has no value of its own.
    return (
        isinstance(node, nodes.Expr)
        and not isinstance(node, nodes.Const | nodes.TemplateData | nodes.Name | nodes.Slice)
        and not (isinstance(node, nodes.Filter) and node.node is None)
    )
