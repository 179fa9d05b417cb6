"""Drift detection and the retrain decision.

``detect_drift`` (numpy/scipy, fast) takes the decision: every feature, the champion's
predictions and its recorded metric are tested for a change above a threshold, with Holm's
procedure over all of them (docs/drift.md); ``render_evidently_html`` renders a
sampled Evidently report for people; ``kfp_ct.drift.policy`` builds the training set and checks
the cooldown and de-duplication guards. Evidently and MLflow are imported lazily.
"""

from kfp_ct.drift.config import DriftConfig
from kfp_ct.drift.features import FeatureDrift, infer_kind
from kfp_ct.drift.html import render_evidently_html
from kfp_ct.drift.performance import MetricDecay, PerformanceDecay
from kfp_ct.drift.policy import (
    GuardResult,
    build_training_set,
    check_guards,
)
from kfp_ct.drift.report import DriftReport, detect_drift

__all__ = [
    "DriftConfig",
    "DriftReport",
    "FeatureDrift",
    "GuardResult",
    "MetricDecay",
    "PerformanceDecay",
    "build_training_set",
    "check_guards",
    "detect_drift",
    "infer_kind",
    "render_evidently_html",
]
