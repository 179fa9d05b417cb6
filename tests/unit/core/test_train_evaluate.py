"""Training builds one preprocessing + estimator pipeline; evaluation reports real metrics."""

import numpy as np
import pytest
from skops.io import dumps, get_untrusted_types

from kfp_ct.core.estimators import ESTIMATORS, SKOPS_TRUSTED_TYPES, build_estimator, parse_params
from kfp_ct.core.evaluate import evaluate_model
from kfp_ct.core.schema import infer_schema
from kfp_ct.core.tasks import infer_task
from kfp_ct.core.train import train_model
from kfp_ct.data.split import split_frame
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.errors import ParameterError


def test_unknown_estimator_and_params_are_named():
    with pytest.raises(ParameterError, match="unknown estimator 'xgb'"):
        build_estimator("xgb", "binary", {}, 0)
    with pytest.raises(ParameterError, match=r"no hyperparameter\(s\) \['depth'\]"):
        build_estimator("random_forest", "binary", {"depth": 3}, 0)
    with pytest.raises(ParameterError, match="does not do regression"):
        build_estimator("logistic_regression", "regression", {}, 0)
    with pytest.raises(ParameterError, match="not valid JSON"):
        parse_params("{max_depth: 3}")
    with pytest.raises(ParameterError, match="JSON object"):
        parse_params("[1, 2]")


def test_infer_task():
    frame = make_dataset(SynthSpec(rows=300))
    assert infer_task(frame["label"]) == "binary"
    assert infer_task(make_dataset(SynthSpec(rows=300, task="multiclass"))["label"]) == "multiclass"
    assert infer_task(make_dataset(SynthSpec(rows=300, task="regression"))["label"]) == "regression"


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_train_and_evaluate_each_task(task):
    frame = make_dataset(SynthSpec(rows=1500, task=task, seed=5))
    schema = infer_schema(frame, "label", task)
    train, test = split_frame(frame, "label", 0.25, 0, task != "regression")
    result = train_model(train, schema, "hist_gradient_boosting", {"max_iter": 50}, seed=0)
    assert set(result.categorical) == {"region", "plan"}
    ev = evaluate_model(result.model, test, result.features, "label", task)
    if task == "regression":
        assert ev.metrics["r2"] > 0.5 and ev.metrics["rmse"] > 0
    else:
        assert ev.metrics["accuracy"] > 0.6
        assert len(ev.confusion) == frame["label"].nunique()
        assert np.sum(ev.confusion) == len(test)
        assert ev.per_class
    if task == "binary":
        assert ev.metrics["roc_auc"] > 0.8
        assert ev.roc["fpr"][0] == 0.0 and ev.roc["tpr"][-1] == 1.0
    assert 0 < ev.latency_ms["p50"] <= ev.latency_ms["p99"]
    assert "| " in ev.to_markdown()


def test_training_is_seeded():
    frame = make_dataset(SynthSpec(rows=800))
    schema = infer_schema(frame, "label", "binary")
    a = train_model(frame, schema, "random_forest", {"n_estimators": 20}, seed=1).model
    b = train_model(frame, schema, "random_forest", {"n_estimators": 20}, seed=1).model
    x = frame.drop(columns=["label"])
    assert np.array_equal(a.predict_proba(x), b.predict_proba(x))


def test_trusted_types_cover_every_estimator():
    """A saved model must need no skops type beyond the reviewed list (else saving fails)."""
    for task in ("binary", "multiclass", "regression"):
        frame = make_dataset(SynthSpec(rows=200, task=task))
        schema = infer_schema(frame, "label", task)
        for name, (clf, reg) in ESTIMATORS.items():
            if (reg if task == "regression" else clf) is None:
                continue
            model = train_model(frame, schema, name, {}, seed=0).model
            extra = set(get_untrusted_types(data=dumps(model))) - set(SKOPS_TRUSTED_TYPES)
            assert not extra, f"{name}/{task} needs {extra}"
