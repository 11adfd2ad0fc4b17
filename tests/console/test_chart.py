"""The pain chart's axis and labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from followup.console.chart import LABEL_WIDTH, Score, date_ticks, label_rows, pain_chart

NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2026, 10, 20, 15, 0, tzinfo=UTC)


def test_date_ticks_are_local_midnights_few_enough_to_read() -> None:
    for days in (1, 3, 12, 40, 200):
        ticks = date_ticks(START, START + timedelta(days=days), NEW_YORK)
        assert 1 <= len(ticks) <= 5
        local = [t.astimezone(NEW_YORK) for t in ticks]
        assert all((t.hour, t.minute) == (0, 0) for t in local)  # across the DST change too
        gaps = {(b.date() - a.date()).days for a, b in zip(local, local[1:], strict=False)}
        assert len(gaps) <= 1


def test_labels_that_would_touch_go_to_a_second_row_or_are_left_to_the_table() -> None:
    assert label_rows([0, 10, 10 + LABEL_WIDTH, 400]) == [0, 1, 0, 0]
    assert label_rows([0, 5, 10]) == [0, 1, None]


def test_the_chart_has_a_date_axis_and_nothing_but_numbers_and_dates() -> None:
    scores = [Score(START + timedelta(days=d), p) for d, p in ((0, 7), (3, 5), (9, 2))]
    svg = str(pain_chart(scores, [START + timedelta(days=1), START + timedelta(days=2)], NEW_YORK))
    assert re.findall(r'class="date">([^<]*)', svg) == ["Oct 22", "Oct 24", "Oct 26", "Oct 28"]
    assert "<title>visit Oct 21, 2026</title>" in svg and "visit Oct 21</text>" in svg
    assert "<title>7/10 on Oct 20, 11:00</title>" in svg
    assert str(pain_chart([], [], NEW_YORK)) == "<p>No pain scores yet.</p>"
