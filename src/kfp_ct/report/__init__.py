"""Run reports and model cards: pure functions from what a run produced to HTML, PNG and Markdown.

- `html.render(ReportData)`: the self-contained run report page;
- `plots`: the report's pictures as PNG bytes (matplotlib, Agg);
- `card.build_card(CardInputs)`, `card.card_markdown`, `card.card_json`: model cards in the Model
  Card Toolkit's sections;
- `drift_table(markdown)`: per-feature drift rows read from the drift step's Markdown table.

Nothing here reads files, MLflow or the network: `kfp_ct.steps.report` gathers the data.
"""

from __future__ import annotations

from kfp_ct.report.html import ReportData, render

__all__ = ["ReportData", "drift_table", "render"]


def _float(text: str) -> float | None:
    try:
        return float(text.split("=")[-1])
    except ValueError:
        return None


def drift_table(markdown: str) -> list[dict]:
    """Rows of the per-feature table in a drift step's Markdown report (empty when there is none)."""
    lines = [line.strip() for line in markdown.splitlines() if line.strip().startswith("|")]
    if len(lines) < 2:
        return []
    header = [h.strip().lower() for h in lines[0].strip("|").split("|")]
    if "feature" not in header:
        return []
    rows = []
    for line in lines[2:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=False))
        effect = cells.get("effect", "")
        rows.append(
            {
                "feature": cells.get("feature", ""),
                "kind": cells.get("kind", ""),
                "test": cells.get("test", ""),
                "effect_name": effect.split("=")[0] if "=" in effect else "",
                "effect": _float(effect),
                "threshold": _float(cells.get("threshold", "")),
                "p_adjusted": _float(cells.get("adjusted p", "")),
                "drifted": cells.get("drifted", "").lower() == "yes",
            }
        )
    return rows
