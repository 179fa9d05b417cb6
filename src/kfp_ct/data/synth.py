"""A seeded synthetic tabular dataset with drift knobs, for demos, tests and benchmarks.

A churn-like problem: numeric and categorical features, a label that depends on both through a
non-linear score. `drift` shifts numeric features and category mix; `new_categories` adds unseen
category values; `label_shift` moves the class balance (or the regression target's mean); `concept_drift`
changes how the label depends on the features (support calls and plan matter differently).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kfp_ct.errors import ParameterError

REGIONS = ["north", "south", "east", "west"]
PLANS = ["basic", "plus", "pro"]
TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class SynthSpec:
    """Knobs of the synthetic dataset."""

    rows: int = 5000
    seed: int = 42
    task: str = "binary"
    drift: float = 0.0
    new_categories: bool = False
    label_shift: float = 0.0
    concept_drift: float = 0.0
    noise: float = 0.5
    label: str = "label"


def _mix(rng: np.random.Generator, values: list[str], shift: float, rows: int) -> np.ndarray:
    base = np.linspace(1.0, 2.0, len(values))
    weights = base * np.exp(shift * np.arange(len(values)))
    return rng.choice(values, size=rows, p=weights / weights.sum())


def make_dataset(spec: SynthSpec = SynthSpec()) -> pd.DataFrame:
    """Generate the dataset described by `spec`."""
    if spec.rows < 1:
        raise ParameterError(f"rows must be >= 1, got {spec.rows}")
    if spec.task not in TASKS:
        raise ParameterError(f"task must be one of {TASKS}, got '{spec.task}'")
    if not 0.0 <= spec.drift <= 5.0:
        raise ParameterError(f"drift must be within [0, 5], got {spec.drift}")
    rng = np.random.default_rng(spec.seed)
    n, d = spec.rows, spec.drift
    age = rng.normal(40 + 8 * d, 12, n).clip(18, 90).round()
    income = rng.lognormal(10.5 + 0.3 * d, 0.5, n).round(2)
    tenure = rng.gamma(2.0 + d, 12.0, n).round(1)
    balance = rng.normal(1000 * (1 + d), 800, n).round(2)
    products = rng.poisson(1.5 + 0.5 * d, n) + 1
    support_calls = rng.poisson(1.0 + d, n)
    region = _mix(rng, REGIONS + (["central"] if spec.new_categories else []), d, n)
    plan = _mix(rng, PLANS + (["enterprise"] if spec.new_categories else []), -d, n)
    score = (
        -0.04 * (age - 40)
        + 0.8 * np.sin(tenure / 10.0)
        - 0.3 * np.log(income / 30000.0)
        + (0.5 - 1.0 * spec.concept_drift) * (support_calls - 1.0)
        - 0.4 * (products - 2.0) ** 2 / 2
        + (1 - 2 * spec.concept_drift) * np.where(plan == "basic", 0.6, np.where(plan == "pro", -0.5, 0.0))
        + np.where(region == "south", 0.4, 0.0)
        + rng.normal(0, spec.noise, n)
    )
    frame = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "tenure_months": tenure,
            "balance": balance,
            "num_products": products.astype("int64"),
            "support_calls": support_calls.astype("int64"),
            "region": region,
            "plan": plan,
        }
    )
    frame[spec.label] = _label(score, spec)
    return frame


def _label(score: np.ndarray, spec: SynthSpec) -> np.ndarray:
    centered = score - np.median(score)
    if spec.task == "regression":
        return np.round(50 + 10 * centered + 10 * spec.label_shift, 3)
    if spec.task == "binary":
        return (centered + spec.label_shift > 0).astype("int64")
    edges = np.quantile(centered, [1 / 3, 2 / 3]) - spec.label_shift
    classes = np.array(["low", "medium", "high"])
    return classes[np.digitize(centered, edges)]
