"""The mastery-over-time chart as inline SVG, drawn on the server (no script, prints as it shows)."""

from __future__ import annotations

from datetime import date
from html import escape

WIDTH, HEIGHT, PAD = 640, 220, 40


def mastery_svg(series: list[tuple[date, int]], *, total: int, title: str, describe) -> str:
    """`describe(day, count)` words one point for screen readers in the page's language."""
    if not series:
        return ""
    top = max(total, max(n for _, n in series), 1)
    first, last = series[0][0], series[-1][0]
    span = max((last - first).days, 1)

    def x(day: date) -> float:
        return PAD + (WIDTH - 2 * PAD) * (day - first).days / span

    def y(n: int) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * n / top

    points = " ".join(f"{x(d):.1f},{y(n):.1f}" for d, n in series)
    dots = "".join(f'<circle cx="{x(d):.1f}" cy="{y(n):.1f}" r="3.5"><title>{escape(describe(d, n))}</title></circle>'
                   for d, n in series)
    grid = "".join(f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
                   f'<text x="{PAD - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>'
                   for v in sorted({0, top // 2, top}))
    labels = (f'<text x="{PAD}" y="{HEIGHT - 12}">{escape(describe(first, series[0][1]).split(":")[0])}</text>'
              f'<text x="{WIDTH - PAD}" y="{HEIGHT - 12}" text-anchor="end">'
              f'{escape(describe(last, series[-1][1]).split(":")[0])}</text>')
    summary = "; ".join(describe(d, n) for d, n in series)
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" '
            f'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{escape(title)}</title>'
            f'<desc id="chart-desc">{escape(summary)}</desc>{grid}'
            f'<polyline points="{points}" class="line"/>{dots}{labels}</svg>')
