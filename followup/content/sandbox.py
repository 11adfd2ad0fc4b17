"""The sandbox staff-written text runs in: Jinja2's immutable sandbox, bounded in work.

Jinja2's own hooks (`call_binop`, `call`) see operators and calls; the generated code
is changed so they also see what they do not: every loop step, `~`, literal lists,
tuples and dicts, every write and every buffer joined. Each is checked against
`followup.content.template_limits`. The only global is `range`, bounded.

Only text and numbers are printed: a list, a group of fields or a method not called
would send Python's insides to patients. A filter misused says which one and how.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache, wraps
from typing import Any

from jinja2 import Environment, StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, LoopContext, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from followup.content.campaign_fields import YOU_CAN_USE
from followup.content.template_limits import (
    FILTERS,
    MAX_LENGTH,
    MAX_SECONDS,
    bounded_range,
    budget,
    check_method,
    check_operator,
    checked_filter,
    counted,
    size,
    sized,
    spend,
)
from followup.exceptions import TemplateProblem

GLOBALS: Mapping[str, Callable[..., Any]] = {"range": bounded_range}


class _BoundedCode(CodeGenerator):
    """Generated code that reports the work Jinja2's own hooks do not see."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # Every iteration is a step, however empty the body.
        items = nodes.Call(
            nodes.EnvironmentAttribute("counted"), [node.iter], [], None, None
        ).set_lineno(node.lineno)
        super().visit_For(
            nodes.For(
                node.target,
                items,
                node.body,
                node.else_,
                node.test,
                node.recursive,
                lineno=node.lineno,
            ),
            frame,
        )

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # `~` joins without `call_binop`.
        self.write("environment.joined((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._sized(super().visit_List, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx == "store":  # a name to assign to, not a value
            super().visit_Tuple(node, frame)
        else:
            self._sized(super().visit_Tuple, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._sized(super().visit_Dict, node, frame)

    def _sized(self, visit: Callable[[Any, Frame], None], node: nodes.Expr, frame: Frame) -> None:
        # Literals nest: ten levels of [x, x] are 1024 copies of x to write or hash.
        self.write("environment.sized(")
        visit(node, frame)
        self.write(")")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, with every kind of work bounded (see the module)."""

    code_generator_class = _BoundedCode
    intercepted_binops = frozenset(ImmutableSandboxedEnvironment.default_binop_table)
    counted = staticmethod(counted)
    sized = staticmethod(sized)

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, finalize=self._write)
        self.globals = dict(GLOBALS)
        self.filters = {
            name: _plainly(name, checked_filter(self.filters[name])) for name in FILTERS
        }

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        spend()
        check_operator(operator, left, right)
        return sized(super().call_binop(context, operator, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        spend(steps=1)
        if isinstance(obj, LoopContext) and args:
            args = (counted(args[0]), *args[1:])  # a recursive loop's next level
        elif not (
            isinstance(obj, LoopContext | Macro | Undefined)  # Undefined raises its own error
            or obj is counted
            or obj is bounded_range
        ):
            check_method(obj, args)
        return sized(super().call(context, obj, *args, **kwargs))

    def concat(self, parts: Iterable[str]) -> str:
        """Every buffer a render joins (its output, a macro's, a captured block's)."""
        kept, length = [], 0
        for part in parts:
            length += len(part)
            if length > MAX_LENGTH:
                raise TemplateProblem(f"a text of more than {MAX_LENGTH} characters")
            kept.append(part)
        return "".join(kept)

    def joined(self, parts: tuple[Any, ...]) -> str:
        return self.concat(str(sized(part)) for part in parts)

    def _write(self, value: Any) -> Any:
        """Every value a text prints: text or a number, never Python's insides."""
        if isinstance(value, bool) or not isinstance(value, str | int | float | Undefined):
            raise TemplateProblem(
                f"only text and numbers can be printed, not {_kind(value)}; {YOU_CAN_USE}"
            )
        spend(written=size(value))
        return value


def _plainly(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that, misused, says which one and how (not "do_upper() takes 1
    positional argument")."""
    signature = inspect.signature(function)  # the filter's own, through the wrappers

    @wraps(function)  # keeps the marker that asks Jinja2 for its environment or context
    def plain(*args: Any, **kwargs: Any) -> Any:
        try:
            signature.bind(*args, **kwargs)
        except TypeError:
            raise TemplateProblem(f"the filter `{name}` does not take these arguments") from None
        try:
            return function(*args, **kwargs)
        except (TypeError, ValueError):
            given = [arg for arg in args if not isinstance(arg, Environment | Context)]
            if len(given) > 1 or kwargs:
                raise TemplateProblem(
                    f"the filter `{name}` does not work with these arguments"
                ) from None
            raise TemplateProblem(
                f"the filter `{name}` does not work on {_kind(given[0] if given else None)}"
            ) from None

    return plain


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    if value is None or isinstance(value, bool):
        return f"`{value}`"
    if isinstance(value, Mapping):
        return "a group of fields"
    if callable(value):
        return "a method not called (write it with ())"
    if isinstance(value, Iterable):
        return "a list"
    return f"a {type(value).__name__}"


_environment = BoundedSandbox()


def parse(source: str) -> nodes.Template:
    return _environment.parse(source)


def lex(source: str) -> Iterator[tuple[int, str, str]]:
    """The text's tokens as written: (line, kind, text); plain text is kind `data`."""
    return _environment.lex(source)


def available_tests() -> list[str]:
    """The tests `{% if x is … %}` may use, by name (not `==` and the like)."""
    return sorted(name for name in _environment.tests if name.isidentifier())


def render(
    source: str | nodes.Template, context: Mapping[str, Any], *, seconds: float = MAX_SECONDS
) -> str:
    """Render text (or a parsed tree) within the limits; over one raises `TemplateProblem`.

    Other errors (an unknown variable, an unsafe attribute, a division by zero) are
    raised as Jinja2 and Python raise them."""
    with budget(seconds):
        template = (
            _compiled(source) if isinstance(source, str) else _environment.from_string(source)
        )
        return template.render(context)


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    """Compiling is the slow part of rendering; a campaign's text compiles once."""
    return _environment.from_string(source)
