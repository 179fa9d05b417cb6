"""Monitoring gauges for Prometheus: feature PSI and the live metric, pushed to a Pushgateway.

`kfp-ct monitor` (and the `monitor` pipeline step) run as short jobs, so Prometheus cannot
scrape them; when `KFP_CT_PUSHGATEWAY_URL` is set, each monitoring run with traffic pushes, under
job `kfp-ct-monitor` and grouping key `model`:

- `kfp_ct_feature_psi{model,feature}`: PSI of each feature's window against the champion's
  training data (numeric: ten reference-quantile bins; categorical: categories, rare ones lumped);
- `kfp_ct_training_metric{model,metric}` and `kfp_ct_live_metric{model,metric}`: the champion's
  recorded metric and the same metric on the labelled window (only when enough rows are labelled);
- `kfp_ct_live_metric_drop{model,metric}`: how much worse live is, relative to training (positive
  is worse, whichever way the metric points).

The PrometheusRule's PSI and live-metric alerts read these (docs/monitoring.md). Unset, nothing is
pushed; a failed push is logged and never fails the monitoring run.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from kfp_ct.core import metrics as core_metrics
from kfp_ct.drift import stats

log = logging.getLogger(__name__)
PUSHGATEWAY_ENV = "KFP_CT_PUSHGATEWAY_URL"
JOB = "kfp-ct-monitor"
BINS = 10


def feature_psi(reference: pd.DataFrame, current: pd.DataFrame, features: list[str]) -> dict[str, float]:
    """PSI of each feature of `current` against `reference` (the same epsilon as the drift tests)."""
    out = {}
    for name in features:
        ref, cur = reference[name], current[name]
        if pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref):
            values = stats.finite_values(ref)
            if not len(values):
                continue
            edges = np.unique(np.quantile(values, np.linspace(0, 1, BINS + 1))[1:-1])
            ref_counts = np.bincount(np.searchsorted(edges, values), minlength=len(edges) + 1)
            cur_values = stats.finite_values(cur)
            cur_counts = np.bincount(np.searchsorted(edges, cur_values), minlength=len(edges) + 1)
        else:
            _, ref_counts, cur_counts = stats.category_counts(ref, cur)
            ref_counts, cur_counts = stats.lump_rare(ref_counts, cur_counts)
        if ref_counts.sum() and cur_counts.sum():
            out[name] = round(float(stats.psi(ref_counts, cur_counts)), 6)
    return out


def metric_drop(metric: str, training: float, live: float) -> float:
    """Relative worsening of `live` against `training` (positive: worse)."""
    if training == 0:
        return 0.0
    change = (training - live) / abs(training)
    return change if core_metrics.higher_is_better(metric) else -change


def export(
    model: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    performance: dict[str, Any],
    gateway: str | None = None,
) -> dict[str, Any] | None:
    """Push the monitoring gauges when a Pushgateway is configured; what was pushed, else None.

    Args:
        model: The served model's name (grouping key).
        reference: The champion's training rows.
        current: The window's answered rows.
        features: Feature columns.
        performance: The monitor's `performance` dict (`metric`, `champion`, `live`).
        gateway: Pushgateway URL; default $KFP_CT_PUSHGATEWAY_URL (unset: nothing is pushed).
    """
    gateway = gateway or os.environ.get(PUSHGATEWAY_ENV)
    if not gateway or current.empty:
        return None
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    registry = CollectorRegistry()
    psi = feature_psi(reference, current, features)
    gauge = Gauge("kfp_ct_feature_psi", "Feature PSI, window vs training data", ["model", "feature"],
                  registry=registry)  # fmt: skip
    for name, value in psi.items():
        gauge.labels(model, name).set(value)
    pushed: dict[str, Any] = {"psi": psi}
    metric, training, live = performance.get("metric"), performance.get("champion"), performance.get("live")
    if metric and training is not None and live is not None:
        labels = ["model", "metric"]
        Gauge("kfp_ct_training_metric", "The champion's recorded metric", labels, registry=registry).labels(
            model, metric
        ).set(training)
        Gauge("kfp_ct_live_metric", "The metric on labelled live rows", labels, registry=registry).labels(
            model, metric
        ).set(live)
        drop = metric_drop(metric, float(training), float(live))
        Gauge("kfp_ct_live_metric_drop", "Relative worsening of the live metric", labels,
              registry=registry).labels(model, metric).set(drop)  # fmt: skip
        pushed["live_metric_drop"] = round(drop, 6)
    try:
        push_to_gateway(gateway, job=JOB, registry=registry, grouping_key={"model": model}, timeout=10)
    except OSError as exc:  # urllib's URLError and HTTPError are OSErrors
        log.warning("monitoring gauges not pushed to %s: %s", gateway, exc)
        return None
    return pushed
