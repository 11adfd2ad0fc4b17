"""The pain chart: 0–10 over time, drawn on the server as SVG (no script, no library).

Each score is a point (a reply or a one-tap answer); the points are joined in time
order; visits are dashed vertical lines. Only numbers and dates go into the drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 36, 16, 16, 36


@dataclass(frozen=True)
class Score:
    at: datetime
    pain: int


def pain_chart(scores: list[Score], visits: list[datetime]) -> Markup:
    """An SVG of `scores` with `visits` marked; a sentence when there is nothing to draw."""
    if not scores:
        return Markup("<p>No pain scores yet.</p>")
    times = [s.at for s in scores] + visits
    start, end = min(times), max(times)
    span = max((end - start).total_seconds(), 1.0)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: datetime) -> float:
        return LEFT + plot_width * (moment - start).total_seconds() / span

    def y(pain: int) -> float:
        return TOP + plot_height * (10 - pain) / 10

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'role="img" aria-labelledby="pain-title" class="chart">',
        '<title id="pain-title">Pain scores over time, 0 (none) to 10 (worst)</title>',
    ]
    for level in (0, 5, 10):
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
            'class="grid"/>'
            f'<text x="{LEFT - 8}" y="{y(level) + 4:.1f}" text-anchor="end">{level}</text>'
        )
    for visit in visits:
        parts.append(
            f'<line x1="{x(visit):.1f}" x2="{x(visit):.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
            f'class="visit"><title>visit {visit:%Y-%m-%d}</title></line>'
            f'<text x="{x(visit):.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
            f"visit {visit:%b %d}</text>"
        )
    ordered = sorted(scores, key=lambda score: score.at)
    path = " ".join(f"{x(s.at):.1f},{y(s.pain):.1f}" for s in ordered)
    parts.append(f'<polyline points="{path}" class="line"/>')
    for score in ordered:
        parts.append(
            f'<circle cx="{x(score.at):.1f}" cy="{y(score.pain):.1f}" r="4" class="point">'
            f"<title>{score.pain}/10 on {score.at:%Y-%m-%d %H:%M} UTC</title></circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
