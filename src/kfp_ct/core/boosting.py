"""XGBoost and LightGBM estimators as they sit in the kfp-ct Pipeline.

Both take the Pipeline's dense float matrix: numbers first, then one ordinal code per categorical
column (NaN for a value never seen in training), and are told which columns are categorical, so
they split on categories natively. A saved model holds no reference to this module except for
`XGBLabelClassifier` (XGBoost itself only accepts the labels 0..k-1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost
from sklearn.preprocessing import LabelEncoder


class XGBLabelClassifier(xgboost.XGBClassifier):
    """`xgboost.XGBClassifier` that takes any class labels (strings, 1/2, ...), like scikit-learn."""

    def fit(self, X: Any, y: Any, **kwargs: Any) -> XGBLabelClassifier:
        """Encode `y` to 0..k-1, fit, and remember the original labels as `classes_`."""
        self.labels_ = None
        encoder = LabelEncoder().fit(np.asarray(y))
        super().fit(X, encoder.transform(np.asarray(y)), **kwargs)
        self.labels_ = encoder.classes_
        return self

    @property
    def classes_(self) -> np.ndarray:
        """The class labels, in the column order of `predict_proba`."""
        labels = getattr(self, "labels_", None)
        return np.arange(self.n_classes_) if labels is None else labels

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        """Predicted class labels (the original ones, not 0..k-1)."""
        return np.asarray(self.classes_).take(np.asarray(super().predict(X, **kwargs), dtype=np.intp))


def xgboost_classifier(**kwargs: Any) -> XGBLabelClassifier:
    """An XGBoost classifier with histogram trees and native categorical splits."""
    return XGBLabelClassifier(tree_method="hist", enable_categorical=True, **kwargs)


def xgboost_regressor(**kwargs: Any) -> xgboost.XGBRegressor:
    """An XGBoost regressor with histogram trees and native categorical splits."""
    return xgboost.XGBRegressor(tree_method="hist", enable_categorical=True, **kwargs)


def lightgbm_classifier(**kwargs: Any) -> Any:
    """A LightGBM classifier (quiet: no per-iteration warnings on stderr)."""
    import lightgbm

    return lightgbm.LGBMClassifier(verbose=-1, **kwargs)


def lightgbm_regressor(**kwargs: Any) -> Any:
    """A LightGBM regressor (quiet)."""
    import lightgbm

    return lightgbm.LGBMRegressor(verbose=-1, **kwargs)


def set_categorical(estimator: Any, n_numeric: int, n_categorical: int) -> None:
    """Tell an XGBoost or LightGBM estimator which matrix columns hold category codes."""
    if isinstance(estimator, xgboost.XGBModel):
        estimator.set_params(feature_types=["q"] * n_numeric + ["c"] * n_categorical)
    elif n_categorical:  # LightGBM: this config alias reaches its Dataset without a warning
        estimator.set_params(categorical_column=list(range(n_numeric, n_numeric + n_categorical)))


def after_fit(estimator: Any) -> None:
    """Make a fitted model load and predict on a CPU node, wherever it was trained."""
    if isinstance(estimator, xgboost.XGBModel) and estimator.get_params().get("device") not in (None, "cpu"):
        estimator.set_params(device="cpu")
