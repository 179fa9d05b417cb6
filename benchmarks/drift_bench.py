"""Drift check scaling: the fast decision, the Evidently report path and plain scipy tests.

`python -m benchmarks.drift_bench --rows N --path fast|evidently|scipy --repeats R` builds a
seeded reference and a drifted current window of N rows x 20 features (12 numeric, 8
categorical), times the path R times and prints one JSON line; peak memory of the timed call is
measured in a separate tracemalloc pass, and the process's peak RSS is reported too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import emit

N_NUMERIC, N_CATEGORICAL = 12, 8
CATEGORIES = [f"c{i:02d}" for i in range(12)]


def make_frame(rows: int, seed: int, shift: float) -> pd.DataFrame:
    """A frame of `rows` x 20 mixed features; `shift` moves half the columns."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i in range(N_NUMERIC):
        moved = shift if i % 2 == 0 else 0.0
        if i % 3 == 0:
            data[f"num_{i:02d}"] = rng.normal(moved, 1.0, rows)
        elif i % 3 == 1:
            data[f"num_{i:02d}"] = rng.lognormal(moved * 0.5, 0.7, rows)
        else:
            data[f"num_{i:02d}"] = rng.poisson(3 + moved, rows).astype("int64")
    for j in range(N_CATEGORICAL):
        k = 4 + j
        weights = np.linspace(1.0, 2.0, k) * np.exp((shift if j % 2 == 0 else 0.0) * np.arange(k) / k)
        data[f"cat_{j:02d}"] = rng.choice(CATEGORIES[:k], size=rows, p=weights / weights.sum())
    return pd.DataFrame(data)


def scipy_floor(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    """Plain per-column scipy tests: ks_2samp (asymptotic) and chi2_contingency on value counts."""
    from scipy import stats

    out = {}
    for name in reference.columns:
        ref, cur = reference[name], current[name]
        if pd.api.types.is_numeric_dtype(ref):
            out[name] = stats.ks_2samp(ref.to_numpy(), cur.to_numpy(), method="asymp").pvalue
        else:
            table = pd.concat([ref.value_counts(), cur.value_counts()], axis=1).fillna(0).to_numpy().T
            out[name] = stats.chi2_contingency(table, correction=False).pvalue
    return out


def paths(reference: pd.DataFrame, current: pd.DataFrame, tmp: Path) -> dict[str, Callable[[], object]]:
    """The callables compared: fast decision, Evidently report path, scipy floor."""
    from kfp_ct.drift import detect_drift, render_evidently_html

    return {
        "fast": lambda: detect_drift(reference, current),
        "evidently": lambda: render_evidently_html(reference, current, tmp / "report.html"),
        "scipy": lambda: scipy_floor(reference, current),
    }


def main() -> None:
    """Time one path at one size and print the result."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--path", choices=("fast", "evidently", "scipy"), required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    reference = make_frame(args.rows, 1, 0.0)
    current = make_frame(args.rows, 2, 0.5)
    with tempfile.TemporaryDirectory() as tmp:
        fn = paths(reference, current, Path(tmp))[args.path]
        start = time.perf_counter()
        first = fn()  # also pays one-time imports (Evidently: seconds)
        first_s = time.perf_counter() - start
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        tracemalloc.start()
        fn()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    result: dict[str, object] = {
        "rows": args.rows,
        "path": args.path,
        "first_call_s": first_s,
        "times_s": times,
        "peak_alloc_mib": peak / 2**20,
        "input_mib": (reference.memory_usage(deep=True).sum() + current.memory_usage(deep=True).sum())
        / 2**20,
    }
    if args.path == "fast":
        result["decision"] = first.decision
        result["drifted"] = len(first.drifted_features)
    emit(result)


if __name__ == "__main__":
    main()
