"""After each disruption, every due message reached its provider exactly once or ends
in a recorded, explainable state, and no provider id is on two rows."""

from __future__ import annotations

import pytest

from tests.faults.scenarios import SCENARIOS, Scenario

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_nothing_is_sent_twice_or_lost(scenario: Scenario) -> None:
    outcome = scenario.run()
    assert outcome.problems == [], "\n".join(outcome.problems)
    assert outcome.duplicates == outcome.lost == outcome.shared_provider_ids == 0
    assert outcome.delivered_once + outcome.left_unknown + outcome.failed_with_reason == outcome.due
