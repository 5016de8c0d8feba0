#!/usr/bin/env python3
"""Draws msg/s against concurrent sessions, one line per path, from the CSV that
scripts/bench-side-by-side.sh writes with BENCH_CSV and BENCH_SWEEP. Standard library only.

Usage: scripts/plot-sweep.py RESULTS.csv OUTPUT.svg
"""
import csv
import math
import sys

COLOURS = {"proxy": "#1f77b4", "postfix": "#d62728", "direct": "#2ca02c"}
LABELS = {
    "proxy": "smtp-tls-proxy (plaintext senders)",
    "postfix": "Postfix relay (plaintext senders)",
    "direct": "straight to the sink (senders do TLS 1.2)",
}
WIDTH, HEIGHT = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 110


def read(path):
    series = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["section"] != "sweep":
                continue
            series.setdefault(row["path"], []).append((int(row["sessions"]), float(row["msg_per_s"])))
    for points in series.values():
        points.sort()
    return series


def nice_ceiling(value):
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def svg(series):
    sessions = sorted({s for points in series.values() for s, _ in points})
    top = nice_ceiling(max(v for points in series.values() for _, v in points))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    # Sessions on a log scale: 1 to 100 spreads evenly.
    lo, hi = math.log(sessions[0]), math.log(sessions[-1]) if len(sessions) > 1 else math.log(sessions[0]) + 1

    def x(s):
        return LEFT + (math.log(s) - lo) / (hi - lo) * plot_w

    def y(v):
        return TOP + plot_h - v / top * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15">'
           f'1 KiB messages end to end, one message per connection: msg/s by concurrent sessions</text>']
    for i in range(6):
        v = top * i / 5
        out.append(f'<line x1="{LEFT}" y1="{y(v):.1f}" x2="{WIDTH - RIGHT}" y2="{y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for s in sessions:
        out.append(f'<line x1="{x(s):.1f}" y1="{TOP}" x2="{x(s):.1f}" y2="{TOP + plot_h}" stroke="#eee"/>')
        out.append(f'<text x="{x(s):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{s}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h + 38}" text-anchor="middle">concurrent sessions</text>')
    out.append(f'<text x="18" y="{TOP + plot_h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 18 {TOP + plot_h / 2})">messages per second</text>')
    for n, path in enumerate(p for p in ("proxy", "postfix", "direct") if p in series):
        colour = COLOURS[path]
        points = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in series[path])
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for s, v in series[path]:
            out.append(f'<circle cx="{x(s):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}"/>')
        ly = HEIGHT - BOTTOM + 58 + n * 17
        out.append(f'<line x1="{LEFT}" y1="{ly - 4}" x2="{LEFT + 24}" y2="{ly - 4}" stroke="{colour}" stroke-width="2.5"/>')
        out.append(f'<text x="{LEFT + 32}" y="{ly}">{LABELS[path]}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot-sweep.py RESULTS.csv OUTPUT.svg")
    series = read(sys.argv[1])
    if not series:
        sys.exit(f"{sys.argv[1]}: no sweep rows (run the benchmark with BENCH_SWEEP)")
    with open(sys.argv[2], "w") as f:
        f.write(svg(series))


if __name__ == "__main__":
    main()
