"""Step `register`: register the model version with lineage, metrics and decision tags."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from kfp_ct import lineage
from kfp_ct.params import json_object
from kfp_ct.steps.compare import CompareOutput
from kfp_ct.tracking import models, registry, runs

if TYPE_CHECKING:  # scikit-learn-heavy modules load only in the steps that use them
    pass

log = logging.getLogger(__name__)


def parse_tags(text: str) -> dict[str, str]:
    """Parse a JSON object of extra version tags (empty text: none)."""
    tags = json_object(text, "extra_tags")
    return {str(k): str(v) for k, v in tags.items()}


def register_step(
    model_name: str,
    model_uri: str,
    run_id: str,
    decision_path: Path,
    metrics_json: str,
    lineage_tags: dict[str, str],
    extra_tags: str = "",
) -> registry.VersionRef:
    """Register the logged model with lineage, metrics and decision tags; alias `challenger`."""
    values = json.loads(metrics_json or "{}")
    record = CompareOutput.read(decision_path)
    tags = {
        **parse_tags(extra_tags),
        **lineage_tags,
        lineage.DECISION: record["decision"],
        lineage.DECISION_REASONS: "; ".join(record["reasons"])[:4000],
        **{f"{lineage.METRIC_TAG_PREFIX}{k}": f"{v:.6g}" for k, v in values.items()},
    }
    runs.connect()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = models.download_artifact(model_uri, Path(tmp))
        return registry.register(model_name, model_uri, run_id, tags, model_dir)
