"""Model cards in the Model Card Toolkit's layout, as JSON and Markdown, from what a run knows.

The JSON follows the Model Card Toolkit schema (v0.0.2): `model_details`, `model_parameters`,
`quantitative_analysis` (metrics with confidence intervals) and `considerations`. Values the
toolkit types as strings (metric values, bounds) are written as strings, as it writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = "0.0.2"


@dataclass
class CardInputs:
    """What the pipeline knows about a registered version."""

    model_name: str
    version: str
    created: str = ""
    intended_use: str = ""
    task: str = ""
    label: str = ""
    label_classes: list[str] | None = None
    features: list[dict[str, Any]] = field(default_factory=list)  # core.schema ColumnSchema dicts
    estimator: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    data_uri: str = ""
    data_hash: str = ""
    train_rows: int | None = None
    test_rows: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, list[float]] = field(default_factory=dict)
    confidence: float = 0.95
    decision: dict[str, Any] = field(default_factory=dict)  # compare's decision record
    lineage: dict[str, str] = field(default_factory=dict)  # run, pipeline run, model URI, sha256...


def _feature_line(col: dict[str, Any]) -> str:
    kind = col.get("kind", "")
    if kind == "numeric" and col.get("minimum") is not None:
        detail = f"numeric ({col.get('dtype') or 'number'}), seen {col['minimum']:g} to {col['maximum']:g}"
    elif col.get("categories"):
        cats = col["categories"]
        more = " ..." if len(cats) > 8 else ""
        detail = f"categorical, {len(cats)} values: {', '.join(map(str, cats[:8]))}{more}"
    else:
        detail = kind
    nulls = col.get("null_rate") or 0.0
    return f"{detail}{f', {nulls:.1%} missing' if nulls else ''}"


def build_card(inp: CardInputs) -> dict[str, Any]:
    """The model card as a Model Card Toolkit JSON object."""
    features = [c for c in inp.features if c.get("name") != inp.label]
    classes = f" into {', '.join(inp.label_classes)}" if inp.label_classes else ""
    overview = (
        f"{inp.estimator or 'A'} model for {inp.task or 'a'} prediction of `{inp.label}`{classes} from "
        f"{len(features)} features, trained by the kfp-ct continuous-training pipeline."
    )
    decision = inp.decision or {}
    test = decision.get("test") or {}
    metrics = [
        {
            "type": name,
            "value": f"{value:.6g}",
            "slice": "held-out",
            **(
                {
                    "confidence_interval": {
                        "lower_bound": f"{inp.intervals[name][0]:.6g}",
                        "upper_bound": f"{inp.intervals[name][1]:.6g}",
                    }
                }
                if name in inp.intervals
                else {}
            ),
        }
        for name, value in inp.metrics.items()
        if name != "n_rows"
    ]
    data = inp.data_uri or "the training data"
    limitations = [
        {
            "description": f"Validated on {inp.test_rows or '?'} held-out rows of {data}; performance on "
            "data that drifts from it is not guaranteed (the retraining pipeline checks drift)."
        },
        {
            "description": "Inputs outside the ranges and categories listed under model parameters were not "
            "seen in training: unseen categories are ignored, out-of-range numbers extrapolated."
        },
    ]
    if decision.get("decision") == "first-model":
        limitations.append(
            {"description": "First model of this name: it was not compared against a champion."}
        )
    card = {
        "schema_version": SCHEMA_VERSION,
        "model_details": {
            "name": inp.model_name,
            "overview": overview,
            "version": {"name": str(inp.version), "date": inp.created},
            "owners": [],
            "licenses": [],
            "references": [{"reference": v} for k, v in inp.lineage.items() if k == "model_uri" and v],
            "path": inp.lineage.get("model_uri", ""),
        },
        "model_parameters": {
            "model_architecture": inp.estimator,
            "hyperparameters": {k: str(v) for k, v in inp.hyperparameters.items()},
            "data": [
                {
                    "name": "training data",
                    "link": inp.data_uri,
                    "sensitive": {"sensitive_data": []},
                    "content_hash": inp.data_hash,
                    "rows": {"train": inp.train_rows, "test": inp.test_rows},
                }
            ],
            "input_format": "a table (V1 instances, V2 columns or a DataFrame) with the columns below",
            "input_format_map": [{"key": c["name"], "value": _feature_line(c)} for c in features],
            "output_format": f"the predicted {inp.label}"
            + (" and class probabilities" if inp.label_classes else ""),
        },
        "quantitative_analysis": {
            "performance_metrics": metrics,
            "confidence": inp.confidence,
            "decision": {
                "decision": decision.get("decision", ""),
                "reasons": decision.get("reasons", []),
                "champion_version": decision.get("champion_version") or None,
                "paired_test": {
                    k: test.get(k)
                    for k in ("method", "delta", "ci_low", "ci_high", "p_value", "margin", "confidence")
                }
                if test
                else None,
            },
        },
        "considerations": {
            "users": [
                {"description": "teams that call the model's endpoint or load it from the MLflow registry"}
            ],
            "use_cases": [{"description": inp.intended_use or "not stated (set the intended_use parameter)"}],
            "limitations": limitations,
            "tradeoffs": [],
            "ethical_considerations": [],
        },
        "lineage": dict(inp.lineage),
    }
    return card


def card_markdown(card: dict[str, Any]) -> str:
    """The model card as Markdown (the same content as the JSON)."""
    d, p = card["model_details"], card["model_parameters"]
    q, c = card["quantitative_analysis"], card["considerations"]
    lines = [f"# Model card: {d['name']} v{d['version']['name']}", "", d["overview"], ""]
    lines += [
        "## Model details",
        "",
        f"- version: {d['version']['name']} ({d['version'].get('date') or '-'})",
    ]
    lines += [f"- path: `{d['path']}`"] if d.get("path") else []
    lines += ["", "## Intended use", "", *[f"- {u['description']}" for u in c["use_cases"]], ""]
    lines += ["## Model parameters", "", f"- architecture: `{p['model_architecture']}`"]
    if p.get("hyperparameters"):
        lines.append("- hyperparameters: " + ", ".join(f"`{k}={v}`" for k, v in p["hyperparameters"].items()))
    for data in p["data"]:
        rows = data.get("rows") or {}
        lines.append(
            f"- {data['name']}: `{data['link']}` (content hash `{(data.get('content_hash') or '-')[:16]}`, "
            f"{rows.get('train') or '?'} train / {rows.get('test') or '?'} held-out rows)"
        )
    lines += ["", "| input | description |", "|---|---|"]
    lines += [f"| `{m['key']}` | {m['value']} |" for m in p["input_format_map"]]
    lines += ["", f"Output: {p['output_format']}.", ""]
    lines += [
        "## Quantitative analysis",
        "",
        f"| metric | value | {q.get('confidence', 0.95):.0%} CI |",
        "|---|---|---|",
    ]
    for m in q["performance_metrics"]:
        ci = m.get("confidence_interval")
        shown = f"[{ci['lower_bound']}, {ci['upper_bound']}]" if ci else "-"
        lines.append(f"| {m['type']} | {m['value']} | {shown} |")
    decision = q.get("decision") or {}
    if decision.get("decision"):
        lines += ["", f"Decision: **{decision['decision']}**"]
        lines += [f"- {r}" for r in decision.get("reasons", [])]
    lines += ["", "## Considerations", ""]
    lines += [f"- user: {u['description']}" for u in c["users"]]
    lines += [f"- limitation: {x['description']}" for x in c["limitations"]]
    lineage = card.get("lineage") or {}
    if lineage:
        lines += ["", "## Lineage", "", *[f"- {k}: `{v}`" for k, v in lineage.items() if v]]
    return "\n".join(lines) + "\n"


def card_json(card: dict[str, Any]) -> str:
    """The model card as indented JSON text."""
    return json.dumps(card, indent=2, default=str)
