#!/usr/bin/env python3
"""Turns the raw rounds of benchmarks/run.sh into the Markdown report and the SVG chart.

usage: report.py --rounds FILE --meta FILE --notes FILE --markdown OUT.md --svg OUT.svg

The rounds file has one measurement per line as space-separated key=value fields (see run.sh's
`record`). Statistics, the same everywhere:
  - a figure per target is the median over its rounds; spread is min–max over the rounds;
  - p50/p99 are each round's percentile (wrk's or openloop's), then the median over rounds;
  - a ratio to nginx is the median of the per-round ratios: round r of a target is divided by
    round r of nginx, measured minutes apart at most, so both saw the same machine.
Standard library only: the chart is SVG text written here.
"""
import argparse
import html
import math
import statistics

REFERENCE = "nginx"


# ------------------------------------------------------------------ reading

def read_rounds(path):
    rows = []
    with open(path) as f:
        for line in f:
            fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if fields:
                rows.append(fields)
    return rows


def read_lines(path):
    try:
        with open(path) as f:
            return [line.rstrip("\n") for line in f if line.strip()]
    except OSError:
        return []


def meta_dict(lines):
    out = {}
    for line in lines:
        key, _, value = line.partition(": ")
        out[key] = value
    return out


# ------------------------------------------------------------------ statistics

class Series:
    """One figure of one target in one scenario, per round."""

    def __init__(self):
        self.by_round = {}

    def add(self, rnd, value):
        self.by_round[rnd] = value

    def values(self):
        return list(self.by_round.values())

    def median(self):
        v = self.values()
        return statistics.median(v) if v else None

    def spread(self):
        v = self.values()
        return (min(v), max(v)) if v else (None, None)

    def ratio_to(self, other):
        """Median of per-round ratios, over the rounds both have."""
        pairs = [self.by_round[r] / other.by_round[r] for r in self.by_round
                 if r in other.by_round and other.by_round[r]]
        return statistics.median(pairs) if pairs else None


def collect(rows, kind, figures):
    """{scenario: {target: {figure: Series}}} for rows of one kind; figures maps name -> fn(row)."""
    out = {}
    for row in rows:
        if row.get("kind") != kind:
            continue
        per_target = out.setdefault(row["scenario"], {}).setdefault(row["target"], {})
        for name, fn in figures.items():
            value = fn(row)
            if value is not None:
                per_target.setdefault(name, Series()).add(row["round"], value)
    return out


def num(row, key):
    return float(row[key])


LOAD_FIGURES = {
    "rps": lambda r: num(r, "requests") / num(r, "duration_us") * 1e6,
    "p50": lambda r: num(r, "p50_us") / 1000,
    "p99": lambda r: num(r, "p99_us") / 1000,
    "cpu_per_req": lambda r: num(r, "cpu_us") / num(r, "requests") if num(r, "requests") else None,
    "cpu_pct": lambda r: num(r, "cpu_us") / num(r, "duration_us") * 100,
    "errors": lambda r: num(r, "errors"),
}

RATE_FIGURES = {
    "rps": lambda r: num(r, "completed") / num(r, "duration_us") * 1e6,
    "p50": lambda r: num(r, "p50_us") / 1000,
    "p99": lambda r: num(r, "p99_us") / 1000,
    "p999": lambda r: num(r, "p999_us") / 1000,
    "max": lambda r: num(r, "max_us") / 1000,
    "lag_p99": lambda r: num(r, "lag_p99_us") / 1000,
    "cpu_per_req": lambda r: num(r, "cpu_us") / num(r, "completed") if num(r, "completed") else None,
    "errors": lambda r: num(r, "errors") + num(r, "incomplete"),
}

IDLE_FIGURES = {
    "before": lambda r: num(r, "before_kib") / 1024,
    "with": lambda r: num(r, "with_kib") / 1024,
    "after": lambda r: num(r, "after_kib") / 1024,
    "per_conn": lambda r: (num(r, "with_kib") - num(r, "before_kib")) / num(r, "opened") if num(r, "opened") else None,
    "after_pct": lambda r: num(r, "after_kib") / num(r, "before_kib") * 100 if num(r, "before_kib") else None,
    "failed": lambda r: num(r, "failed") + num(r, "dropped"),
}


# ------------------------------------------------------------------ formatting

def fmt(value, digits=2):
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def fmt_spread(series, digits=2):
    lo, hi = series.spread() if series else (None, None)
    return "–" if lo is None else f"{fmt(lo, digits)}–{fmt(hi, digits)}"


def fmt_ratio(value):
    return "–" if value is None else f"{value:.2f}"


def compact(value):
    """Short label for a chart: 75.3k, 1.23, 812."""
    if value is None:
        return ""
    if value < 1000 and value == int(value):
        return f"{value:.0f}"
    if value >= 10000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def scenario_label(scenario, conns):
    kind, _, count = scenario.partition("-")
    if kind == "get":
        return f"GET 38 B, {count} conns"
    if kind == "post":
        return f"POST 1 KiB, {count} conns"
    if scenario == "download":
        return f"GET 1 MiB, {conns} conns"
    if scenario == "upload":
        return f"POST 1 MiB, {conns} conns"
    if scenario == "tls-get":
        return f"HTTPS GET 38 B, {conns} conns"
    if scenario == "tls-handshake":
        return f"HTTPS, a new TLS handshake per request, {conns} conns"
    return scenario


def idle_label(scenario):
    return "idle TLS connections" if scenario == "tls-idle-memory" else "idle connections"


def ordered(targets, order):
    return [t for t in order if t in targets] + sorted(t for t in targets if t not in order)


def scenario_conns(rows):
    return {r["scenario"]: r.get("conns", "") for r in rows}


# ------------------------------------------------------------------ markdown

def load_table(load, order, conns):
    out = ["## Throughput (closed loop, wrk)", "",
           "| scenario | target | req/s | spread (min–max) | p50 ms | p99 ms | CPU µs/req | proxy CPU % "
           "| req/s ÷ nginx | CPU ÷ nginx | errors |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for scenario, targets in load.items():
        ref = targets.get(REFERENCE, {})
        for target in ordered(targets, order):
            f = targets[target]
            rps_ratio = f["rps"].ratio_to(ref["rps"]) if "rps" in ref and target != REFERENCE else None
            cpu_ratio = (f["cpu_per_req"].ratio_to(ref["cpu_per_req"])
                         if "cpu_per_req" in ref and "cpu_per_req" in f and target != REFERENCE else None)
            errors = sum(f["errors"].values()) if "errors" in f else 0
            out.append(f"| {scenario_label(scenario, conns.get(scenario))} | {target} | {fmt(f['rps'].median())} "
                       f"| {fmt_spread(f['rps'])} | {fmt(f['p50'].median())} | {fmt(f['p99'].median())} "
                       f"| {fmt(f['cpu_per_req'].median() if 'cpu_per_req' in f else None, 1)} "
                       f"| {fmt(f['cpu_pct'].median(), 0)} | {fmt_ratio(rps_ratio)} | {fmt_ratio(cpu_ratio)} "
                       f"| {errors:.0f} |")
    return out


def keyed_table(load, order, conns):
    """The keyed path against the same gateway's plain path, per scenario."""
    out = []
    for scenario, targets in load.items():
        for target in ordered(targets, order):
            plain = target[:-len("-keyed")] if target.endswith("-keyed") else None
            if not plain or plain not in targets:
                continue
            if not out:
                out = ["## Keyed path cost (API key, rate limit, concurrency limits, `idempotency optional`)", "",
                       "| scenario | target | req/s keyed ÷ plain | CPU µs/req keyed ÷ plain | p99 keyed ÷ plain |",
                       "|---|---|---:|---:|---:|"]
            k, p = targets[target], targets[plain]
            out.append(f"| {scenario_label(scenario, conns.get(scenario))} | {target} "
                       f"| {fmt_ratio(k['rps'].ratio_to(p['rps']))} "
                       f"| {fmt_ratio(k['cpu_per_req'].ratio_to(p['cpu_per_req']) if 'cpu_per_req' in k and 'cpu_per_req' in p else None)} "
                       f"| {fmt_ratio(k['p99'].ratio_to(p['p99']))} |")
    return out


OBSERVED = {"-metrics": "metrics (admin listener)", "-jsonlog": "metrics and the JSON access log to a file"}


def observe_table(load, rates, order, conns):
    """Each observed variant against its own plain gateway: the cost of metrics and of the log."""
    out = []
    scenarios = [(scenario_label(s, conns.get(s)), t) for s, t in load.items()]
    scenarios += [(f"fixed rate ({s})", t) for s, t in rates.items()]
    for label, targets in scenarios:
        for target in ordered(targets, order):
            suffix = next((s for s in OBSERVED if target.endswith(s)), None)
            plain = target[:-len(suffix)] if suffix else None
            if not plain or plain not in targets:
                continue
            if not out:
                out = ["## Observability cost (each variant ÷ the same gateway with neither)", "",
                       "| scenario | target | what is on | req/s ÷ plain | CPU µs/req ÷ plain | p99 ÷ plain |",
                       "|---|---|---|---:|---:|---:|"]
            o, p = targets[target], targets[plain]
            cpu = o["cpu_per_req"].ratio_to(p["cpu_per_req"]) if "cpu_per_req" in o and "cpu_per_req" in p else None
            out.append(f"| {label} | {target} | {OBSERVED[suffix]} | {fmt_ratio(o['rps'].ratio_to(p['rps']))} "
                       f"| {fmt_ratio(cpu)} | {fmt_ratio(o['p99'].ratio_to(p['p99']))} |")
    return out


def rate_table(rates, rows, order):
    out = []
    for scenario, targets in rates.items():
        rate = next(r["rate"] for r in rows if r.get("kind") == "rate")
        conns = next(r["conns"] for r in rows if r.get("kind") == "rate")
        ref = targets.get(REFERENCE, {})
        out += [f"## Latency at a fixed rate (open loop, {int(float(rate)):,} req/s over {conns} connections)", "",
                "| target | achieved req/s | p50 ms | p99 ms | p99 spread | p99.9 ms | max ms | CPU µs/req "
                "| p99 ÷ nginx | sender lag p99 ms | errors + unanswered |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for target in ordered(targets, order):
            f = targets[target]
            ratio = f["p99"].ratio_to(ref["p99"]) if "p99" in ref and target != REFERENCE else None
            out.append(f"| {target} | {fmt(f['rps'].median())} | {fmt(f['p50'].median())} | {fmt(f['p99'].median())} "
                       f"| {fmt_spread(f['p99'])} | {fmt(f['p999'].median())} | {fmt(f['max'].median())} "
                       f"| {fmt(f['cpu_per_req'].median() if 'cpu_per_req' in f else None, 1)} | {fmt_ratio(ratio)} "
                       f"| {fmt(f['lag_p99'].median())} | {sum(f['errors'].values()):.0f} |")
    return out


def idle_table(idle, rows, order):
    out = []
    for scenario, targets in idle.items():
        count = next(r["conns"] for r in rows if r.get("kind") == "idle")
        ref = targets.get(REFERENCE, {})
        what = "TLS keep-alive" if scenario == "tls-idle-memory" else "keep-alive"
        out += [f"## Idle {what} memory ({int(count):,} connections, one request each, then idle)", "",
                "| target | RSS before MiB | with the idle connections MiB | KiB per idle connection "
                "| spread | ÷ nginx | RSS after close MiB | after ÷ before | failed or dropped |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for target in ordered(targets, order):
            f = targets[target]
            ratio = f["per_conn"].ratio_to(ref["per_conn"]) if "per_conn" in ref and target != REFERENCE else None
            after_pct = f["after_pct"].median() if "after_pct" in f else None
            out.append(f"| {target} | {fmt(f['before'].median(), 1)} | {fmt(f['with'].median(), 1)} "
                       f"| {fmt(f['per_conn'].median())} | {fmt_spread(f['per_conn'])} | {fmt_ratio(ratio)} "
                       f"| {fmt(f['after'].median(), 1)} | {'–' if after_pct is None else f'{after_pct:.0f}%'} "
                       f"| {sum(f['failed'].values()):.0f} |")
    return out


def markdown(meta_lines, notes, rows, load, rates, idle, order, svg_name):
    conns = scenario_conns(rows)
    out = ["# Gateway benchmark", ""]
    out += [f"- {line}" for line in meta_lines]
    out += ["", f"![req/s and p99 per scenario and target]({svg_name})", "",
            "Each figure is the median over the rounds; spread is min–max over the rounds. p50/p99 are each "
            "round's percentile, then the median over rounds. Ratios to nginx are the median of per-round ratios "
            "(round r of a target ÷ round r of nginx, measured back to back). CPU µs/req is the proxy's own "
            "user + system time (all its processes and threads, from /proc/PID/stat) ÷ the requests answered: "
            "the steadiest figure on a busy machine. Keyed targets are compared with nginx's plain proxy.", ""]
    for table in (load_table(load, order, conns), keyed_table(load, order, conns), observe_table(load, rates, order, conns),
                  rate_table(rates, rows, order), idle_table(idle, rows, order)):
        if table:
            out += table + [""]
    if notes:
        out += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(out)


# ------------------------------------------------------------------ SVG

PALETTE = {"direct": "#9e9e9e", "nginx": "#2e7d32", "haproxy": "#ef6c00"}
GATEWAY_COLOURS = ["#1565c0", "#6a1b9a", "#00838f", "#ad1457"]


def colours(order):
    """Plain gateway variants get strong colours, their keyed twins a lighter tint of the same."""
    out, family = {}, []
    for t in order:
        if t in PALETTE:
            out[t] = PALETTE[t]
            continue
        base = t[:-len("-keyed")] if t.endswith("-keyed") else t
        if base not in family:
            family.append(base)
        colour = GATEWAY_COLOURS[family.index(base) % len(GATEWAY_COLOURS)]
        out[t] = lighten(colour) if t.endswith("-keyed") else colour
    return out


def lighten(hex_colour, amount=0.55):
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    r, g, b = (int(c + (255 - c) * amount) for c in (r, g, b))
    return f"#{r:02x}{g:02x}{b:02x}"


def axis(value, divisions=4):
    """A round tick step (1, 2, 2.5 or 5 × 10^k) and the axis top, a whole number of steps at
    or above value."""
    if value <= 0:
        return 1, 1
    raw = value / divisions
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step, step * math.ceil(value / step - 1e-9)


def panel_svg(x, y, width, height, title, bars, colour_of):
    """One small bar chart: bars = [(target, median, lo, hi)], whiskers from lo to hi."""
    parts = [f'<text x="{x}" y="{y + 11}" class="panel">{html.escape(title)}</text>']
    plot_top, plot_bottom = y + 20, y + height - 4
    plot_left, plot_right = x + 34, x + width - 4
    # Headroom above the highest whisker for its value label.
    step, top = axis(max((hi if hi is not None else m) for _, m, _, hi in bars) * 1.12 if bars else 1)
    ticks = round(top / step)
    for i in range(ticks + 1):
        gy = plot_bottom - (plot_bottom - plot_top) * i / ticks
        parts.append(f'<line x1="{plot_left}" y1="{gy:.1f}" x2="{plot_right}" y2="{gy:.1f}" class="grid"/>')
        parts.append(f'<text x="{plot_left - 3}" y="{gy + 3:.1f}" class="tick">{compact(step * i) if i else "0"}</text>')
    if not bars:
        return parts
    slot = (plot_right - plot_left) / len(bars)
    bar_w = min(26, slot * 0.7)
    scale = (plot_bottom - plot_top) / top
    for i, (target, median, lo, hi) in enumerate(bars):
        cx = plot_left + slot * (i + 0.5)
        bar_top = plot_bottom - median * scale
        parts.append(f'<rect x="{cx - bar_w / 2:.1f}" y="{bar_top:.1f}" width="{bar_w:.1f}" '
                     f'height="{plot_bottom - bar_top:.1f}" fill="{colour_of[target]}">'
                     f'<title>{html.escape(target)}: {compact(median)} (min {compact(lo)}, max {compact(hi)})</title></rect>')
        if lo is not None and hi is not None and hi > lo:
            y_lo, y_hi = plot_bottom - lo * scale, plot_bottom - hi * scale
            parts.append(f'<line x1="{cx:.1f}" y1="{y_lo:.1f}" x2="{cx:.1f}" y2="{y_hi:.1f}" class="whisker"/>')
            for wy in (y_lo, y_hi):
                parts.append(f'<line x1="{cx - 4:.1f}" y1="{wy:.1f}" x2="{cx + 4:.1f}" y2="{wy:.1f}" class="whisker"/>')
        label_y = min(bar_top, plot_bottom - (hi or median) * scale) - 3
        parts.append(f'<text x="{cx:.1f}" y="{label_y:.1f}" class="value">{compact(median)}</text>')
    return parts


def bars_for(targets, figure, order):
    out = []
    for t in ordered(targets, order):
        series = targets[t].get(figure)
        if series and series.values():
            lo, hi = series.spread()
            out.append((t, series.median(), lo, hi))
    return out


def chart_cells(rows, load, rates, idle, order):
    """(title, [(panel title, bars)]) per scenario, in report order."""
    conns = scenario_conns(rows)
    cells = []
    for scenario, targets in load.items():
        cells.append((scenario_label(scenario, conns.get(scenario)),
                      [("req/s", bars_for(targets, "rps", order)), ("p99 ms", bars_for(targets, "p99", order))]))
    for scenario, targets in rates.items():
        rate = next(r["rate"] for r in rows if r.get("kind") == "rate")
        cells.append((f"fixed rate {compact(float(rate))} req/s (open loop)",
                      [("p99 ms", bars_for(targets, "p99", order)), ("p99.9 ms", bars_for(targets, "p999", order))]))
    for scenario, targets in idle.items():
        count = next(r["conns"] for r in rows if r.get("kind") == "idle")
        cells.append((f"{int(count):,} {idle_label(scenario)}",
                      [("KiB per connection", bars_for(targets, "per_conn", order)),
                       ("RSS after close, % of before", bars_for(targets, "after_pct", order))]))
    return cells


def svg(meta, rows, load, rates, idle, order):
    cells = chart_cells(rows, load, rates, idle, order)
    present = [t for t in order if any(t == b[0] for _, panels in cells for _, bars in panels for b in bars)]
    colour_of = colours(order)
    columns = 4
    cell_w = max(230, 34 * len(present) + 50)
    panel_h, cell_h = 120, 2 * 120 + 24
    width = columns * cell_w + 20
    # Legend entries side by side, wrapped at the chart's width.
    legend, lx, ly = [], 10, 0
    for target in present:
        entry_w = 30 + 7 * len(target)
        if lx + entry_w > width - 10:
            lx, ly = 10, ly + 20
        legend.append((target, lx, ly))
        lx += entry_w
    header = [("title", "Gateway benchmark: medians of the rounds, whiskers min–max"),
              ("sub", meta.get("date", "")), ("sub", meta.get("settings", "")), ("sub", meta.get("pinning", ""))]
    if "warning" in meta:
        header.append(("warn", meta["warning"]))
    legend_top = 14 + 15 * len(header)
    head_h = legend_top + ly + 28
    rows_n = (len(cells) + columns - 1) // columns
    height = head_h + rows_n * (cell_h + 12) + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
             "<style>"
             ".title{font-size:15px;font-weight:bold} .sub{font-size:10px;fill:#555} "
             ".warn{font-size:11px;fill:#c62828;font-weight:bold} "
             ".cell{font-size:12px;font-weight:bold} .panel{font-size:10px;fill:#333} "
             ".tick{font-size:8px;fill:#777;text-anchor:end} .value{font-size:8px;fill:#222;text-anchor:middle} "
             ".legend{font-size:11px} .grid{stroke:#e6e6e6;stroke-width:1} .whisker{stroke:#222;stroke-width:1.2}"
             "</style>",
             f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    for i, (cls, text) in enumerate(header):
        parts.append(f'<text x="10" y="{20 + 15 * i}" class="{cls}">{html.escape(text)}</text>')
    for target, lx, ly in legend:
        parts.append(f'<rect x="{lx}" y="{legend_top + ly}" width="12" height="12" fill="{colour_of[target]}"/>')
        parts.append(f'<text x="{lx + 17}" y="{legend_top + ly + 10}" class="legend">{html.escape(target)}</text>')
    for i, (title, panels) in enumerate(cells):
        cx = 10 + (i % columns) * cell_w
        cy = head_h + (i // columns) * (cell_h + 12)
        parts.append(f'<rect x="{cx}" y="{cy}" width="{cell_w - 10}" height="{cell_h}" fill="none" stroke="#ccc"/>')
        parts.append(f'<text x="{cx + 6}" y="{cy + 15}" class="cell">{html.escape(title)}</text>')
        for j, (panel_title, bars) in enumerate(panels):
            parts += panel_svg(cx + 4, cy + 20 + j * panel_h, cell_w - 18, panel_h, panel_title, bars, colour_of)
    parts.append(f'<text x="10" y="{height - 8}" class="sub">Written by benchmarks/report.py; '
                 'the table with every figure is latest.md beside this file.</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------ main

def main():
    parser = argparse.ArgumentParser()
    for name in ("rounds", "meta", "notes", "markdown", "svg"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args()

    rows = read_rounds(args.rounds)
    meta_lines = read_lines(args.meta)
    meta = meta_dict(meta_lines)
    order = meta.get("targets", "").split()
    load = collect(rows, "load", LOAD_FIGURES)
    rates = collect(rows, "rate", RATE_FIGURES)
    idle = collect(rows, "idle", IDLE_FIGURES)

    svg_name = args.svg.rsplit("/", 1)[-1]
    with open(args.markdown, "w") as f:
        f.write(markdown(meta_lines, read_lines(args.notes), rows, load, rates, idle, order, svg_name))
    with open(args.svg, "w") as f:
        f.write(svg(meta, rows, load, rates, idle, order))


if __name__ == "__main__":
    main()
