"""An export as it leaves: first its entry in the audit log (who, which list, which
filters, how many rows; never the rows), committed before any row is sent, then
the CSV, streamed from one session a batch at a time."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.orm import Session, sessionmaker

from followup.db import transaction
from followup.exports.lists import Listing
from followup.exports.sheet import csv_chunks
from followup.staff import audit


def audited_export(
    sessions: sessionmaker[Session], listing: Listing, *, actor: str, address: str | None
) -> Iterator[str]:
    """Record the export now; the returned chunks are the CSV (rows as they are when
    read, so the count is of the moment the export began)."""
    with transaction(sessions) as session:
        entry = audit.record(
            session,
            actor=actor,
            action=f"export-{listing.name}",
            address=address,
            campaign_id=listing.campaign_id,
        )
        session.flush()  # an export of the audit log counts (and holds) its own entry
        entry.detail = listing.audit_detail(listing.count(session))
    return _chunks(sessions, listing)


def _chunks(sessions: sessionmaker[Session], listing: Listing) -> Iterator[str]:
    with sessions() as session:
        yield from csv_chunks(listing.header, listing.rows(session))
