"""Step `compare`: score challenger and champion on the same rows and decide."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from kfp_ct import lineage
from kfp_ct.core.schema import Schema
from kfp_ct.errors import DataError
from kfp_ct.tracking import models, registry

if TYPE_CHECKING:  # scikit-learn-heavy modules load only in the steps that use them
    from kfp_ct.core.compare import ComparePolicy, Decision

log = logging.getLogger(__name__)


@dataclass
class CompareOutput:
    """The decision and the champion it was made against."""

    decision: Decision
    champion_version: str = ""

    def to_json(self) -> str:
        """The decision record passed to register and deploy."""
        return json.dumps({**self.decision.to_dict(), "champion_version": self.champion_version})

    @staticmethod
    def read(path: Path) -> dict:
        """Read a decision record."""
        return json.loads(Path(path).read_text())

    @staticmethod
    def read_champion(path: Path) -> str | None:
        """The champion version a decision record was made against (None: there was none)."""
        return CompareOutput.read(path).get("champion_version") or None


def compare_step(
    model_dir: Path, test_path: Path, schema_path: Path, model_name: str, policy: ComparePolicy
) -> CompareOutput:
    """Score challenger and champion on the same held-out rows and decide."""
    from kfp_ct.core import metrics
    from kfp_ct.core.compare import decide

    schema = Schema.load(schema_path)
    test = pd.read_parquet(test_path)
    challenger = models.load_model(model_dir)
    features = models.model_features(challenger, schema.feature_columns(test))
    y = test[schema.label]
    chal_scored = metrics.score(challenger, test[features], y)
    champion_ref = registry.by_alias(model_name, lineage.CHAMPION)
    champ_scored, error = None, None
    if champion_ref is not None:
        try:
            champ_model = models.load_version(champion_ref)
            champ_features = models.model_features(champ_model, features)
            missing = [c for c in champ_features if c not in test.columns]
            if missing:
                raise DataError(f"held-out rows lack the champion's columns {missing}")
            champ_scored = metrics.score(champ_model, test[champ_features], y)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    version = champion_ref.version if champion_ref else None
    decision = decide(schema.task, chal_scored, champ_scored, policy, version, error)
    log.info("decision: %s (%s)", decision.decision, "; ".join(decision.reasons))
    return CompareOutput(decision, version or "")
