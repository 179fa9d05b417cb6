"""Estimators by name, and the preprocessing + estimator scikit-learn Pipeline served as one.

Categorical columns are encoded for the estimator that reads them, and always densely:

- estimators with native categorical splits (`NATIVE_CATEGORICAL`: HistGradientBoosting, XGBoost,
  LightGBM) get one ordinal code per column: the `MAX_NATIVE_CATEGORIES - 1` most frequent
  training values keep their own code, the rarer ones share one, and a value never seen in
  training is NaN (the estimator's missing value);
- every other estimator gets a dense one-hot block of at most `MAX_ONEHOT_CATEGORIES` columns per
  categorical column: the most frequent values keep their own column, the rarer ones (and unseen
  values, when there are rare ones) share one "infrequent" column.

So a column with tens of thousands of distinct values (a merchant id) costs at most a few hundred
matrix columns and trains with every estimator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from kfp_ct.core.skops_types import SKOPS_TRUSTED_TYPES as SKOPS_TRUSTED_TYPES  # re-exported
from kfp_ct.core.tasks import REGRESSION
from kfp_ct.errors import ParameterError
from kfp_ct.params import json_object


def _sk(module: str, name: str) -> Callable[..., BaseEstimator]:
    def make(**kwargs: Any) -> BaseEstimator:
        import importlib

        return getattr(importlib.import_module(module), name)(**kwargs)

    return make


# name -> (classifier factory, regressor factory); None where the name has no such variant.
ESTIMATORS: dict[str, tuple[Callable | None, Callable | None]] = {
    "logistic_regression": (_sk("sklearn.linear_model", "LogisticRegression"), None),
    "ridge": (None, _sk("sklearn.linear_model", "Ridge")),
    "linear_regression": (None, _sk("sklearn.linear_model", "LinearRegression")),
    "decision_tree": (
        _sk("sklearn.tree", "DecisionTreeClassifier"),
        _sk("sklearn.tree", "DecisionTreeRegressor"),
    ),
    "random_forest": (
        _sk("sklearn.ensemble", "RandomForestClassifier"),
        _sk("sklearn.ensemble", "RandomForestRegressor"),
    ),
    "hist_gradient_boosting": (
        _sk("sklearn.ensemble", "HistGradientBoostingClassifier"),
        _sk("sklearn.ensemble", "HistGradientBoostingRegressor"),
    ),
    "xgboost": (
        _sk("kfp_ct.core.boosting", "xgboost_classifier"),
        _sk("kfp_ct.core.boosting", "xgboost_regressor"),
    ),
    "lightgbm": (
        _sk("kfp_ct.core.boosting", "lightgbm_classifier"),
        _sk("kfp_ct.core.boosting", "lightgbm_regressor"),
    ),
    "dummy": (_sk("sklearn.dummy", "DummyClassifier"), _sk("sklearn.dummy", "DummyRegressor")),
}
DEFAULT_ESTIMATOR = "hist_gradient_boosting"
DEFAULTS: dict[str, dict[str, Any]] = {"logistic_regression": {"max_iter": 1000}}
NATIVE_CATEGORICAL = frozenset({"hist_gradient_boosting", "xgboost", "lightgbm"})
GPU_ESTIMATORS = frozenset({"xgboost"})  # LightGBM's PyPI wheel has no CUDA build
MAX_ONEHOT_CATEGORIES = 64
MAX_NATIVE_CATEGORIES = 255  # HistGradientBoosting's limit (max_bins); XGBoost/LightGBM use it too
# Set by the Pipeline itself (categorical columns, device): not hyperparameters a user gives.
RESERVED_PARAMS = frozenset(
    {"device", "feature_types", "enable_categorical", "categorical_features", "categorical_column"}
)


# Estimator class name -> its name here (to say which estimator a fitted pipeline holds).
_CLASS_NAMES = {
    "LogisticRegression": "logistic_regression",
    "Ridge": "ridge",
    "LinearRegression": "linear_regression",
    "DecisionTreeClassifier": "decision_tree",
    "DecisionTreeRegressor": "decision_tree",
    "RandomForestClassifier": "random_forest",
    "RandomForestRegressor": "random_forest",
    "HistGradientBoostingClassifier": "hist_gradient_boosting",
    "HistGradientBoostingRegressor": "hist_gradient_boosting",
    "XGBLabelClassifier": "xgboost",
    "XGBRegressor": "xgboost",
    "LGBMClassifier": "lightgbm",
    "LGBMRegressor": "lightgbm",
    "DummyClassifier": "dummy",
    "DummyRegressor": "dummy",
}


def estimator_name(model: Any) -> str | None:
    """The `ESTIMATORS` name of a fitted pipeline's (or bare) estimator; None when not one of them."""
    steps = getattr(model, "steps", None)
    final = steps[-1][1] if steps else model
    return _CLASS_NAMES.get(type(final).__name__)


def parse_params(text: str | dict | None) -> dict[str, Any]:
    """Parse hyperparameters given as a JSON object (or already a dict)."""
    return dict(text) if isinstance(text, dict) else json_object(text, "hyperparameters")


def build_estimator(
    name: str, task: str, params: dict[str, Any], seed: int, device: str = "cpu"
) -> BaseEstimator:
    """Instantiate estimator `name` for `task` with `params`; unknown names/params raise.

    Args:
        name: A key of `ESTIMATORS`.
        task: binary, multiclass or regression.
        params: Hyperparameters (estimator keyword arguments).
        seed: Random seed (`random_state` unless `params` sets it).
        device: `cpu` or `cuda` (already resolved, see `kfp_ct.core.device`); only for `GPU_ESTIMATORS`.
    """
    if name not in ESTIMATORS:
        raise ParameterError(f"unknown estimator '{name}'; choose one of {sorted(ESTIMATORS)}")
    classifier, regressor = ESTIMATORS[name]
    factory = regressor if task == REGRESSION else classifier
    if factory is None:
        kind = "regression" if task == REGRESSION else "classification"
        usable = sorted(n for n, (c, r) in ESTIMATORS.items() if (r if task == REGRESSION else c))
        raise ParameterError(f"estimator '{name}' does not do {kind}; use one of {usable}")
    estimator = factory()
    valid = estimator.get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ParameterError(f"estimator '{name}' has no hyperparameter(s) {unknown}; valid: {sorted(valid)}")
    reserved = sorted(set(params) & RESERVED_PARAMS)
    if reserved:
        raise ParameterError(
            f"estimator '{name}': {reserved} are set by kfp-ct (use the `device` parameter for the device)"
        )
    merged = {**DEFAULTS.get(name, {}), **params}
    if "random_state" in valid and "random_state" not in params:
        merged["random_state"] = seed
    if name in GPU_ESTIMATORS:
        merged["device"] = device
    elif device != "cpu":
        raise ParameterError(f"estimator '{name}' cannot train on device '{device}'")
    try:
        estimator.set_params(**merged)
        if hasattr(estimator, "_parameter_constraints"):
            estimator._validate_params()  # scikit-learn's own type/range checks, before any fit
    except (TypeError, ValueError) as exc:  # InvalidParameterError is a ValueError
        raise ParameterError(f"estimator '{name}': bad hyperparameters {params}: {exc}") from None
    return estimator


def native_categorical(estimator: BaseEstimator) -> bool:
    """Whether `estimator` splits on category codes itself (no one-hot needed)."""
    module = type(estimator).__module__
    return (
        type(estimator).__name__.startswith("HistGradientBoosting")
        or module.startswith(("xgboost.", "lightgbm."))
        or module == "kfp_ct.core.boosting"
    )


def build_pipeline(numeric: list[str], categorical: list[str], estimator: BaseEstimator) -> Pipeline:
    """Preprocessing (impute + scale numbers, impute + encode categories, dense) then the estimator."""
    numeric_steps = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    impute = SimpleImputer(strategy="constant", fill_value="__missing__")
    if native_categorical(estimator):
        cap = min(MAX_NATIVE_CATEGORIES, int(estimator.get_params().get("max_bins") or MAX_NATIVE_CATEGORIES))
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan, max_categories=cap, dtype=np.float64
        )
        categorical_steps = Pipeline([("impute", impute), ("ordinal", encoder)])
        _mark_categorical(estimator, len(numeric), len(categorical))
    else:
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist", max_categories=MAX_ONEHOT_CATEGORIES, sparse_output=False
        )
        categorical_steps = Pipeline([("impute", impute), ("onehot", encoder)])
    pre = ColumnTransformer(
        [("numeric", numeric_steps, numeric), ("categorical", categorical_steps, categorical)],
        remainder="drop",
        sparse_threshold=0.0,
    )
    return Pipeline([("preprocess", pre), ("model", estimator)])


def _mark_categorical(estimator: BaseEstimator, n_numeric: int, n_categorical: int) -> None:
    if type(estimator).__name__.startswith("HistGradientBoosting"):
        if n_categorical:
            estimator.set_params(categorical_features=list(range(n_numeric, n_numeric + n_categorical)))
        return
    from kfp_ct.core.boosting import set_categorical

    set_categorical(estimator, n_numeric, n_categorical)
