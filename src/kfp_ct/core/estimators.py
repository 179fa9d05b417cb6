"""Estimators by name, and the preprocessing + estimator scikit-learn Pipeline served as one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

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
    "dummy": (_sk("sklearn.dummy", "DummyClassifier"), _sk("sklearn.dummy", "DummyRegressor")),
}
DEFAULT_ESTIMATOR = "hist_gradient_boosting"
DEFAULTS: dict[str, dict[str, Any]] = {"logistic_regression": {"max_iter": 1000}}

# Types a saved pipeline may contain beyond skops' own safe list. Reviewed: they come from
# scikit-learn/numpy and are loaded only from this project's registry (docs/security.md).
SKOPS_TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
]


def parse_params(text: str | dict | None) -> dict[str, Any]:
    """Parse hyperparameters given as a JSON object (or already a dict)."""
    return dict(text) if isinstance(text, dict) else json_object(text, "hyperparameters")


def build_estimator(name: str, task: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    """Instantiate estimator `name` for `task` with `params`; unknown names/params raise."""
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
    merged = {**DEFAULTS.get(name, {}), **params}
    if "random_state" in valid and "random_state" not in params:
        merged["random_state"] = seed
    try:
        estimator.set_params(**merged)
        estimator._validate_params()  # scikit-learn's own type/range checks, before any fit
    except (TypeError, ValueError) as exc:  # InvalidParameterError is a ValueError
        raise ParameterError(f"estimator '{name}': bad hyperparameters {params}: {exc}") from None
    return estimator


def build_pipeline(numeric: list[str], categorical: list[str], estimator: BaseEstimator) -> Pipeline:
    """Preprocessing (impute + scale numbers, impute + one-hot categories) then the estimator."""
    numeric_steps = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical_steps = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    pre = ColumnTransformer(
        [("numeric", numeric_steps, numeric), ("categorical", categorical_steps, categorical)],
        remainder="drop",
    )
    return Pipeline([("preprocess", pre), ("model", estimator)])
