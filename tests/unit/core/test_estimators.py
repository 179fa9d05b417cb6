"""XGBoost and LightGBM in the kfp-ct Pipeline; high-cardinality categoricals for every estimator; device."""

import json
import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from skops.io import dumps, get_untrusted_types

from kfp_ct.core import device as device_mod
from kfp_ct.core.estimators import (
    ESTIMATORS,
    MAX_NATIVE_CATEGORIES,
    MAX_ONEHOT_CATEGORIES,
    NATIVE_CATEGORICAL,
    SKOPS_TRUSTED_TYPES,
    build_estimator,
)
from kfp_ct.core.evaluate import evaluate_model
from kfp_ct.core.schema import infer_schema
from kfp_ct.core.train import train_model
from kfp_ct.data.split import split_frame
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.errors import ParameterError
from kfp_ct.serving.fastpath import CompiledPipeline
from tests.unit.core.merchant import N_MERCHANTS, merchants, with_merchant

CASES = [
    (name, task)
    for task in ("binary", "multiclass", "regression")
    for name, (clf, reg) in ESTIMATORS.items()
    if (reg if task == "regression" else clf) is not None
]


@pytest.fixture(scope="module")
def merchant_frames():
    out = {}
    for task in ("binary", "multiclass", "regression"):
        if task == "binary":  # all 20,000 values seen in training, then a Zipf tail
            frame = with_merchant(SynthSpec(rows=24_000, task=task, seed=21), every_id=True)
        else:
            frame = with_merchant(SynthSpec(rows=4000, task=task, seed=21))
        train, test = split_frame(frame, "label", 0.25, 0, task != "regression")
        out[task] = (frame, train, test)
    return out


@pytest.mark.parametrize(("estimator", "task"), CASES)
def test_a_20k_value_merchant_column_trains_serves_and_saves(estimator, task, merchant_frames, tmp_path):
    """Every estimator: dense bounded matrix, fast path identical to the Pipeline, skops + pyfunc load."""
    import mlflow.pyfunc

    from kfp_ct.tracking import models

    frame, train, test = merchant_frames[task]
    assert (
        frame["merchant"].nunique() == N_MERCHANTS if task == "binary" else frame["merchant"].nunique() > 1000
    )
    result = train_model(train, infer_schema(frame, "label", task), estimator, {}, seed=0)
    assert "merchant" in result.categorical
    matrix = result.model[:-1].transform(test[result.features])
    assert isinstance(matrix, np.ndarray)  # dense, whatever the cardinality
    per_column = 1 if estimator in NATIVE_CATEGORICAL else MAX_ONEHOT_CATEGORIES
    assert matrix.shape[1] <= len(result.numeric) + per_column * len(result.categorical)
    if estimator in NATIVE_CATEGORICAL:
        codes = matrix[:, len(result.numeric) :]
        assert np.nanmax(codes) <= MAX_NATIVE_CATEGORIES - 1

    # the serving fast path: same matrix and answers, unseen merchants and regions included
    rows = make_dataset(SynthSpec(rows=40, task=task, seed=4, new_categories=True))
    rows["merchant"] = merchants(40, seed=99, shift=7)
    rows = rows[result.features]
    compiled = CompiledPipeline.compile(result.model)
    assert compiled is not None, f"{estimator}/{task} should compile"
    fast = compiled.encode({c: rows[c].tolist() for c in result.features}, len(rows))
    assert np.array_equal(fast, result.model[:-1].transform(rows), equal_nan=True)
    assert np.array_equal(compiled.estimator.predict(fast), result.model.predict(rows))

    # skops needs nothing beyond the reviewed list; MLflow pyfunc scores the raw CSV
    extra = set(get_untrusted_types(data=dumps(result.model))) - set(SKOPS_TRUSTED_TYPES)
    assert not extra, f"{estimator}/{task} needs {extra}"
    model_dir = models.save_model(
        result.model, tmp_path / "m", test[result.features], result.model.predict(test)
    )
    test.drop(columns=["label"]).head(50).to_csv(tmp_path / "raw.csv", index=False)
    raw = pd.read_csv(tmp_path / "raw.csv")
    scored = mlflow.pyfunc.load_model(str(model_dir)).predict(raw)
    assert np.array_equal(np.asarray(scored), result.model.predict(raw))


@pytest.mark.parametrize("estimator", ["xgboost", "lightgbm"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_boosters_learn_each_task(estimator, task):
    frame = make_dataset(SynthSpec(rows=2000, task=task, seed=5))
    schema = infer_schema(frame, "label", task)
    train, test = split_frame(frame, "label", 0.25, 0, task != "regression")
    result = train_model(train, schema, estimator, {"n_estimators": 60}, seed=0)
    ev = evaluate_model(result.model, test, result.features, "label", task)
    if task == "regression":
        assert ev.metrics["r2"] > 0.6
    else:
        assert ev.metrics["accuracy"] > 0.7
        # the labels come back as they were given (XGBoost itself only knows 0..k-1)
        assert sorted(map(str, result.model.classes_)) == sorted(map(str, frame["label"].unique()))
        assert set(result.model.predict(test[result.features])) <= set(frame["label"])
    if task == "binary":
        assert ev.metrics["roc_auc"] > 0.85


@pytest.mark.parametrize("estimator", ["xgboost", "lightgbm"])
def test_boosters_are_seeded(estimator):
    frame = make_dataset(SynthSpec(rows=1500, seed=8))
    schema = infer_schema(frame, "label", "binary")
    params = {"n_estimators": 30, "subsample": 0.7, "colsample_bytree": 0.7}
    if estimator == "lightgbm":
        params["subsample_freq"] = 1
    x = frame.drop(columns=["label"])
    a = train_model(frame, schema, estimator, params, seed=3).model.predict_proba(x)
    b = train_model(frame, schema, estimator, params, seed=3).model.predict_proba(x)
    c = train_model(frame, schema, estimator, params, seed=4).model.predict_proba(x)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_hyperparameters_the_pipeline_sets_are_refused():
    with pytest.raises(ParameterError, match="use the `device` parameter"):
        build_estimator("xgboost", "binary", {"device": "cuda"}, 0)
    with pytest.raises(ParameterError, match="set by kfp-ct"):
        build_estimator("hist_gradient_boosting", "binary", {"categorical_features": [0]}, 0)
    with pytest.raises(ParameterError, match=r"no hyperparameter\(s\) \['depth'\]"):
        build_estimator("lightgbm", "binary", {"depth": 3}, 0)


# ---------------------------------------------------------------------------------------- device


def test_auto_uses_the_cpu_here_and_says_why(caplog):
    frame = make_dataset(SynthSpec(rows=300, seed=1))
    schema = infer_schema(frame, "label", "binary")
    with caplog.at_level(logging.INFO, logger="kfp_ct.core.train"):
        result = train_model(frame, schema, "xgboost", {"n_estimators": 5}, seed=0, device="auto")
    assert result.device.device == "cpu" and result.device.requested == "auto"
    count, how = device_mod.visible_gpus()
    assert count == 0 and result.device.reason == f"no GPU visible: {how}"
    assert f"device: cpu (requested auto) for xgboost: no GPU visible: {how}" in caplog.text
    assert result.run_params()["device"] == "cpu"
    sk = train_model(frame, schema, "random_forest", {"n_estimators": 5}, seed=0)
    assert sk.device.device == "cpu" and "CPU only" in sk.device.reason


def test_device_choices():
    resolve = device_mod.resolve_device
    assert resolve("xgboost", "cpu", True).device == "cpu"
    with pytest.raises(ParameterError, match="no GPU is visible"):
        resolve("xgboost", "cuda", True)
    with pytest.raises(ParameterError, match="has no GPU implementation"):
        resolve("random_forest", "cuda", False)
    with pytest.raises(ParameterError, match="device must be one of"):
        resolve("xgboost", "tpu", True)
    assert resolve("xgboost", "", True).requested == "auto"


def test_auto_picks_cuda_when_a_gpu_is_visible(monkeypatch):
    monkeypatch.setattr(device_mod, "visible_gpus", lambda: (1, "the CUDA driver sees 1 GPU(s)"))
    choice = device_mod.resolve_device("xgboost", "auto", True)
    assert choice.device == "cuda" and "sees 1 GPU" in choice.reason
    monkeypatch.setattr(device_mod, "xgboost_has_cuda", lambda: False)
    assert device_mod.resolve_device("xgboost", "auto", True).reason.endswith("built without CUDA")


def test_a_model_trained_for_cuda_is_saved_to_predict_on_a_cpu(monkeypatch, tmp_path):
    """Trained with device=cuda (XGBoost falls back to the CPU here), saved with device=cpu; a process
    that sees no GPU at all loads and scores it without any GPU message."""
    import warnings

    from kfp_ct.core import train as train_mod
    from kfp_ct.tracking import models

    monkeypatch.setattr(
        train_mod, "resolve_device", lambda e, r, g: device_mod.DeviceChoice(r, "cuda", "test")
    )
    frame = make_dataset(SynthSpec(rows=400, seed=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No visible GPU is found, setting device to CPU"
        result = train_mod.train_model(
            frame, infer_schema(frame, "label", "binary"), "xgboost", {}, 0, "cuda"
        )
    booster = result.model[-1]
    assert booster.get_params()["device"] == "cpu"
    assert json.loads(booster.get_booster().save_config())["learner"]["generic_param"]["device"] == "cpu"
    x = frame.drop(columns=["label"])
    models.save_model(result.model, tmp_path / "m", x, result.model.predict(x))
    x.head(20).to_csv(tmp_path / "raw.csv", index=False)
    code = (
        "import json, warnings, pandas as pd, mlflow.pyfunc; warnings.simplefilter('error', UserWarning);"
        "warnings.filterwarnings('ignore', message='.*[Ii]nteger column');"
        f"m = mlflow.pyfunc.load_model({str(tmp_path / 'm')!r});"
        f"print(json.dumps(m.predict(pd.read_csv({str(tmp_path / 'raw.csv')!r})).tolist()))"
    )
    env = {"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout.strip()) == result.model.predict(x.head(20)).tolist()
    assert "GPU" not in out.stderr


def test_merchant_ids_are_long_tailed():
    ids = merchants(20_000, seed=0)
    counts = pd.Series(ids).value_counts()
    assert counts.iloc[0] > 100 * counts.median() and len(counts) > 3000
    assert all(int(i[1:]) < N_MERCHANTS for i in counts.index)


DRIFT_CASES = [(n, "binary" if clf is not None else "regression") for n, (clf, _) in ESTIMATORS.items()]


@pytest.mark.parametrize(("estimator", "task"), DRIFT_CASES)
def test_the_merchant_column_drifts_only_when_its_mix_moves(estimator, task):
    """Same-distribution windows (thousands of tail merchants unseen in training) do not drift;
    a window whose popular merchants moved does, with the champion's predictions checked too."""
    from kfp_ct.drift.report import detect_drift

    frame = with_merchant(SynthSpec(rows=5000, seed=31, task=task))
    train, held_out = split_frame(frame, "label", 0.3, 0, task != "regression")
    model = train_model(train, infer_schema(frame, "label", task), estimator, {}, seed=0).model
    same = with_merchant(SynthSpec(rows=2000, seed=32, task=task))
    moved = with_merchant(SynthSpec(rows=2000, seed=33, task=task), shift=50)
    kwargs = {"label": "label", "champion": model, "prediction_reference": held_out}
    quiet = detect_drift(train, same, **kwargs)
    merchant = next(f for f in quiet.features if f.feature == "merchant")
    assert not merchant.drifted and quiet.decision == "skip", quiet.reasons
    loud = detect_drift(train, moved, **kwargs)
    assert "merchant" in loud.drifted_features, loud.reasons


def test_the_signature_keeps_the_integer_columns_of_the_raw_data():
    """Validation casts numbers to float64; the logged signature must still take the raw CSV's int64."""
    from kfp_ct.core.validate import coerce_to_schema

    raw = make_dataset(SynthSpec(rows=50, seed=3))
    schema = infer_schema(raw, "label", "binary")
    assert schema.column("num_products").dtype == "int64" and schema.column("age").dtype == "float64"
    coerced = coerce_to_schema(raw, schema)
    assert coerced["num_products"].dtype == "float64"
    assert infer_schema(coerced, "label", "binary", source=raw).column("num_products").dtype == "int64"
    back = schema.with_source_dtypes(coerced)
    assert back["num_products"].dtype == "int64" and back["age"].dtype == "float64"
    coerced.loc[0, "support_calls"] = np.nan  # a gap: pandas reads such a column as float
    assert schema.with_source_dtypes(coerced)["support_calls"].dtype == "float64"
