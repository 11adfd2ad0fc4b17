"""How much work staff-written text may do, and the checks that hold it to that.

Jinja2's sandbox refuses unsafe attributes but not work: a power, a repetition or
nested loops could hold a worker or a web thread for hours. `followup.content.sandbox` calls
these checks from every operator, call, loop step, filter and write; a text over a
limit is refused with a `TemplateProblem` that names the limit:

- no value (text, list, number) is bigger than `MAX_LENGTH` characters or items, nor
  the text a render makes;
- powers and products stay within `MAX_NUMBER_BITS`;
- one render takes at most `MAX_STEPS` loop steps and calls, writes at most
  `MAX_WRITTEN` characters (macros and captured blocks included: what is thrown away
  was still built) and runs at most its seconds of wall-clock time (`MAX_SECONDS` by
  default), checked at every step and operator: a signal would only reach the main
  thread, and renders run in Celery's and the web app's threads.

Only filters and methods whose output size is known before they run are available.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2.runtime import LoopContext

from followup.exceptions import TemplateProblem

MAX_LENGTH = 10_000
MAX_NUMBER_BITS = 1024  # about 10**308, the float range
MAX_STEPS = 20_000
MAX_WRITTEN = 10 * MAX_LENGTH
MAX_SECONDS = 1.0

# Filters whose result is no bigger than their input (arguments and results are
# measured all the same: `string` writes out a list).
FILTERS = frozenset(
    [
        "abs",
        "capitalize",
        "count",
        "d",
        "default",
        "first",
        "float",
        "int",
        "last",
        "length",
        "lower",
        "round",
        "string",
        "title",
        "trim",
        "truncate",
        "upper",
        "wordcount",
    ]
)
# Methods whose result is no bigger than their object, by the type they belong to.
METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        [
            "capitalize",
            "casefold",
            "count",
            "endswith",
            "find",
            "index",
            "isalnum",
            "isalpha",
            "isdigit",
            "islower",
            "isspace",
            "istitle",
            "isupper",
            "lower",
            "lstrip",
            "partition",
            "removeprefix",
            "removesuffix",
            "rfind",
            "rindex",
            "rpartition",
            "rsplit",
            "rstrip",
            "split",
            "splitlines",
            "startswith",
            "strip",
            "swapcase",
            "title",
            "upper",
        ]
    ),
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    LoopContext: frozenset({"changed", "cycle"}),
}
PADDING = frozenset({"center", "ljust", "rjust", "zfill"})


@dataclass
class _Budget:
    seconds: float
    deadline: float
    steps: int = 0
    written: int = 0


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


@contextmanager
def budget(seconds: float = MAX_SECONDS) -> Iterator[None]:
    """The steps, writes and time of one render (per thread, per task)."""
    token = _budget.set(_Budget(seconds, time.monotonic() + seconds))
    try:
        yield
    finally:
        _budget.reset(token)


def measure(value: object) -> int:
    """What writing, copying or hashing `value` costs, in characters or items, counted
    all the way down (shared parts as often as they are reached) and only past
    `MAX_LENGTH`."""
    total, pending = 0, [value]
    while pending and total <= MAX_LENGTH:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1  # at least its decimal digits
        elif isinstance(item, list | tuple):
            total += len(item)
            if total <= MAX_LENGTH:
                pending.extend(item)
        elif isinstance(item, dict):
            total += len(item)
            if total <= MAX_LENGTH:
                pending.extend(item.keys())
                pending.extend(item.values())
        elif isinstance(item, range):
            total += len(item)
        else:
            total += 1
    return total


def size(value: Any) -> int:
    """`measure`, refusing a value over `MAX_LENGTH`."""
    measured = measure(value)
    if measured > MAX_LENGTH:
        raise TemplateProblem(f"a value of more than {MAX_LENGTH} characters or items")
    return measured


def sized(value: Any) -> Any:
    size(value)
    return value


def spend(*, steps: int = 0, written: int = 0) -> None:
    """Count work against the render's budget, and check its clock."""
    current = _budget.get()
    if current is None:
        return  # folding constants at compile time: sizes are checked, nothing runs long
    current.steps += steps
    current.written += written
    if current.steps > MAX_STEPS:
        raise TemplateProblem(f"more than {MAX_STEPS} loop steps and calls")
    if current.written > MAX_WRITTEN:
        raise TemplateProblem(f"more than {MAX_WRITTEN} characters written")
    if time.monotonic() >= current.deadline:
        raise TemplateProblem(f"longer than {current.seconds:g} s to render")


def counted(items: Iterable[Any]) -> Iterator[Any]:
    """A loop's items, each one a step."""
    for item in items:
        spend(steps=1)
        yield item


def bounded_range(*args: int) -> range:
    """`range`, the one global of the sandbox (lipsum(n), namespace() and the others are
    not needed)."""
    items = range(*args)
    try:
        length = len(items)
    except OverflowError:  # more items than a machine integer counts
        length = MAX_LENGTH + 1
    if length > MAX_LENGTH:
        raise TemplateProblem(f"range() of more than {MAX_LENGTH} items")
    return items


def check_operator(operator: str, left: Any, right: Any) -> None:
    """Refuse an operator whose result would be over a limit, before it is computed."""
    if operator == "**":
        _check_power(left, right)
    elif operator == "*":
        _check_product(left, right)
    elif operator == "+" and measure(left) + measure(right) > MAX_LENGTH:
        raise TemplateProblem(f"adding makes more than {MAX_LENGTH} characters or items")
    elif operator == "%" and isinstance(left, str):
        raise TemplateProblem("% formatting is not available in campaign text")


def _check_power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and abs(base) > 1
        # The first test keeps a huge exponent out of float arithmetic.
        and (exponent > MAX_NUMBER_BITS or exponent * math.log2(abs(base)) > MAX_NUMBER_BITS)
    ):
        raise TemplateProblem(f"a power makes a number of more than {MAX_NUMBER_BITS} bits")


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_NUMBER_BITS:
            raise TemplateProblem(f"a product makes a number of more than {MAX_NUMBER_BITS} bits")
        return
    times, repeated = (left, right) if isinstance(left, int) else (right, left)
    if (
        isinstance(times, int)
        and isinstance(repeated, str | list | tuple)
        and measure(repeated) * times > MAX_LENGTH
    ):
        raise TemplateProblem(f"repeating makes more than {MAX_LENGTH} characters or items")


def check_method(method: Any, args: tuple[Any, ...]) -> None:
    """Refuse a method outside `METHODS`, and padding or replacing past `MAX_LENGTH`."""
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", type(method).__name__)
    if isinstance(owner, str) and args and isinstance(args[0], int) and name in PADDING:
        if args[0] > MAX_LENGTH:
            raise TemplateProblem(f"{name}() pads to more than {MAX_LENGTH} characters")
        return
    if isinstance(owner, str) and name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        times = owner.count(old)
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            times = min(times, args[2])
        if len(owner) + times * (len(new) - len(old)) > MAX_LENGTH:
            raise TemplateProblem(f"replace() makes more than {MAX_LENGTH} characters")
        return
    kind = next((k for k in METHODS if isinstance(owner, k)), None)
    if kind is None or name not in METHODS[kind]:
        raise TemplateProblem(f"{name}() is not available in campaign text")


def checked_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(function)  # keeps the marker that asks Jinja2 for its environment or context
    def checked(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            sized(value)
        return sized(function(*args, **kwargs))

    return checked
