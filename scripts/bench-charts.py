#!/usr/bin/env python3
"""Draws the operator benchmark's charts from its JSON output (no third-party packages).

    python3 scripts/bench-charts.py [--out docs/bench] [target/bench/operator.json ...]

Several JSON files (runs of different scenarios, e.g. with BENCH_JSON set per run) are merged,
later files winning per section. Writes, from whichever sections they hold:
  latency.svg  apply → Secret with a working token: distribution of the samples per connection
  scaling.svg  time until all Ready and operator RSS against the number of ApiCredentials
  peer.svg     time to provision credentials: the operator against the official SDK's script
"""

import json
import math
import sys
from pathlib import Path

W, H = 720, 360
FONT = 'font-family="sans-serif" font-size="12"'
COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd']


def esc(text):
    return str(text).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')


class Svg:
    def __init__(self, width=W, height=H):
        self.width, self.height = width, height
        self.parts = [f'<rect width="{width}" height="{height}" fill="white"/>']

    def text(self, x, y, text, anchor='start', size=12, weight='normal', color='#222', rotate=None):
        transform = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate else ''
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-family="sans-serif" '
                          f'font-size="{size}" font-weight="{weight}" fill="{color}"{transform}>{esc(text)}</text>')

    def line(self, x1, y1, x2, y2, color='#222', width=1, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ''
        self.parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
                          f'stroke-width="{width}"{d}/>')

    def polyline(self, points, color, width=2):
        pts = ' '.join(f'{x:.1f},{y:.1f}' for x, y in points)
        self.parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="{width}"/>')

    def circle(self, x, y, color, r=3.5):
        self.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{color}"/>')

    def rect(self, x, y, w, h, color):
        self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{color}"/>')

    def save(self, path):
        body = '\n'.join(self.parts)
        Path(path).write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
                              f'height="{self.height}" viewBox="0 0 {self.width} {self.height}">\n{body}\n</svg>\n')
        print(f'wrote {path}')


class Axes:
    """A plot area with linear or log10 scales."""

    def __init__(self, svg, box, xr, yr, xlog=False, ylog=False):
        self.svg, (self.x0, self.y0, self.x1, self.y1) = svg, box
        self.xr, self.yr, self.xlog, self.ylog = xr, yr, xlog, ylog

    @staticmethod
    def _t(v, r, log):
        if log:
            return (math.log10(v) - math.log10(r[0])) / (math.log10(r[1]) - math.log10(r[0]))
        return (v - r[0]) / (r[1] - r[0])

    def px(self, x):
        return self.x0 + self._t(x, self.xr, self.xlog) * (self.x1 - self.x0)

    def py(self, y):
        return self.y1 - self._t(y, self.yr, self.ylog) * (self.y1 - self.y0)

    def frame(self, xticks, yticks, xlabel, ylabel, xfmt=str, yfmt=str):
        s = self.svg
        for t in xticks:
            s.line(self.px(t), self.y0, self.px(t), self.y1, '#e5e5e5')
            s.text(self.px(t), self.y1 + 16, xfmt(t), 'middle')
        for t in yticks:
            s.line(self.x0, self.py(t), self.x1, self.py(t), '#e5e5e5')
            s.text(self.x0 - 6, self.py(t) + 4, yfmt(t), 'end')
        s.line(self.x0, self.y1, self.x1, self.y1)
        s.line(self.x0, self.y0, self.x0, self.y1)
        s.text((self.x0 + self.x1) / 2, self.y1 + 34, xlabel, 'middle')
        s.text(self.x0 - 50, (self.y0 + self.y1) / 2, ylabel, 'middle', rotate=-90)


def nice_max(v):
    if v <= 0:
        return 1
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * exp >= v:
            return m * exp
    return 10 * exp


def percentile(sorted_values, q):
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_chart(data, commit, path):
    runs = [r for r in data if r.get('samples_ms')]
    if not runs:
        return
    svg = Svg()
    svg.text(W / 2, 22, 'apply → Secret with a working token (Control Hub latency 0)', 'middle', 14, 'bold')
    top = nice_max(max(max(r['samples_ms']) for r in runs) * 1.05)
    ax = Axes(svg, (80, 40, W - 30, H - 60), (0, top), (0, 1))
    step = top / 5
    ax.frame([i * step for i in range(6)], [0, 0.25, 0.5, 0.75, 1.0], 'milliseconds (cumulative share of samples)',
             'share of samples ≤ x', lambda v: f'{v:g}', lambda v: f'{v:.0%}')
    if top >= 50:
        svg.line(ax.px(50), ax.y0, ax.px(50), ax.y1, '#888', 1, '4 3')
        svg.text(ax.px(50) + 4, ax.py(0.6), 'goal p99 ≤ 50 ms', color='#666')
    for i, run in enumerate(runs):
        values = sorted(run['samples_ms'])
        color = COLORS[i % len(COLORS)]
        points = []
        for k, v in enumerate(values):
            points += [(ax.px(v), ax.py(k / len(values))), (ax.px(v), ax.py((k + 1) / len(values)))]
        svg.polyline(points, color)
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        name = {'tuned': 'tuned connection', 'defaults': 'connection defaults'}.get(run.get('mode'), run['label'])
        svg.text(ax.x1 - 6, ax.py(0.3) - 16 * (len(runs) - 1 - i),
                 f'{name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(values)})', 'end', color=color)
    svg.text(W - 8, H - 6, f'commit {commit}', 'end', 10, color='#888')
    svg.save(path)


def scaling_chart(points, commit, path):
    points = sorted((p for p in points if p.get('count')), key=lambda p: p['count'])
    if not points:
        return
    svg = Svg(W, H)
    svg.text(W / 2, 22, 'ApiCredentials (10 per owner; Control Hub latency 50 ms, 32 in flight)', 'middle', 14, 'bold')
    counts = [p['count'] for p in points]
    xr = (10 ** math.floor(math.log10(min(counts))), 10 ** math.ceil(math.log10(max(counts))))
    if xr[0] == xr[1]:
        xr = (xr[0] / 10, xr[1] * 10)
    xticks = [10 ** e for e in range(int(math.log10(xr[0])), int(math.log10(xr[1])) + 1)]
    half = W / 2
    # Left: time until all Ready (log scale: it spans two decades of N).
    times = [p['ready_s'] for p in points if p.get('ready_s')]
    ylo = 10 ** math.floor(math.log10(min(times))) if times else 0.1
    yhi = 10 ** math.ceil(math.log10(max(times) * 1.01)) if times else 10
    ax = Axes(svg, (75, 50, half - 40, H - 60), xr, (ylo, yhi), xlog=True, ylog=True)
    yticks = [10 ** e for e in range(round(math.log10(ylo)), round(math.log10(yhi)) + 1)]
    ax.frame(xticks, yticks, 'ApiCredentials', 'operator start → all Ready (s)',
             lambda v: f'{v:,.0f}', lambda v: f'{v:g}')
    pts = [(ax.px(p['count']), ax.py(p['ready_s'])) for p in points if p.get('ready_s')]
    if len(pts) > 1:
        svg.polyline(pts, COLORS[0])
    for i, p in enumerate(p for p in points if not p.get('ready_s')):
        svg.text((ax.x0 + ax.x1) / 2, ax.y0 + 20 + 16 * i,
                 f'{p["count"]:,}: only {p.get("ready_count", "?"):,} became Ready', 'middle', color=COLORS[1])
    for i, p in enumerate(points):
        if p.get('ready_s'):
            x, y = ax.px(p['count']), ax.py(p['ready_s'])
            svg.circle(x, y, COLORS[0])
            dx, anchor = (6, 'start') if i == 0 else (-6, 'end')
            svg.text(x + dx, y - 8, f'{p["ready_s"]:.1f} s', anchor, color=COLORS[0])
    # Right: RSS.
    rss = [max(p.get('rss_after_resync_mib') or 0, p.get('rss_ready_mib') or 0) for p in points]
    mmax = nice_max(max(max(rss), 64) * 1.15)
    ax = Axes(svg, (half + 70, 50, W - 40, H - 60), xr, (0, mmax), xlog=True)
    ax.frame(xticks, [mmax * i / 5 for i in range(6)], 'ApiCredentials', 'operator RSS (MiB)',
             lambda v: f'{v:,.0f}', lambda v: f'{v:g}')
    svg.line(ax.x0, ax.py(64), ax.x1, ax.py(64), '#888', 1, '4 3')
    svg.text(ax.x0 + 4, ax.py(64) - 4, 'goal ≤ 64 MiB at 10,000', color='#666')
    for key, label, color in (('rss_ready_mib', 'when all Ready', COLORS[2]),
                              ('rss_after_resync_mib', 'after a resync', COLORS[1])):
        pts = [(ax.px(p['count']), ax.py(p[key])) for p in points if p.get(key)]
        if len(pts) > 1:
            svg.polyline(pts, color)
        for x, y in pts:
            svg.circle(x, y, color)
    svg.text(ax.x0 + 4, ax.y0 + 12, 'when all Ready', color=COLORS[2])
    svg.text(ax.x0 + 4, ax.y0 + 28, 'after a resync', color=COLORS[1])
    for i, p in enumerate(points):
        v = p.get('rss_after_resync_mib')
        if v:
            dx, anchor = (6, 'start') if i == 0 else (-6, 'end')
            svg.text(ax.px(p['count']) + dx, ax.py(v) + 16, f'{v:.1f}', anchor, color=COLORS[1])
    svg.text(W - 8, H - 6, f'commit {commit}', 'end', 10, color='#888')
    svg.save(path)


def peer_chart(peer, commit, path):
    if not peer:
        return
    loop = peer['sdk_loop']
    per = loop['elapsed_s'] / max(loop['count'], 1)
    bars = []
    small = peer['operator_defaults']['count']
    big = peer['operator_tuned']['count']
    bars.append((f'{small}: SDK loop', per * small, COLORS[1]))
    for key, label, color in (('operator_defaults', 'operator, connection defaults', COLORS[0]),
                              ('operator_tuned_small', 'operator, tuned connection', COLORS[2])):
        if peer[key].get('ready_s'):
            bars.append((f'{small}: {label}', peer[key]['ready_s'], color))
    extrapolated = '' if loop['count'] == big else ' (extrapolated)'
    bars.append((f'{big}: SDK loop{extrapolated}', per * big, COLORS[1]))
    pool = peer['sdk_pool']
    bars.append((f'{pool["count"]}: SDK thread pool of {pool["threads"]}', pool['elapsed_s'], COLORS[3]))
    if peer['operator_tuned'].get('ready_s'):
        bars.append((f'{big}: operator, tuned connection', peer['operator_tuned']['ready_s'], COLORS[2]))
    height = 70 + 30 * len(bars) + 40
    svg = Svg(W, height)
    svg.text(W / 2, 22, f'credentials provisioned (Control Hub latency {peer["latency_ms"]} ms; log scale)',
             'middle', 14, 'bold')
    top = max(b[1] for b in bars)
    lo = 10 ** math.floor(math.log10(min(b[1] for b in bars)))
    ax = Axes(svg, (300, 40, W - 90, 40 + 30 * len(bars)), (lo, 10 ** math.ceil(math.log10(top))), (0, 1), xlog=True)
    for e in range(int(math.log10(ax.xr[0])), int(math.log10(ax.xr[1])) + 1):
        svg.line(ax.px(10 ** e), ax.y0, ax.px(10 ** e), ax.y1, '#e5e5e5')
        svg.text(ax.px(10 ** e), ax.y1 + 16, f'{10 ** e:g} s', 'middle')
    for i, (label, secs, color) in enumerate(bars):
        y = ax.y0 + 30 * i + 5
        svg.rect(ax.x0, y, max(ax.px(secs) - ax.x0, 1), 20, color)
        svg.text(ax.x0 - 6, y + 14, label, 'end')
        svg.text(ax.px(secs) + 4, y + 14, f'{secs:.1f} s')
    svg.text(W - 8, height - 6, f'commit {commit}', 'end', 10, color='#888')
    svg.save(path)


def main():
    args = sys.argv[1:]
    out = Path('docs/bench')
    if len(args) >= 2 and args[0] == '--out':
        out, args = Path(args[1]), args[2:]
    sources = [Path(a) for a in args] or [Path('target/bench/operator.json')]
    out.mkdir(parents=True, exist_ok=True)
    data, commits = {}, []
    for source in sources:
        part = json.loads(source.read_text())
        commits.append(part.get('commit', '?'))
        data.update(part)
    commit = ', '.join(dict.fromkeys(commits))
    latency_chart(data.get('latency', []), commit, out / 'latency.svg')
    scaling_chart(data.get('curve', []), commit, out / 'scaling.svg')
    peer_chart(data.get('peer'), commit, out / 'peer.svg')


if __name__ == '__main__':
    main()
