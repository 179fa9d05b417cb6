"""Calibration of the decisions: false alarms and power of the drift decision and of the gate.

Drift: a reference and a window of N rows each from the synthetic generator
(`kfp_ct.data.synth`, 6 numeric and 2 categorical features), the window with synthetic drift d
(0 = the same distribution). Four deciders see the same windows:

- `full`: `detect_drift` with a champion (HistGradientBoosting, 40 trees, trained once on 4,000 rows), its
  ROC AUC recorded on 1,000 fresh held-out rows (redrawn each repetition, with `n_rows`), those
  rows as the prediction reference, and the window's labels for the decay check;
- `data`: `detect_drift` on the features alone;
- `bonferroni`: per-column KS (numeric) / chi-squared (categorical) p-values, retrain when any
  column has p < alpha / columns;
- `evidently`: Evidently's `DataDriftPreset`, retrain when its drifted-column share >= 0.5.

Gate: `kfp_ct.core.compare.decide` with the default policy on simulated paired predictions:
binary scores with ROC AUC 0.85 for both models (null) or 0.85 vs 0.869 (+0.019, power), their
noise correlated 0.87; multiclass accuracy (McNemar) and regression RMSE with equal models.

`python -m benchmarks.calibration --size ci|full` prints the results as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
import zlib
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from kfp_ct.data.synth import SynthSpec, make_dataset

LABEL = "label"
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "rows": (500, 5_000, 50_000, 500_000),
        "levels": (0.0, 0.1, 0.25, 0.5, 1.0),
        "reps": {500: 80, 5_000: 40, 50_000: 10, 500_000: 3},  # about 10 minutes on 2 idle cores
        "evidently_reps": {500: 10, 5_000: 5, 50_000: 2, 500_000: 1},  # 20 s a call at 500,000 rows
        "zipf_rows": (500, 5_000, 50_000),
        "zipf_reps": 20,
        "gate_rows": (200, 1_000, 5_000),
        "gate_reps": {200: 1000, 1_000: 600, 5_000: 200},  # a decision at 5,000 rows takes 0.3 s
    },
    "ci": {
        "rows": (500, 2_000),
        "levels": (0.0, 0.5),
        "reps": {500: 2, 2_000: 1},
        "evidently_reps": {500: 1, 2_000: 0},
        "zipf_rows": (500,),
        "zipf_reps": 1,
        "gate_rows": (200,),
        "gate_reps": {200: 5},
    },
}
ALPHA = 0.05
BASE_AUC, BETTER_AUC, NOISE_CORRELATION = 0.85, 0.869, 0.87


# ---------------------------------------------------------------- drift deciders
def train_champion(seed: int = 7):
    """The champion: one-hot + HistGradientBoosting (40 trees of depth 4) on 4,000 synthetic rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    train = make_dataset(SynthSpec(rows=4000, seed=seed))
    x = train.drop(columns=LABEL)
    categorical = ["region", "plan"]
    prep = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), categorical)], remainder="passthrough"
    )
    model = Pipeline(
        [("prep", prep), ("gb", HistGradientBoostingClassifier(max_iter=40, max_depth=4, random_state=0))]
    )
    return model.fit(x, train[LABEL])


def bonferroni_retrain(reference: pd.DataFrame, current: pd.DataFrame) -> bool:
    """Per-column KS / chi-squared, any p < alpha / columns."""
    p_values = []
    for name in reference.columns:
        ref, cur = reference[name], current[name]
        if pd.api.types.is_numeric_dtype(ref):
            p_values.append(sps.ks_2samp(ref.to_numpy(), cur.to_numpy(), method="asymp").pvalue)
        else:
            table = pd.concat([ref.value_counts(), cur.value_counts()], axis=1).fillna(0).to_numpy().T
            p_values.append(sps.chi2_contingency(table, correction=False).pvalue)
    return bool(min(p_values) < ALPHA / len(p_values))


def evidently_retrain(reference: pd.DataFrame, current: pd.DataFrame) -> bool:
    """Evidently's DataDriftPreset: drifted-column share >= 0.5 (its dataset-drift rule)."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset()]).run(current, reference)
    for metric in snapshot.dict()["metrics"]:
        if metric["metric_name"].startswith("DriftedColumnsCount"):
            return bool(metric["value"]["share"] >= 0.5)
    raise RuntimeError("Evidently's report has no DriftedColumnsCount metric")


def drift_calibration(
    rows: tuple[int, ...],
    levels: tuple[float, ...],
    reps: dict[int, int],
    evidently_reps: dict[int, int],
) -> dict[str, Any]:
    """Retrain rates of each decider on null windows (level 0) and drifted ones."""
    from threadpoolctl import threadpool_limits

    from kfp_ct.core import metrics
    from kfp_ct.drift import DriftConfig, detect_drift

    champion = train_champion()
    config = DriftConfig()
    limits = threadpool_limits(1)  # OpenMP spin-waits on a shared machine cost more than they give
    counts: dict[str, dict[str, dict[str, list[int]]]] = {}
    started = time.perf_counter()
    for n in rows:
        for rep in range(reps[n]):
            reference = make_dataset(SynthSpec(rows=n, seed=10_000 + rep)).drop(columns=LABEL)
            held_out = make_dataset(SynthSpec(rows=1000, seed=20_000 + rep))
            scored = metrics.score(champion, held_out.drop(columns=LABEL), held_out[LABEL])
            recorded = {"roc_auc": metrics.compute("roc_auc", "binary", scored), metrics.ROWS: 1000.0}
            for i, level in enumerate(levels):
                window = make_dataset(SynthSpec(rows=n, seed=30_000 + rep * len(levels) + i, drift=level))
                features = window.drop(columns=LABEL)
                outcome = {
                    "full": detect_drift(
                        reference, window, label=LABEL, champion=champion, champion_metrics=recorded,
                        config=config, prediction_reference=held_out,
                    ).retrain,
                    "data": detect_drift(reference, features, config=config).retrain,
                    "bonferroni": bonferroni_retrain(reference, features),
                }  # fmt: skip
                if rep < evidently_reps.get(n, 0):
                    outcome["evidently"] = evidently_retrain(reference, features)
                for method, retrain in outcome.items():
                    cell = counts.setdefault(method, {}).setdefault(str(n), {}).setdefault(str(level), [0, 0])
                    cell[0] += int(retrain)
                    cell[1] += 1
        print(f"  drift calibration: {n:,} rows done at {time.perf_counter() - started:.0f} s", flush=True)
    limits.unregister()
    return {
        "rows": list(rows),
        "levels": list(levels),
        "reps": {str(k): v for k, v in reps.items()},
        "evidently_reps": {str(k): v for k, v in evidently_reps.items()},
        "counts": counts,
        "seconds": time.perf_counter() - started,
    }


def zipf_calibration(rows: tuple[int, ...], reps: int) -> dict[str, Any]:
    """How often a long-tailed column (Zipf 1.1 over 20,000 values), the same on both sides, drifts."""
    from kfp_ct.drift import DriftConfig
    from kfp_ct.drift.features import feature_drift

    values = np.array([f"v{i:05d}" for i in range(20_000)])
    weights = 1.0 / np.arange(1, 20_001) ** 1.1
    weights /= weights.sum()
    out: dict[str, list[int]] = {}
    for n in rows:
        hits = 0
        for rep in range(reps):
            rng = np.random.default_rng(40_000 + rep)
            ref = pd.Series(rng.choice(values, n, p=weights))
            cur = pd.Series(rng.choice(values, n, p=weights))
            hits += feature_drift("merchant", ref, cur, "categorical", DriftConfig()).drifted
        out[str(n)] = [hits, reps]
    return out


# ---------------------------------------------------------------- gate
def _binary_pair(n: int, rng: np.random.Generator, better: bool):
    from kfp_ct.core.metrics import Scored

    mu_a = np.sqrt(2) * sps.norm.ppf(BASE_AUC)
    mu_b = np.sqrt(2) * sps.norm.ppf(BETTER_AUC if better else BASE_AUC)
    y = (rng.random(n) < 0.4).astype(np.int64)
    noise_a = rng.normal(size=n)
    noise_b = NOISE_CORRELATION * noise_a + np.sqrt(1 - NOISE_CORRELATION**2) * rng.normal(size=n)

    def scored(mu: float, noise: np.ndarray) -> Scored:
        p1 = 1 / (1 + np.exp(-(mu * y + noise - mu / 2)))
        return Scored(y, (p1 > 0.5).astype(np.int64), np.column_stack([1 - p1, p1]), np.array([0, 1]))

    return scored(mu_b, noise_b), scored(mu_a, noise_a)


def _multiclass_pair(n: int, rng: np.random.Generator):
    from kfp_ct.core.metrics import Scored

    classes = np.array(["high", "low", "medium"])
    y = classes[rng.integers(0, 3, n)]
    ease = rng.normal(size=n)

    def scored() -> Scored:
        right = ease + rng.normal(size=n) > -0.8
        other = classes[(np.searchsorted(classes, y) + rng.integers(1, 3, n)) % 3]
        pred = np.where(right, y, other)
        proba = np.where(classes[None, :] == pred[:, None], 0.7, 0.15)
        return Scored(y, pred, proba, classes)

    return scored(), scored()


def _regression_pair(n: int, rng: np.random.Generator):
    from kfp_ct.core.metrics import Scored

    y = rng.normal(size=n)
    shared = rng.normal(size=n)

    def scored() -> Scored:
        return Scored(y, y + 0.5 * (0.8 * shared + 0.6 * rng.normal(size=n)), None, None)

    return scored(), scored()


def gate_calibration(rows: tuple[int, ...], reps: dict[int, int]) -> dict[str, Any]:
    """Promotion rates of the default gate: equal models (false promotions) and +0.019 AUC (power)."""
    from kfp_ct.core.compare import ComparePolicy, decide

    policy = ComparePolicy()
    scenarios = {
        "binary_null": ("binary", lambda n, rng: _binary_pair(n, rng, False)),
        "binary_power": ("binary", lambda n, rng: _binary_pair(n, rng, True)),
        "multiclass_null": ("multiclass", _multiclass_pair),
        "regression_null": ("regression", _regression_pair),
    }
    out: dict[str, Any] = {
        "reps": {str(n): reps[n] for n in rows},
        "alpha": policy.alpha,
        "n_bootstrap": policy.n_bootstrap,
    }
    started = time.perf_counter()
    for key, (task, make) in scenarios.items():
        out[key] = {}
        for n in rows:
            promoted = 0
            for rep in range(reps[n]):
                rng = np.random.default_rng(zlib.crc32(f"{key}/{n}/{rep}".encode()))
                challenger, champion = make(n, rng)
                seeded = ComparePolicy(seed=rep)
                promoted += decide(task, challenger, champion, seeded).decision == "promote"
            out[key][str(n)] = [promoted, reps[n]]
    out["seconds"] = time.perf_counter() - started
    return out


PARTS = ("drift", "zipf", "gate")


def bench(parts: tuple[str, ...] = PARTS, **cfg: Any) -> dict[str, Any]:
    """Run the calibrations in `parts` at the given sizes."""
    from datetime import UTC, datetime

    runs = {
        "drift": lambda: drift_calibration(cfg["rows"], cfg["levels"], cfg["reps"], cfg["evidently_reps"]),
        "zipf": lambda: zipf_calibration(cfg["zipf_rows"], cfg["zipf_reps"]),
        "gate": lambda: gate_calibration(cfg["gate_rows"], cfg["gate_reps"]),
    }
    out = {}
    for part in parts:
        out[part] = runs[part]()
        if part != "zipf":  # zipf maps rows to counts
            out[part]["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    return out


def main() -> None:
    """Run at one size and print the results as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibration")
    parser.add_argument("--size", choices=tuple(SIZES), default="ci")
    parser.add_argument("--part", action="append", choices=PARTS, help="only these parts (repeatable)")
    args = parser.parse_args()
    print(json.dumps(bench(tuple(args.part or PARTS), **SIZES[args.size])))


if __name__ == "__main__":
    main()
