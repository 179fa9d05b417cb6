"""The serving fast path encodes exactly like the fitted scikit-learn pipeline, for every estimator."""

import numpy as np
import pytest
import scipy.sparse as sp

from kfp_ct.core.estimators import ESTIMATORS
from kfp_ct.core.schema import infer_schema
from kfp_ct.core.train import train_model
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.serving.fastpath import CompiledPipeline

CASES = [
    (name, task)
    for task in ("binary", "multiclass", "regression")
    for name, (clf, reg) in ESTIMATORS.items()
    if (reg if task == "regression" else clf) is not None
]


@pytest.mark.parametrize(("estimator", "task"), CASES)
def test_fast_encoding_and_predictions_match_the_pipeline(estimator, task):
    frame = make_dataset(SynthSpec(rows=400, task=task, seed=3))
    result = train_model(frame, infer_schema(frame, "label", task), estimator, {}, seed=0)
    compiled = CompiledPipeline.compile(result.model)
    assert compiled is not None, f"{estimator}/{task} should compile"
    rows = make_dataset(SynthSpec(rows=30, task=task, seed=4, new_categories=True))[result.features]
    columns = {c: rows[c].tolist() for c in result.features}
    fast = compiled.encode(columns, len(rows))
    slow = result.model[:-1].transform(rows)
    slow = slow.toarray() if sp.issparse(slow) else np.asarray(slow)
    assert np.array_equal(fast, slow, equal_nan=True)  # bit-identical, unseen categories (NaN codes) too
    assert np.array_equal(compiled.estimator.predict(fast), result.model.predict(rows))


def test_non_finite_numbers_take_the_generic_path():
    frame = make_dataset(SynthSpec(rows=200, seed=5))
    result = train_model(frame, infer_schema(frame, "label", "binary"), "logistic_regression", {}, seed=0)
    compiled = CompiledPipeline.compile(result.model)
    columns = {c: frame[c].head(2).tolist() for c in result.features}
    columns["age"] = [float("nan"), 30.0]
    assert compiled.encode(columns, 2) is None
