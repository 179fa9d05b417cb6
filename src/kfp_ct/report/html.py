"""The run report as one self-contained HTML page: inline CSS, images as base64 PNG, no scripts.

`render(ReportData)` is pure: it takes what a run produced (plain dicts, as the steps write them)
and returns the page. Every section has an `id` (`steps`, `validation`, `metrics`, `plots`,
`decision`, `drift`, `lineage`) and every image an `id` and `alt` text naming it.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from typing import Any

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2733;
background:#f5f7fa} main{max-width:1180px;margin:0 auto;padding:20px 28px 40px}
h1{font-size:22px;margin:4px 0 2px}
h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #d8dee6;padding-bottom:4px}
.sub{color:#5b6b7c;margin:0 0 12px}
table{border-collapse:collapse;background:#fff;margin:4px 0 8px;font-size:13px}
th,td{border:1px solid #d8dee6;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#eef2f6;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.ok{background:#1e8449}.bad{background:#c0392b}.warn{background:#b9770e}.skip{background:#7f8c8d}.info{background:#2e86c1}
.plots{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;background:#fff;border:1px solid #d8dee6;padding:6px}
figure img{display:block;width:360px;height:auto} figcaption{font-size:12px;color:#5b6b7c;text-align:center}
ul{margin:4px 0 8px 18px;padding:0} code{font-size:12px;background:#eef2f6;padding:0 3px;border-radius:3px}
.bar{display:inline-block;height:10px;background:#2e86c1;vertical-align:middle}
"""

STATUS_CLASS = {
    "succeeded": "ok",
    "passed": "ok",
    "promote": "ok",
    "first-model": "ok",
    "failed": "bad",
    "reject": "bad",
    "error": "bad",
    "retrain": "warn",
    "warning": "warn",
    "skipped": "skip",
    "skip": "skip",
    "drifted": "bad",
    "stable": "ok",
}
IMAGE_TITLES = {
    "confusion_matrix": "Confusion matrix",
    "roc_curve": "ROC curve",
    "pr_curve": "Precision-recall curve",
    "residuals": "Residuals against predicted values",
    "residual_histogram": "Residual distribution",
    "predicted_vs_true": "Predicted vs true",
    "drift": "Drift per feature",
}


@dataclass
class ReportData:
    """Everything a run report shows; any part may be missing (a failed or skipped step)."""

    title: str
    status: str = ""  # succeeded | failed
    error: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)  # name, status, seconds
    validation: dict[str, Any] | None = None  # ValidationResult.to_dict() (+ schema_source)
    evaluation: dict[str, Any] | None = None  # core.diagnostics.diagnose() (+ latency_ms)
    decision: dict[str, Any] | None = None  # compare's decision record
    drift: dict[str, Any] | None = None  # decision, share, reasons, features (list of dicts)
    lineage: dict[str, str] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)  # name -> PNG bytes


def esc(value: Any) -> str:
    """HTML-escaped text of a value."""
    return html.escape(str(value), quote=True)


def badge(text: str) -> str:
    """A coloured status label."""
    return f'<span class="badge {STATUS_CLASS.get(str(text).lower(), "info")}">{esc(text)}</span>'


def number(value: Any, digits: int = 4) -> str:
    """A number as text (`-` for missing or non-finite values)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, int | float):
        return f"{value:.{digits}g}" if abs(value) >= 1e4 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return esc(value)


def table(header: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """An HTML table of already-escaped cells (`numeric`: right-aligned column indices)."""
    numeric = numeric or set()
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(name: str, png: bytes) -> str:
    """An inline PNG figure with `id` and `alt` naming it."""
    title = IMAGE_TITLES.get(name, name.replace("_", " "))
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img id="{esc(name)}" alt="{esc(title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{esc(title)}</figcaption></figure>"
    )


def _steps(data: ReportData) -> str:
    if not data.steps:
        return ""
    total = sum(s.get("seconds") or 0 for s in data.steps) or 1.0
    rows = []
    for s in data.steps:
        seconds = s.get("seconds")
        width = int(200 * (seconds or 0) / total)
        bar = f'<span class="bar" style="width:{width}px"></span>' if seconds else ""
        rows.append(
            [esc(s["name"]), badge(s.get("status", "")), number(seconds, 1) + " s" * bool(seconds), bar]
        )
    return (
        '<section id="steps"><h2>Steps and timings</h2>'
        + table(["step", "status", "time", ""], rows, {2})
        + "</section>"
    )


def _validation(data: ReportData) -> str:
    v = data.validation
    if v is None:
        return ""
    violations = v.get("violations", [])
    errors = [x for x in violations if x.get("severity") == "error"]
    status = "failed" if errors else "passed"
    parts = [
        '<section id="validation"><h2>Data validation</h2>',
        f"<p>{badge(status)} <code>{esc(v.get('source', ''))}</code>"
        + (f" &middot; schema: {esc(v['schema_source'])}" if v.get("schema_source") else "")
        + "</p>",
        table(["statistic", "value"], [[esc(k), number(x)] for k, x in v.get("stats", {}).items()], {1}),
    ]
    if violations:
        rows = [
            [
                badge(x.get("severity", "")),
                f"<code>{esc(x.get('column', ''))}</code>",
                esc(x.get("rule", "")),
                esc(x.get("observed", "")),
                esc(x.get("expected", "")),
            ]
            for x in violations
        ]
        parts.append(f"<p>{len(violations)} violation(s), {len(errors)} error(s):</p>")
        parts.append(table(["severity", "column", "rule", "observed", "expected"], rows))
    else:
        parts.append("<p>No violations.</p>")
    return "".join(parts) + "</section>"


def _metrics(data: ReportData) -> str:
    e = data.evaluation
    if e is None:
        return ""
    intervals = e.get("intervals", {})
    confidence = e.get("confidence", 0.95)
    rows = []
    for name, value in e.get("metrics", {}).items():
        if name == "n_rows":
            continue
        low, high = intervals.get(name, [None, None])
        ci = f"[{number(low)}, {number(high)}]" if low is not None else "-"
        rows.append([esc(name), number(value), ci])
    for name, value in (e.get("latency_ms") or {}).items():
        rows.append([esc(f"latency {name} (ms, one row)"), number(value, 3), "-"])
    note = (
        f"{e.get('task', '')} &middot; {e.get('rows', '?')} held-out rows &middot; "
        f"{confidence:.0%} intervals: percentile bootstrap over the held-out predictions "
        f"({e.get('n_resamples', '?')} resamples)"
    )
    return (
        '<section id="metrics"><h2>Held-out metrics</h2>'
        f'<p class="sub">{note}</p>'
        + table(["metric", "value", f"{confidence:.0%} CI"], rows, {1})
        + "</section>"
    )


def _plots(data: ReportData) -> str:
    shown = {k: v for k, v in data.images.items() if k != "drift"}
    if not shown:
        return ""
    figures = "".join(image(name, png) for name, png in shown.items())
    return f'<section id="plots"><h2>Evaluation plots</h2><div class="plots">{figures}</div></section>'


def _decision(data: ReportData) -> str:
    d = data.decision
    if d is None:
        return ""
    parts = [
        '<section id="decision"><h2>Challenger vs champion</h2>',
        f"<p>{badge(d.get('decision', ''))} primary metric <code>{esc(d.get('primary_metric', ''))}</code>"
        f" on {esc(d.get('rows', '?'))} held-out rows"
        + (f" against champion v{esc(d['champion_version'])}" if d.get("champion_version") else "")
        + "</p>",
        "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in d.get("reasons", [])) + "</ul>",
    ]
    challenger, champion = d.get("challenger") or {}, d.get("champion") or {}
    rows = [[esc(k), number(v), number(champion.get(k)) if champion else "-"] for k, v in challenger.items()]
    if rows:
        parts.append(table(["metric", "challenger", "champion"], rows, {1, 2}))
    t = d.get("test")
    if t:
        parts.append(
            table(
                ["paired test", "delta", f"{t.get('confidence', 0.9):.0%} interval", "p-value", "H0"],
                [
                    [
                        esc(t.get("method", "")),
                        number(t.get("delta")),
                        f"[{number(t.get('ci_low'))}, {number(t.get('ci_high'))}]",
                        number(t.get("p_value")),
                        esc(f"improvement <= {t.get('margin', 0):g}"),
                    ]
                ],
                {1, 3},
            )
        )
    return "".join(parts) + "</section>"


def _drift(data: ReportData) -> str:
    d = data.drift
    if d is None:
        return ""
    parts = [
        '<section id="drift"><h2>Drift</h2>',
        f"<p>{badge(d.get('decision', ''))} share of drifted features {number(d.get('share'))}</p>",
        "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in d.get("reasons", [])) + "</ul>",
    ]
    features = d.get("features") or []
    if features:
        rows = [
            [
                esc(f["feature"]),
                esc(f.get("test", "")),
                number(f.get("effect")),
                number(f.get("threshold")),
                number(f.get("p_adjusted")),
                badge("drifted" if f.get("drifted") else "stable"),
            ]
            for f in features
        ]
        parts.append(table(["feature", "test", "effect", "threshold", "adjusted p", ""], rows, {2, 3, 4}))
    elif d.get("drifted_features"):
        parts.append(f"<p>drifted: {esc(', '.join(map(str, d['drifted_features'])))}</p>")
    if "drift" in data.images:
        parts.append(f'<div class="plots">{image("drift", data.images["drift"])}</div>')
    return "".join(parts) + "</section>"


def _lineage(data: ReportData) -> str:
    if not data.lineage:
        return ""
    rows = [[esc(k), f"<code>{esc(v)}</code>"] for k, v in data.lineage.items() if v not in (None, "")]
    return '<section id="lineage"><h2>Lineage</h2>' + table(["lineage", "value"], rows) + "</section>"


def render(data: ReportData) -> str:
    """The whole report page."""
    head = f"<h1>{esc(data.title)}</h1>"
    if data.status:
        head += f'<p class="sub">{badge(data.status)}'
        head += f" {esc(data.error)}" if data.error else ""
        head += "</p>"
    body = "".join(
        part(data) for part in (_steps, _validation, _metrics, _plots, _decision, _drift, _lineage)
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(data.title)}</title><style>{CSS}</style></head>"
        f"<body><main>{head}{body}</main></body></html>\n"
    )
