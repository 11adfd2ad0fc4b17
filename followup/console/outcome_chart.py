"""The outcomes chart: each group's mean change in pain and in the PSFS as horizontal
bars, with the minimal clinically important difference marked; SVG drawn on the
server (no script, no library). Only names of groups and numbers go into it."""

from __future__ import annotations

from markupsafe import Markup, escape

from followup.care.measures import PSFS_MCID
from followup.care.outcomes import OutcomeSummary

WIDTH, LABEL, RIGHT, TOP, ROW, BAR = 640, 160, 24, 28, 44, 14


def outcomes_chart(rows: list[OutcomeSummary]) -> Markup:
    """Bars of mean pain change (fall in pain) and PSFS change per group."""
    drawn = [r for r in rows if r.pain_change is not None or r.psfs_change is not None]
    if not drawn:
        return Markup("<p>No changes to draw yet: a change needs two measurements.</p>")
    values = [v for r in drawn for v in (r.pain_change, r.psfs_change) if v is not None]
    low, high = min(-2.0, *values), max(PSFS_MCID + 2, *values)
    height = TOP + ROW * len(drawn) + 24
    plot = WIDTH - LABEL - RIGHT

    def x(value: float) -> float:
        return LABEL + plot * (value - low) / (high - low)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        'aria-labelledby="outcomes-title" class="chart">',
        '<title id="outcomes-title">Mean change per group: fall in pain (0-10) and rise in '
        "PSFS (0-10); the dashed line is the minimal important difference, 2 points</title>",
        f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{TOP - 8}" y2="{height - 20}" class="grid"/>',
        f'<line x1="{x(PSFS_MCID):.1f}" x2="{x(PSFS_MCID):.1f}" y1="{TOP - 8}" '
        f'y2="{height - 20}" class="visit"/>',
        f'<text x="{x(PSFS_MCID):.1f}" y="{TOP - 12}" text-anchor="middle">MCID</text>',
        f'<text x="{x(0):.1f}" y="{height - 6}" text-anchor="middle">0</text>',
    ]
    for index, row in enumerate(drawn):
        top = TOP + ROW * index
        parts.append(
            f'<text x="{LABEL - 8}" y="{top + BAR + 4}" text-anchor="end">{escape(row.group)}</text>'
        )
        for offset, (name, value, css) in enumerate(
            (("pain", row.pain_change, "line"), ("PSFS", row.psfs_change, "point"))
        ):
            if value is None:
                continue
            y = top + offset * (BAR + 2)
            left, right = sorted((x(0), x(value)))
            parts.append(
                f'<rect x="{left:.1f}" y="{y}" width="{max(right - left, 1):.1f}" '
                f'height="{BAR}" class="bar {css}"><title>{escape(row.group)}: {name} '
                f"{value:+.1f}</title></rect>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
