"""Step `register`: register the model version with lineage, metrics and decision tags.

Every version also gets a model card (`kfp_ct.report.card`, Markdown and JSON), built from the
training run (schema, parameters, metrics and their intervals), the decision record, lineage and
the `intended_use` parameter; it is logged to the training run under `model_card/`, linked from
the version's `kfp_ct.model_card` tag and set as the version's description.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kfp_ct import lineage, settings
from kfp_ct.params import json_object
from kfp_ct.steps.compare import CompareOutput
from kfp_ct.tracking import models, registry, runs

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RegisterParams:
    """The logged model to register and the tags its version carries."""

    model_name: str = settings.DEFAULT_MODEL_NAME
    model_uri: str  # MLflow model URI from train
    run_id: str  # MLflow run id from train
    metrics: dict[str, float] = field(default_factory=dict)  # held-out metrics from evaluate
    pipeline_run_id: str = ""
    data_hash: str = ""
    data_uri: str = ""
    extra_tags: dict[str, str] = field(default_factory=dict)
    intended_use: str = ""  # the model card's intended use

    @classmethod
    def from_kfp(cls, *, metrics_json: str, extra_tags: str, **fields: Any) -> RegisterParams:
        """Build from the component's parameters (`metrics_json` and `extra_tags` as JSON text)."""
        return cls(
            metrics=json_object(metrics_json, "metrics_json"), extra_tags=parse_tags(extra_tags), **fields
        )

    def tags(self, record: dict[str, Any]) -> dict[str, str]:
        """The version's tags: extra, lineage, compare's decision `record` and the metrics."""
        return {
            **self.extra_tags,
            lineage.PIPELINE_RUN_ID: self.pipeline_run_id,
            lineage.DATA_HASH: self.data_hash,
            lineage.DATA_URI: self.data_uri,
            lineage.DECISION: record["decision"],
            lineage.DECISION_REASONS: "; ".join(record["reasons"])[:4000],
            **{f"{lineage.METRIC_TAG_PREFIX}{k}": f"{v:.6g}" for k, v in self.metrics.items()},
        }


@dataclass(frozen=True, kw_only=True)
class RegisterPaths:
    """Files register reads: compare's decision record."""

    decision_record: Path


@dataclass
class RegisterOutput:
    """The registered version (alias `challenger` points at it) and its model card."""

    model_version: str
    model_card_uri: str = ""
    model_card: dict[str, Any] = field(default_factory=dict)


CARD_DIR = "model_card"  # in the training run: model_card.md and model_card.json
NOT_HYPERPARAMETERS = {"estimator", "seed", "rows"}


def parse_tags(text: str) -> dict[str, str]:
    """Parse a JSON object of extra version tags (empty text: none)."""
    tags = json_object(text, "extra_tags")
    return {str(k): str(v) for k, v in tags.items()}


def run(params: RegisterParams, paths: RegisterPaths) -> RegisterOutput:
    """Register the logged model with lineage, metrics and decision tags; alias `challenger`."""
    record = CompareOutput.read(paths.decision_record)
    tags = params.tags(record)
    runs.connect()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = models.download_artifact(params.model_uri, Path(tmp))
        ref = registry.register(params.model_name, params.model_uri, params.run_id, tags, model_dir)
    try:
        card, uri = publish_card(params, ref, record)
    except Exception as exc:  # the version stands without a card; say why
        log.warning("%s v%s: no model card (%s: %s)", ref.name, ref.version, type(exc).__name__, exc)
        card, uri = {}, ""
    return RegisterOutput(ref.version, uri, card)


def card_inputs(params: RegisterParams, ref: registry.VersionRef, record: dict[str, Any]):
    """What the model card says, read from the training run, the decision record and the version."""
    from kfp_ct.report.card import CardInputs

    run_params, run_metrics, _ = runs.run_data(params.run_id)
    schema = runs.load_schema(params.run_id)
    evaluation = json.loads(runs.read_artifact_text(params.run_id, "evaluation.json") or "{}")
    held_out = params.metrics or {
        k.removeprefix("test_"): v for k, v in run_metrics.items() if k.startswith("test_")
    }
    rows = held_out.get("n_rows") or evaluation.get("rows")
    return CardInputs(
        model_name=ref.name,
        version=ref.version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        intended_use=params.intended_use,
        task=schema.task,
        label=schema.label,
        label_classes=schema.label_classes,
        features=[c.__dict__ for c in schema.columns],
        estimator=run_params.get("estimator", ""),
        hyperparameters={k: v for k, v in run_params.items() if k not in NOT_HYPERPARAMETERS},
        data_uri=params.data_uri,
        data_hash=params.data_hash,
        train_rows=int(run_params["rows"]) if str(run_params.get("rows", "")).isdigit() else None,
        test_rows=int(rows) if rows else None,
        metrics={k: float(v) for k, v in held_out.items()},
        intervals=evaluation.get("intervals", {}),
        confidence=evaluation.get("confidence", 0.95),
        decision=record,
        lineage={
            "model_uri": f"models:/{ref.name}/{ref.version}",
            "logged_model": params.model_uri,
            "mlflow_run_id": params.run_id,
            "pipeline_run_id": params.pipeline_run_id,
            "data_hash": params.data_hash,
            "model_sha256": ref.tags.get(lineage.MODEL_SHA256, ""),
        },
    )


def publish_card(
    params: RegisterParams, ref: registry.VersionRef, record: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """Build the version's model card, log it to the training run, link it from the version."""
    from kfp_ct.report.card import build_card, card_json, card_markdown

    card = build_card(card_inputs(params, ref, record))
    markdown = card_markdown(card)
    runs.log_binary(
        params.run_id,
        {
            f"{CARD_DIR}/model_card.md": markdown.encode(),
            f"{CARD_DIR}/model_card.json": card_json(card).encode(),
        },
    )
    uri = runs.artifact_uri(params.run_id, f"{CARD_DIR}/model_card.md")
    registry.set_version_tags(ref.name, ref.version, {lineage.MODEL_CARD: uri})
    registry.describe_version(ref.name, ref.version, markdown)
    log.info("model card of %s v%s: %s", ref.name, ref.version, uri)
    return card, uri
