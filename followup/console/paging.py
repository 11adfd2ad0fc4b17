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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import HTTPException, Query
from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

SIZE = 50
# A list page's `cursor` parameter: empty for the first page.
Cursor = Annotated[str, Query(max_length=1000)]
_SIGNATURE_BYTES = 16


@dataclass(frozen=True)
class Key:
    """One sort key: a column of the select (never NULL in it), and its direction."""

    column: ColumnElement[Any] | InstrumentedAttribute[Any]
    kind: type[int] | type[str] | type[datetime] | type[date]
    descending: bool = False


@dataclass(frozen=True)
class Page:
    rows: list[Row[*tuple[Any, ...]]]
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
        direction, boundary = self._decode(cursor, secret) if cursor else ("after", None)
        keyed = query.add_columns(*(k.column for k in self.keys))
        total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        backwards = direction == "before"
        window = keyed.order_by(None).order_by(*self._order(reverse=backwards))
        if boundary is not None:
            window = window.where(self._beyond(boundary, reverse=backwards))
        rows = list(session.execute(window.limit(self.size)).all())
        if backwards:
            rows.reverse()
        total = total or 0
        if not rows:
            return Page([], total, 0, None, None)
        first, last = self._values(rows[0]), self._values(rows[-1])
        earlier = query.order_by(None).where(self._beyond(first, reverse=True))
        before = session.scalar(select(func.count()).select_from(earlier.subquery())) or 0
        return Page(
            rows,
            total,
            before + 1,
            self._encode("after", last, secret) if before + len(rows) < total else None,
            self._encode("before", first, secret) if before else None,
        )

    def _order(self, *, reverse: bool) -> list[ColumnElement[Any]]:
        return [k.column.asc() if k.descending == reverse else k.column.desc() for k in self.keys]

    def _beyond(self, values: Sequence[Any], *, reverse: bool) -> ColumnElement[bool]:
        """Rows after `values` in the list's order (before them, reversed)."""
        alternatives = []
        for depth, key in enumerate(self.keys):
            later = (
                (key.column < values[depth])
                if key.descending != reverse
                else (key.column > values[depth])
            )
            same = [k.column == values[i] for i, k in enumerate(self.keys[:depth])]
            alternatives.append(and_(*same, later))
        return or_(*alternatives)

    def _values(self, row: Row[*tuple[Any, ...]]) -> list[Any]:
        return list(row[len(row) - len(self.keys) :])

    def _sign(self, payload: bytes, secret: str) -> bytes:
        mac = hmac.new(secret.encode(), self.name.encode() + b"\0" + payload, hashlib.sha256)
        return mac.digest()[:_SIGNATURE_BYTES]

    def _encode(self, direction: Literal["after", "before"], values: list[Any], secret: str) -> str:
        plain = [v.isoformat() if isinstance(v, date) else v for v in values]
        payload = json.dumps([direction, plain], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(self._sign(payload, secret) + payload).decode().rstrip("=")

    def _decode(self, cursor: str, secret: str) -> tuple[str, list[Any]]:
        refused = HTTPException(400, "this page link is not valid; start again from the list")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise refused from None
        signature, payload = raw[:_SIGNATURE_BYTES], raw[_SIGNATURE_BYTES:]
        if not hmac.compare_digest(signature, self._sign(payload, secret)):
            raise refused
        direction, plain = json.loads(payload)
        return direction, [
            self._typed(key, value) for key, value in zip(self.keys, plain, strict=True)
        ]

    @staticmethod
    def _typed(key: Key, value: Any) -> Any:
        if key.kind is datetime:
            return datetime.fromisoformat(value)
        if key.kind is date:
            return date.fromisoformat(value)
        return value
