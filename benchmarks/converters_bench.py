"""ONNX Runtime and treelite against the hand-written fast path, on every estimator kfp-ct offers.

`python -m benchmarks.converters_bench [--rows N] [--repeats N]` trains each estimator of
`kfp_ct.core.estimators.ESTIMATORS` (its classifier on the binary synthetic data, its regressor
on the regression data) with the project's own `build_pipeline`, then for each way of scoring
it measures single-row and batch latency in this process (one OpenMP thread, as the server
runs) and agreement with the Pipeline's own `predict`/`predict_proba`:

- `pipeline`: scikit-learn's `Pipeline` on a DataFrame (the reference);
- `fastpath`: `kfp_ct.serving.fastpath.CompiledPipeline` on plain V2 columns (what the server runs);
- `onnx`: the whole Pipeline converted by skl2onnx (+ onnxmltools for XGBoost/LightGBM), run by
  ONNX Runtime, float64 inputs where the converter takes them, else float32;
- `treelite`: the tree ensemble imported by treelite and run by its GTIL interpreter on the fast
  path's encoded matrix (treelite holds no preprocessing).

A converter that is not installed, or that cannot convert a pipeline, is recorded with its error:
coverage is part of the result. Prints one JSON line (read by `benchmarks.run`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import emit, summary

PATHS = ("pipeline", "fastpath", "onnx", "treelite")


def cases() -> list[tuple[str, str]]:
    """(estimator, task) for every estimator and each task it does."""
    from kfp_ct.core.estimators import ESTIMATORS

    out = []
    for name, (classifier, regressor) in ESTIMATORS.items():
        if classifier is not None:
            out.append((name, "binary"))
        if regressor is not None:
            out.append((name, "regression"))
    return out


def fit(estimator: str, task: str, rows: int) -> tuple[Any, pd.DataFrame, list[str], list[str]]:
    """The project's pipeline trained on synthetic data; (model, held-out features, numeric, categorical)."""
    from kfp_ct.core.schema import infer_schema
    from kfp_ct.core.train import train_model
    from kfp_ct.data.synth import SynthSpec, make_dataset

    frame = make_dataset(SynthSpec(rows=rows, task=task))
    schema = infer_schema(frame, "label", task)
    cut = int(len(frame) * 0.8)
    result = train_model(frame.iloc[:cut], schema, estimator, {}, 42, "cpu")
    test = frame.iloc[cut:][result.features].reset_index(drop=True)
    return result.model, test, result.numeric, result.categorical


def timed(call: Callable[[Any], Any], inputs: list[Any], repeats: int) -> list[float]:
    """Milliseconds of `call(x)` for `repeats` inputs cycling over `inputs` (after a warm-up)."""
    call(inputs[0])
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        call(inputs[i % len(inputs)])
        times.append((time.perf_counter() - start) * 1000)
    return times


def agreement(labels: Any, proba: Any, ref_labels: np.ndarray, ref_proba: np.ndarray | None) -> dict:
    """Share of equal labels (max abs difference for regression) and the max probability difference."""
    labels = np.asarray(labels).ravel()
    out: dict[str, Any] = {}
    if ref_proba is None:  # regression: values
        diff = np.abs(labels.astype(np.float64) - ref_labels.astype(np.float64))
        out["max_abs_diff"] = float(diff.max())
        out["bit_identical"] = bool(np.array_equal(labels.astype(np.float64), ref_labels.astype(np.float64)))
        return out
    out["labels_equal"] = float(np.mean([str(a) == str(b) for a, b in zip(labels, ref_labels, strict=True)]))
    if proba is not None:
        proba = np.asarray(proba, dtype=np.float64)
        out["max_proba_diff"] = float(np.abs(proba - ref_proba).max())
        out["bit_identical"] = bool(np.array_equal(proba, ref_proba)) and out["labels_equal"] == 1.0
    return out


class Scorer:
    """One way of scoring: `batch(frame) -> (labels, proba)`, `one(prepared) -> Any`, `prepare(frame)`."""

    def __init__(self, batch: Callable, one: Callable, prepare: Callable, note: str = "") -> None:
        self.batch, self.one, self.prepare, self.note = batch, one, prepare, note


def pipeline_scorer(model: Any) -> Scorer:
    """The reference: the Pipeline on a DataFrame."""
    proba = hasattr(model, "predict_proba")

    def batch(frame: pd.DataFrame) -> tuple:
        return model.predict(frame), model.predict_proba(frame) if proba else None

    rows = lambda frame: [frame.iloc[[i]] for i in range(len(frame))]  # noqa: E731
    return Scorer(batch, lambda row: batch(row), rows)


def fastpath_scorer(model: Any) -> Scorer:
    """The server's compiled path on plain columns."""
    from kfp_ct.serving.fastpath import CompiledPipeline

    compiled = CompiledPipeline.compile(model)
    if compiled is None:
        raise ValueError("not the shape CompiledPipeline covers (the server uses the DataFrame path)")

    def batch(frame: pd.DataFrame) -> tuple:
        columns = {c: frame[c].tolist() for c in [*compiled.numeric, *compiled.categorical]}
        answer = compiled.answer(columns, len(frame))
        if answer is None:
            raise ValueError("rows with missing values take the DataFrame path")
        return answer

    return Scorer(
        batch, lambda cols: compiled.answer(cols, 1), lambda frame: compiled.requests(frame, len(frame))
    )


def onnx_scorer(model: Any, numeric: list[str], categorical: list[str]) -> Scorer:
    """skl2onnx (+ onnxmltools converters for XGBoost/LightGBM) and ONNX Runtime, one thread."""
    import onnxruntime as ort
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    _register_boosters()
    model, fill = _without_string_imputer(model)
    errors = []
    for dtype, tensor in ((np.float64, DoubleTensorType), (np.float32, FloatTensorType)):
        initial = [(c, tensor([None, 1])) for c in numeric] + [
            (c, StringTensorType([None, 1])) for c in categorical
        ]
        try:
            options = (
                {type(model.steps[-1][1]): {"zipmap": False}} if hasattr(model, "predict_proba") else None
            )
            onx = to_onnx(
                model, initial_types=initial, options=options, target_opset={"": 18, "ai.onnx.ml": 3}
            )
            settings = ort.SessionOptions()
            settings.intra_op_num_threads = settings.inter_op_num_threads = 1
            session = ort.InferenceSession(
                onx.SerializeToString(), settings, providers=["CPUExecutionProvider"]
            )
            break
        except Exception as exc:
            errors.append(f"{np.dtype(dtype).name}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    else:
        raise ValueError("; ".join(errors))
    outputs = [o.name for o in session.get_outputs()]

    def feeds(frame: pd.DataFrame) -> dict:
        out = {c: frame[[c]].to_numpy(dtype) for c in numeric}
        out.update({c: frame[[c]].fillna(fill).astype(str).to_numpy() for c in categorical})
        return out

    def run(feed: dict) -> tuple:
        result = session.run(outputs, feed)
        return result[0].ravel(), result[1] if len(result) > 1 else None

    return Scorer(
        lambda frame: run(feeds(frame)),
        run,
        lambda frame: [feeds(frame.iloc[[i]]) for i in range(len(frame))],
        f"{np.dtype(dtype).name} inputs, categorical imputer applied by the caller"
        + (f" (float64 failed: {errors[0]})" if errors else ""),
    )


def _without_string_imputer(model: Any) -> tuple[Any, str]:
    """A copy of the Pipeline without its categorical SimpleImputer, and the value it fills in.

    skl2onnx converts no SimpleImputer over strings whose missing value is NaN (the project's), so
    the imputation moves to the caller; everything else is the fitted Pipeline as it is.
    """
    import copy

    from sklearn.pipeline import Pipeline

    model = copy.deepcopy(model)
    pre = model.steps[0][1]
    fill = "__missing__"
    for i, (name, steps, columns) in enumerate(pre.transformers_):
        if name == "categorical" and isinstance(steps, Pipeline) and steps.steps[0][0] == "impute":
            fill = steps.steps[0][1].fill_value
            pre.transformers_[i] = (name, Pipeline(steps.steps[1:]), columns)
    return model, fill


def _register_boosters() -> None:
    """Let skl2onnx convert XGBoost/LightGBM estimators inside a Pipeline (onnxmltools' converters)."""
    import lightgbm
    import xgboost
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    for cls, shape, convert in (
        (xgboost.XGBClassifier, calculate_linear_classifier_output_shapes, convert_xgboost),
        (xgboost.XGBRegressor, calculate_linear_regressor_output_shapes, convert_xgboost),
        (lightgbm.LGBMClassifier, calculate_linear_classifier_output_shapes, convert_lightgbm),
        (lightgbm.LGBMRegressor, calculate_linear_regressor_output_shapes, convert_lightgbm),
    ):
        update_registered_converter(
            cls,
            f"Kfp{cls.__name__}",
            shape,
            convert,
            options={"nocl": [True, False], "zipmap": [True, False, "columns"]}
            if "Classifier" in cls.__name__
            else None,
        )


def treelite_scorer(model: Any) -> Scorer:
    """treelite's import of the tree ensemble, GTIL on the fast path's encoded matrix."""
    import treelite

    from kfp_ct.serving.fastpath import CompiledPipeline

    compiled = CompiledPipeline.compile(model)
    if compiled is None:
        raise ValueError("needs the fast path's encoder (treelite holds no preprocessing)")
    estimator = model.steps[-1][1]
    module = type(estimator).__module__
    if module.startswith("xgboost") or module == "kfp_ct.core.boosting":
        tree_model = treelite.frontend.from_xgboost(estimator.get_booster())
    elif module.startswith("lightgbm"):
        tree_model = treelite.frontend.from_lightgbm(estimator.booster_)
    else:
        tree_model = treelite.sklearn.import_model(estimator)
    classes = getattr(estimator, "classes_", None)
    # scikit-learn's trees and forests compare float32 features (its tree DTYPE); HistGradientBoosting,
    # XGBoost and LightGBM take float64 here
    dtype = np.float32 if module.startswith(("sklearn.tree", "sklearn.ensemble._forest")) else np.float64

    def run(matrix: np.ndarray) -> tuple:
        raw = np.asarray(treelite.gtil.predict(tree_model, matrix.astype(dtype)))
        raw = raw.reshape(len(matrix), -1)
        if classes is None:
            return raw.ravel(), None
        proba = np.column_stack([1 - raw[:, -1], raw[:, -1]]) if raw.shape[1] == 1 else raw
        return np.asarray(classes).take(np.argmax(proba, axis=1)), proba

    def matrix(frame: pd.DataFrame) -> np.ndarray:
        columns = {c: frame[c].tolist() for c in [*compiled.numeric, *compiled.categorical]}
        return compiled.encode(columns, len(frame))

    return Scorer(
        lambda frame: run(matrix(frame)),
        lambda cols: run(compiled.encode(cols, 1)),
        lambda frame: compiled.requests(frame, len(frame)),
        "GTIL interpreter; encoding by the fast path",
    )


def measure(estimator: str, task: str, rows: int, repeats: int) -> dict[str, Any]:
    """Every path on one (estimator, task): latency, agreement, or why it does not cover it."""
    from kfp_ct.core.device import cpu_threads

    model, test, numeric, categorical = fit(estimator, task, rows)
    ref_labels = np.asarray(model.predict(test))
    ref_proba = (
        np.asarray(model.predict_proba(test), dtype=np.float64) if hasattr(model, "predict_proba") else None
    )
    single = test.head(min(len(test), 200))
    makers = {
        "pipeline": lambda: pipeline_scorer(model),
        "fastpath": lambda: fastpath_scorer(model),
        "onnx": lambda: onnx_scorer(model, numeric, categorical),
        "treelite": lambda: treelite_scorer(model),
    }
    out: dict[str, Any] = {"estimator": estimator, "task": task, "test_rows": len(test)}
    for path, make in makers.items():
        try:
            scorer = make()
            with cpu_threads(1):
                labels, proba = scorer.batch(test)
                one = timed(scorer.one, scorer.prepare(single), repeats)
                batch = timed(lambda _, s=scorer: s.batch(test), [None], max(3, repeats // 50))
        except ImportError as exc:
            out[path] = {"covered": False, "error": f"not installed: {exc.name}"}
            continue
        except Exception as exc:
            out[path] = {"covered": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:240]}"}
            continue
        out[path] = {
            "covered": True,
            "note": scorer.note,
            "single_row_ms": summary(one) | {"p50": float(np.percentile(one, 50))},
            "batch_ms": summary(batch),
            **agreement(labels, proba, ref_labels, ref_proba),
        }
    return out


def main() -> None:
    """Measure every (estimator, task) and print the JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000, help="synthetic rows (80%% train, 20%% held out)")
    parser.add_argument("--repeats", type=int, default=500, help="single-row calls per path")
    parser.add_argument("--only", action="append", help="estimator names (default: all)")
    args = parser.parse_args()
    results = [measure(e, t, args.rows, args.repeats) for e, t in cases() if not args.only or e in args.only]
    versions = {}
    for dist in ("scikit-learn", "skl2onnx", "onnxruntime", "onnxmltools", "treelite", "xgboost", "lightgbm"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:
            versions[dist] = None
    emit({"rows": args.rows, "repeats": args.repeats, "versions": versions, "cases": results})


if __name__ == "__main__":
    main()
