"""What a visits import did, counted and said in words a person at the front desk reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from followup.care.episodes import SeriesChange
from followup.care.visits import VisitRecord


@dataclass
class VisitsReport:
    """Counts over every row of a visits file (the file's rows were all valid: a file
    with a bad row is refused whole, with each bad row's line and reason)."""

    new: int = 0
    again: int = 0  # visits already recorded (a re-run, or a corrected row)
    planned: int = 0  # messages planned, plan steps and appointment reminders
    moved: int = 0  # pending messages that now follow a later visit
    # Plan steps whose expiry had passed before the import: written as skipped.
    expired: int = 0
    # Of the planned plan steps: to a channel without consent, never asked / a "no" on
    # record (never consented or withdrawn: the import does not read the history).
    unconsented: int = 0
    said_no: int = 0
    # Visits dated after the import's time, and the latest one's date and line.
    ahead: int = 0
    latest_ahead: tuple[date, int] | None = None

    def add(self, record: VisitRecord) -> None:
        self.count(record.created, record.messages_added - record.series.added, record.series)

    def count(self, created: bool, reminders: int, series: SeriesChange) -> None:
        """A visit (`created` or recorded again) that got `reminders` appointment
        reminders and changed its episode's series by `series`."""
        if created:
            self.new += 1
        else:
            self.again += 1
        self.planned += series.added + reminders
        self.moved += series.moved
        self.expired += series.expired
        self.unconsented += series.unconsented
        self.said_no += series.said_no

    @property
    def visits(self) -> int:
        return self.new + self.again

    def detail(self) -> str:
        moved = f", {self.moved} pending moved to a later visit" if self.moved else ""
        lines = [
            f"{amount(self.visits, 'visit')} ({self.new} new, {self.again} already recorded), "
            f"{amount(self.planned, 'message')} planned{moved}",
            f"already past: {amount(self.expired, 'plan step')} recorded as skipped, not sent "
            "(their expiry had passed before the import; a re-run plans them no more)",
        ]
        held = self.unconsented + self.said_no
        lines.append(
            f"no consent: {held} of the planned are to a channel the patient has not "
            f"consented to ({self.unconsented} never asked, {self.said_no} with a no on record); "
            "each goes only if the patient consents before it is due, else it is skipped"
        )
        if self.latest_ahead is not None:
            day, line = self.latest_ahead
            check = "the date" if self.ahead == 1 else "the dates"
            lines.append(
                f"in the future: {amount(self.ahead, 'visit')} dated after the import's time, "
                f"the latest {day} (line {line}): check {check}"
            )
        lines.append("bad rows: 0")
        return "\n".join(lines)


def amount(count: int, noun: str) -> str:
    """The count and the noun, plural unless the count is one: 1 visit, 2 visits."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def listed(items: Iterable[str]) -> str:
    """The items joined in words: a; a and b; a, b and c."""
    *rest, last = items
    return f"{', '.join(rest)} and {last}" if rest else last
