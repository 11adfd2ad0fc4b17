"""The pain chart: 0–10 over time, drawn on the server as SVG (no script, no library).

Each score is a point (a reply or a one-tap answer), joined in time order; visits are
dashed vertical lines labelled above the plot, on a second row when two would touch,
and the dates run along the bottom on the clinic's clock. The drawing is narrow, so
its text stays readable when a phone shrinks it; the same scores are also a table on
the page (for screen readers, and for reading exact values). Only numbers and dates go
into the drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup

WIDTH, HEIGHT = 480, 270
LEFT, RIGHT, TOP, BOTTOM = 34, 18, 56, 34
# About how wide a label is in drawing units (15-unit text, "visit Oct 28").
LABEL_WIDTH = 90
DATE_WIDTH = 60
TICK_STEPS_DAYS = (1, 2, 3, 7, 14, 28, 56, 91, 182, 364)
MOST_TICKS = 5


@dataclass(frozen=True)
class Score:
    at: datetime
    pain: int


def pain_chart(scores: list[Score], visits: list[datetime], zone: ZoneInfo) -> Markup:
    """An SVG of `scores` with `visits` marked; a sentence when there is nothing to draw."""
    if not scores:
        return Markup("<p>No pain scores yet.</p>")
    times = [s.at for s in scores] + visits
    start, end = min(times), max(times)
    if end - start < timedelta(days=1):
        start, end = start - timedelta(hours=12), end + timedelta(hours=12)
    span = (end - start).total_seconds()
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: datetime) -> float:
        return LEFT + plot_width * (moment - start).total_seconds() / span

    def y(pain: int) -> float:
        return TOP + plot_height * (10 - pain) / 10

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'role="img" aria-labelledby="pain-title" class="chart">',
        '<title id="pain-title">Pain scores over time, 0 (none) to 10 (worst); '
        "the table below lists them</title>",
    ]
    for level in (0, 5, 10):
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
            'class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y(level) + 5:.1f}" text-anchor="end">{level}</text>'
        )
    for tick in date_ticks(start, end, zone):
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{HEIGHT - BOTTOM}" '
            f'y2="{HEIGHT - BOTTOM + 5}" class="grid"/>'
            f'<text x="{x(tick):.1f}" y="{HEIGHT - 10}" text-anchor="middle" class="date">'
            f"{tick.astimezone(zone):%b} {tick.astimezone(zone).day}</text>"
        )
    for visit, row in zip(visits, label_rows([x(v) for v in visits]), strict=True):
        local = visit.astimezone(zone)
        parts.append(
            f'<line x1="{x(visit):.1f}" x2="{x(visit):.1f}" y1="{TOP - 4}" '
            f'y2="{HEIGHT - BOTTOM}" class="visit"><title>visit {local:%b} {local.day}, {local.year}</title></line>'
        )
        if row is not None:
            anchor_x = min(max(x(visit), LEFT + LABEL_WIDTH / 2), WIDTH - LABEL_WIDTH / 2)
            parts.append(
                f'<text x="{anchor_x:.1f}" y="{20 + 20 * row}" text-anchor="middle">'
                f"visit {local:%b} {local.day}</text>"
            )
    ordered = sorted(scores, key=lambda score: score.at)
    path = " ".join(f"{x(s.at):.1f},{y(s.pain):.1f}" for s in ordered)
    parts.append(f'<polyline points="{path}" class="line"/>')
    for score in ordered:
        local = score.at.astimezone(zone)
        parts.append(
            f'<circle cx="{x(score.at):.1f}" cy="{y(score.pain):.1f}" r="5" class="point">'
            f"<title>{score.pain}/10 on {local:%b} {local.day}, {local:%H:%M}</title></circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def date_ticks(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Local midnights from `start` to `end`, a whole number of days apart, few enough
    that their labels do not touch."""
    days = (end - start).days + 1
    room = max(1, min(MOST_TICKS, int((WIDTH - LEFT - RIGHT) // DATE_WIDTH)))
    step = next((s for s in TICK_STEPS_DAYS if days / s <= room), TICK_STEPS_DAYS[-1])
    first = start.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    ticks, day = [], first
    while day <= end:
        if day >= start:
            ticks.append(day)
        day = (day + timedelta(days=step, hours=2)).replace(hour=0)  # through DST changes
    return ticks


def label_rows(xs: list[float]) -> list[int | None]:
    """For labels centred at `xs`: row 0 or 1 so none touches its neighbour on the row,
    or None when both rows are taken there (the line and the table still show it)."""
    last: list[float] = [float("-inf"), float("-inf")]
    rows: list[int | None] = []
    for position in xs:
        row = next((r for r in (0, 1) if position - last[r] >= LABEL_WIDTH), None)
        if row is not None:
            last[row] = position
        rows.append(row)
    return rows
