"""Every console list, a page at a time: keyset paging over an ordered select (the
rows after, or before, the last one seen; never OFFSET, so a page costs the same deep
in a long list and rows arriving meanwhile neither repeat nor vanish at the seams),
with the list's total and where the page sits in it ("1,506 replies, showing 1–50").

A cursor names the boundary row's sort keys, signed with the app's secret for the list
it belongs to: one edited, cut short or taken from another list is refused with 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlencode

from fastapi import HTTPException, Query
from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

SIZE = 50
T = TypeVar("T")
# A list page's `cursor` parameter: empty for the first page.
# (A patient's page ends on their search text: up to 1,000 characters, base64 in here.)
Cursor = Annotated[str, Query(max_length=2000)]
_SIGNATURE_BYTES = 16


@dataclass(frozen=True)
class Key:
    """One sort key: a column of the select (never NULL in it), and its direction."""

    column: ColumnElement[Any] | InstrumentedAttribute[Any] | None  # None: `page_items` only
    kind: type[int] | type[str] | type[datetime] | type[date]
    descending: bool = False


@dataclass(frozen=True)
class Page:
    rows: list[Any]  # the select's rows (or, from `page_items`, the list's items)
    total: int
    start: int  # the first row's position in the whole list, from 1 (0: no rows)
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def end(self) -> int:
        return self.start + len(self.rows) - 1 if self.rows else 0

    def summary(self, one: str, many: str) -> str:
        """What the list says: "1,506 replies, showing 1–50", "1 reply", "No replies match."."""
        if not self.total:
            return f"No {many} match."
        counted = f"{self.total:,} {one if self.total == 1 else many}"
        if self.total == len(self.rows):
            return counted
        return f"{counted}, showing {self.start:,}–{self.end:,}"

    def link(self, path: str, filters: dict[str, str], cursor: str) -> str:
        """`path` with the list's filters and a cursor: the next or previous page."""
        kept = {name: value for name, value in filters.items() if value}
        return f"{path}?{urlencode({**kept, 'cursor': cursor})}"


class Paging:
    """A list's paging: its name (bound into its cursors), sort keys and page size."""

    def __init__(self, name: str, keys: Sequence[Key], *, size: int = SIZE) -> None:
        self.name, self.keys, self.size = name, tuple(keys), size

    def page(
        self, session: Session, query: Select[*tuple[Any, ...]], *, cursor: str, secret: str
    ) -> Page:
        """The page of `query`'s rows that `cursor` names (empty: the first). Each row
        holds the select's columns and then the sort keys'."""
        total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        total = total or 0
        keyed = query.add_columns(*self._columns()).order_by(None)
        if cursor:
            direction, boundary, position = self._decode(cursor, secret)
            backwards = direction == "before"
            window = keyed.order_by(*self._order(reverse=backwards))
            window = window.where(self._beyond(boundary, reverse=backwards))
            rows = list(session.execute(window.limit(self.size + 1)).all())
            more = len(rows) > self.size
            rows = rows[: self.size]
            if rows and not backwards:
                return self._made(
                    rows, total, position + 1, later=more, earlier=True, secret=secret
                )
            if more:  # backwards, with rows before these too
                start = max(position - len(rows), 2)  # an estimate if rows came or went
                return self._made(rows[::-1], total, start, later=True, earlier=True, secret=secret)
            # Back to the start (or past a list's end that went away): the first page.
        first = keyed.order_by(*self._order(reverse=False)).limit(self.size + 1)
        rows = list(session.execute(first).all())
        later = len(rows) > self.size
        return self._made(rows[: self.size], total, 1, later=later, earlier=False, secret=secret)

    def _made(
        self, rows: list[Any], total: int, start: int, *, later: bool, earlier: bool, secret: str
    ) -> Page:
        """A page of `rows` (first at `start`), with cursors where more lie either way."""
        if not rows:
            return Page([], total, 0, None, None)
        end = start + len(rows) - 1
        after = self._encode("after", self._values(rows[-1]), end, secret) if later else None
        before = self._encode("before", self._values(rows[0]), start, secret) if earlier else None
        return Page(rows, total, start, after, before)

    def page_items(
        self, items: Sequence[T], values: Callable[[T], list[Any]], *, cursor: str, secret: str
    ) -> Page:
        """The same for a list already made and sorted in the keys' order (what is
        computed, not selected); `values` gives an item's sort keys."""
        start = 0
        if cursor:
            direction, boundary, _ = self._decode(cursor, secret)
            if direction == "after":
                start = sum(1 for item in items if not self._follows(values(item), boundary))
            else:
                start = sum(1 for item in items if self._follows(boundary, values(item)))
                start = max(start - self.size, 0)
        rows = list(items[start : start + self.size])
        if not rows:
            return Page([], len(items), 0, None, None)
        end = start + len(rows)
        return Page(
            rows,
            len(items),
            start + 1,
            self._encode("after", values(rows[-1]), end, secret) if end < len(items) else None,
            self._encode("before", values(rows[0]), start + 1, secret) if start else None,
        )

    def _follows(self, a: list[Any], b: list[Any]) -> bool:
        """Whether sort keys `a` come after `b` in the list's order."""
        for key, x, y in zip(self.keys, a, b, strict=True):
            if x != y:
                return (x < y) if key.descending else (x > y)
        return False

    def _columns(self) -> list[ColumnElement[Any] | InstrumentedAttribute[Any]]:
        columns = [k.column for k in self.keys if k.column is not None]
        if len(columns) < len(self.keys):
            raise ValueError(f"paging {self.name!r}: a select's sort keys need columns")
        return columns

    def _order(self, *, reverse: bool) -> list[ColumnElement[Any]]:
        return [
            c.asc() if k.descending == reverse else c.desc()
            for k, c in zip(self.keys, self._columns(), strict=True)
        ]

    def _beyond(self, values: Sequence[Any], *, reverse: bool) -> ColumnElement[bool]:
        """Rows after `values` in the list's order (before them, reversed)."""
        columns = self._columns()
        alternatives = []
        for depth, (key, column) in enumerate(zip(self.keys, columns, strict=True)):
            value = values[depth]
            later = (column < value) if key.descending != reverse else (column > value)
            same = [c == values[i] for i, c in enumerate(columns[:depth])]
            alternatives.append(and_(*same, later))
        return or_(*alternatives)

    def _values(self, row: Row[*tuple[Any, ...]]) -> list[Any]:
        return list(row[len(row) - len(self.keys) :])

    def _sign(self, payload: bytes, secret: str) -> bytes:
        mac = hmac.new(secret.encode(), self.name.encode() + b"\0" + payload, hashlib.sha256)
        return mac.digest()[:_SIGNATURE_BYTES]

    def _encode(
        self, direction: Literal["after", "before"], values: list[Any], position: int, secret: str
    ) -> str:
        """The boundary row's keys, and its position in the list (for "showing 51–100"
        without counting the rows before it)."""
        plain = [v.isoformat() if isinstance(v, date) else v for v in values]
        payload = json.dumps([direction, plain, position], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(self._sign(payload, secret) + payload).decode().rstrip("=")

    def _decode(self, cursor: str, secret: str) -> tuple[str, list[Any], int]:
        refused = HTTPException(400, "this page link is not valid; start again from the list")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise refused from None
        signature, payload = raw[:_SIGNATURE_BYTES], raw[_SIGNATURE_BYTES:]
        if not hmac.compare_digest(signature, self._sign(payload, secret)):
            raise refused
        direction, plain, position = json.loads(payload)
        typed = [self._typed(key, value) for key, value in zip(self.keys, plain, strict=True)]
        return direction, typed, position

    @staticmethod
    def _typed(key: Key, value: Any) -> Any:
        if key.kind is datetime:
            return datetime.fromisoformat(value)
        if key.kind is date:
            return date.fromisoformat(value)
        return value
