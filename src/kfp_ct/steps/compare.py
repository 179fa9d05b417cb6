"""Step `compare`: score challenger and champion on the same rows and decide."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from kfp_ct import lineage, settings
from kfp_ct.core.schema import Schema
from kfp_ct.errors import DataError
from kfp_ct.tracking import models, registry

if TYPE_CHECKING:  # scikit-learn-heavy modules load only in the steps that use them
    from kfp_ct.core.compare import ComparePolicy, Decision

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class CompareParams:
    """Whose champion is the baseline, and how the challenger must beat it."""

    model_name: str = settings.DEFAULT_MODEL_NAME
    primary_metric: str = "auto"  # auto: roc_auc, accuracy or rmse by task
    min_improvement: float = 0.0
    guardrails: dict[str, float] = field(default_factory=dict)  # metric -> allowed regression
    require_significance: bool = True
    alpha: float = 0.05
    n_bootstrap: int = 1000

    @classmethod
    def from_kfp(cls, *, guardrails: str, **fields: Any) -> CompareParams:
        """Build from the component's parameters (`guardrails` as JSON text)."""
        from kfp_ct.core.compare import ComparePolicy

        return cls(guardrails=ComparePolicy.parse_guardrails(guardrails), **fields)

    def policy(self) -> ComparePolicy:
        """The comparison policy these parameters describe."""
        from kfp_ct.core.compare import ComparePolicy

        return ComparePolicy(
            primary_metric=self.primary_metric,
            min_improvement=self.min_improvement,
            guardrails=dict(self.guardrails),
            require_significance=self.require_significance,
            alpha=self.alpha,
            n_bootstrap=self.n_bootstrap,
        )


@dataclass(frozen=True, kw_only=True)
class ComparePaths:
    """Files compare reads (model, test_set, schema) and writes (decision_record JSON, report)."""

    model: Path
    test_set: Path
    schema: Path
    decision_record: Path
    report: Path


SMOKE_ROWS = 20  # held-out rows deploy sends to the new version


@dataclass
class CompareOutput:
    """The decision, the champion it was made against, and deploy's smoke expectations."""

    decision: Decision
    champion_version: str = ""
    # The challenger's own predictions of the first SMOKE_ROWS held-out rows and its input
    # columns, so deploy can check the served answers without loading the model itself.
    smoke: dict[str, list] = field(default_factory=dict)  # features, expected

    def to_json(self) -> str:
        """The decision record passed to register and deploy."""
        record = {**self.decision.to_dict(), "champion_version": self.champion_version}
        return json.dumps({**record, "smoke": self.smoke} if self.smoke else record)

    @staticmethod
    def read(path: Path) -> dict:
        """Read a decision record."""
        return json.loads(Path(path).read_text())

    @staticmethod
    def read_champion(path: Path) -> str | None:
        """The champion version a decision record was made against (None: there was none)."""
        return CompareOutput.read(path).get("champion_version") or None


def run(params: CompareParams, paths: ComparePaths) -> CompareOutput:
    """Score challenger and champion on the same held-out rows, decide, write record and report."""
    from kfp_ct.core import metrics
    from kfp_ct.core.compare import decide

    policy = params.policy()
    schema = Schema.load(paths.schema)
    test = pd.read_parquet(paths.test_set)
    challenger = models.load_model(paths.model)
    features = models.model_features(challenger, schema.feature_columns(test))
    y = test[schema.label]
    chal_scored = metrics.score(challenger, test[features], y)
    champion_ref = registry.by_alias(params.model_name, lineage.CHAMPION)
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
    expected = [v.item() if hasattr(v, "item") else v for v in chal_scored.y_pred[:SMOKE_ROWS]]
    out = CompareOutput(decision, version or "", {"features": features, "expected": expected})
    Path(paths.report).write_text(decision.to_markdown())
    Path(paths.decision_record).write_text(out.to_json())
    return out
