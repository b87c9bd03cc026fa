"""Small server-rendered SVG charts (no scripts, no external files): bars, lines, a fan.

Each function returns SVG markup (``markupsafe.Markup``) sized by ``viewBox`` so it scales
with the page; labels are escaped.
"""

from __future__ import annotations

from typing import Sequence

from markupsafe import Markup, escape

POSITIVE, NEGATIVE, LINE, BAND, GRID = "#2b8a3e", "#c92a2a", "#1c7ed6", "#a5d8ff", "#dee2e6"


def _svg(width: int, height: int, body: list[str], label: str) -> Markup:
    return Markup(f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
                  f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
                  + "".join(body) + "</svg>")


def bar_chart(items: Sequence[tuple[str, float]], label: str, width: int = 640) -> Markup:
    """Horizontal bars from a zero line: positive to the right (green), negative left (red)."""
    row, text_w = 26, width * 0.55
    height = max(row * len(items) + 10, 30)
    largest = max((abs(v) for _, v in items), default=1.0) or 1.0
    half = (width - text_w - 10) / 2
    zero = text_w + half
    body = [f'<line x1="{zero:.1f}" y1="0" x2="{zero:.1f}" y2="{height}" stroke="{GRID}"/>']
    for i, (name, value) in enumerate(items):
        y = 5 + i * row
        length = abs(value) / largest * (half - 4)
        x = zero if value >= 0 else zero - length
        colour = POSITIVE if value >= 0 else NEGATIVE
        body.append(f'<text x="{text_w - 6:.0f}" y="{y + 16}" text-anchor="end" '
                    f'font-size="12">{escape(_clip(name, 52))}</text>'
                    f'<rect x="{x:.1f}" y="{y + 4}" width="{max(length, 1):.1f}" height="16" '
                    f'fill="{colour}"><title>{escape(name)}: {value:+.3f}</title></rect>')
    return _svg(width, height, body, label)


def line_chart(series: dict[str, Sequence[tuple[float, float]]], label: str, *,
               x_labels: Sequence[tuple[float, str]] = (), y_range: tuple[float, float]
               | None = None, band: Sequence[tuple[float, float, float]] = (),
               hline: tuple[float, str] | None = None, diagonal: bool = False,
               width: int = 640, height: int = 260) -> Markup:
    """Lines (one colour each, legend on top), an optional shaded band (x, low, high), a
    horizontal reference line (value, label) and the y = x diagonal (calibration)."""
    xs = [x for pts in series.values() for x, _ in pts] + [b[0] for b in band] or [0.0, 1.0]
    ys = ([y for pts in series.values() for _, y in pts] + [b[1] for b in band]
          + [b[2] for b in band] + ([hline[0]] if hline else []) or [0.0, 1.0])
    y0, y1 = y_range or (min(0.0, min(ys)), max(ys) * 1.05 or 1.0)
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    left, top, right, bottom = 60, 24, width - 24, height - 28

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (right - left)

    def py(y: float) -> float:
        return bottom - (y - y0) / ((y1 - y0) or 1) * (bottom - top)

    body = [f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#868e96"/>']
    for k in range(5):
        value = y0 + (y1 - y0) * k / 4
        body.append(f'<line x1="{left}" y1="{py(value):.1f}" x2="{right}" y2="{py(value):.1f}" '
                    f'stroke="{GRID}"/><text x="{left - 4}" y="{py(value) + 4:.1f}" '
                    f'text-anchor="end" font-size="11">{_number(value)}</text>')
    for x, text in x_labels:
        body.append(f'<text x="{px(x):.1f}" y="{bottom + 16}" text-anchor="middle" '
                    f'font-size="11">{escape(text)}</text>')
    if band:
        upper = " ".join(f"{px(x):.1f},{py(hi):.1f}" for x, _, hi in band)
        lower = " ".join(f"{px(x):.1f},{py(lo):.1f}" for x, lo, _ in reversed(band))
        body.append(f'<polygon points="{upper} {lower}" fill="{BAND}" opacity="0.7"/>')
    if diagonal:
        body.append(f'<line x1="{px(x0):.1f}" y1="{py(y0):.1f}" x2="{px(x1):.1f}" '
                    f'y2="{py(y1):.1f}" stroke="#adb5bd" stroke-dasharray="4 3"/>')
    if hline:
        body.append(f'<line x1="{left}" y1="{py(hline[0]):.1f}" x2="{right}" '
                    f'y2="{py(hline[0]):.1f}" stroke="{NEGATIVE}" stroke-dasharray="6 4"/>'
                    f'<text x="{right}" y="{py(hline[0]) - 4:.1f}" text-anchor="end" '
                    f'font-size="11" fill="{NEGATIVE}">{escape(hline[1])}</text>')
    colours = [LINE, "#212529", "#e8590c", "#7048e8"]
    for i, (name, points) in enumerate(series.items()):
        colour = colours[i % len(colours)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                    f'stroke-width="2"/>')
        body += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}">'
                 f'<title>{_number(y)}</title></circle>' for x, y in points]
        body.append(f'<text x="{left + 8 + i * 120}" y="14" font-size="12" '
                    f'fill="{colour}">■ {escape(name)}</text>')
    return _svg(width, height, body, label)


def column_chart(items: Sequence[tuple[str, float]], label: str, *,
                 reference: float | None = None, width: int = 640,
                 height: int = 220) -> Markup:
    """Vertical columns (e.g. lift by decile) with an optional reference line (e.g. 1.0)."""
    top, bottom, left = 16, height - 24, 40
    largest = max([v for _, v in items] + [reference or 0.0, 1e-9])
    step = (width - left - 10) / max(len(items), 1)
    body = []
    for i, (name, value) in enumerate(items):
        h = value / largest * (bottom - top)
        x = left + i * step + step * 0.15
        body.append(f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{step * 0.7:.1f}" '
                    f'height="{h:.1f}" fill="{LINE}"><title>{escape(name)}: {_number(value)}'
                    f'</title></rect><text x="{x + step * 0.35:.1f}" y="{bottom + 14}" '
                    f'text-anchor="middle" font-size="11">{escape(name)}</text>'
                    f'<text x="{x + step * 0.35:.1f}" y="{bottom - h - 3:.1f}" '
                    f'text-anchor="middle" font-size="10">{_number(value)}</text>')
    if reference is not None:
        y = bottom - reference / largest * (bottom - top)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" '
                    f'stroke="{NEGATIVE}" stroke-dasharray="5 4"/>')
    return _svg(width, height, body, label)


def _number(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.2f}" if abs(value) < 10 and value != int(value) else f"{value:.0f}"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
