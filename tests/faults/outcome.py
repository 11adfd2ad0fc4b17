"""What a fault run left behind, judged per due message: delivered once, twice, lost, left
for staff, failed with a reason; and the metrics' count of sends read from a scrape."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from followup.models.base import Channel
from followup.models.outbox import Message, MessageStatus

REACHED = {MessageStatus.SENT, MessageStatus.DELIVERED}


@dataclass
class Outcome:
    """What a run left behind, per due message."""

    scenario: str
    due: int = 0
    delivered_once: int = 0
    duplicates: int = 0
    lost: int = 0
    left_unknown: int = 0
    failed_with_reason: int = 0
    shared_provider_ids: int = 0
    # How the maybe-sent were settled (from the notes reconciliation leaves).
    settled_by_look_up: int = 0
    settled_by_callback: int = 0
    # Evidence the fault happened: programmed faults left unused, rows in flight
    # when the disruption hit.
    faults_unused: int = 0
    in_flight_when_disrupted: int | None = None
    worker_restarts: int = 0
    # Unsupervised runs: the worker exited and nothing started it again.
    worker_exited: bool = False
    # From the workers' metrics: sends counted as sent, scrapes taken during the run.
    sends_counted: int = 0
    scrapes: int = 0
    drain_seconds: float | None = None
    problems: list[str] = field(default_factory=list)

    def count(self, row: Message, *, reached: int, own_provider_ids: set[str]) -> None:
        """Count one due message by how often it reached its provider and what its row says."""
        if reached > 1:
            self.duplicates += 1
            self.problems.append(f"#{row.id} reached the provider {reached} times")
        if row.status in REACHED:
            self.settled_by_look_up += "by look-up" in (row.last_error or "")
            self.settled_by_callback += "by Twilio's status callback" in (row.last_error or "")
            if reached == 0:
                self.lost += 1
                self.problems.append(f"#{row.id} is {row.status} but never reached it")
            elif reached == 1:
                self.delivered_once += 1
            if row.channel == Channel.SMS and row.provider_id not in own_provider_ids:
                self.problems.append(f"#{row.id} holds a provider id not its own")
        elif row.status == MessageStatus.UNKNOWN:
            self.left_unknown += 1
            if row.settle_at is not None or not row.last_error:
                self.problems.append(f"#{row.id} is unknown without a reason for staff")
        elif row.status in (MessageStatus.FAILED, MessageStatus.SKIPPED):
            self.failed_with_reason += 1
            if not row.last_error:
                self.problems.append(f"#{row.id} is {row.status} with no reason")
            if reached:
                self.problems.append(f"#{row.id} is {row.status} but reached the provider")
        else:
            self.lost += 1
            self.problems.append(f"#{row.id} was left {row.status}")


def counted_sends(scraped: str) -> int:
    """`followup_sends_total{outcome="sent"}`, all channels, from a scrape's text."""
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(scraped)
            for sample in family.samples
            if sample.name == "followup_sends_total" and sample.labels.get("outcome") == "sent"
        )
    )
