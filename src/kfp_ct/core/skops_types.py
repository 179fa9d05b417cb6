"""The types a saved kfp-ct model may hold beyond skops' own safe list (imports nothing).

Kept apart from `kfp_ct.core.estimators` (which imports scikit-learn) so that deploy can check a
model's MLmodel file against it without importing scikit-learn.
"""

# Types a saved pipeline may contain beyond skops' own safe list. Reviewed: they come from
# scikit-learn/numpy/XGBoost/LightGBM and kfp-ct, and are loaded only from this project's
# registry (docs/security.md). XGBoost and LightGBM boosters are stored as their own model
# format (bytes / text) inside the skops file, not as pickles.
SKOPS_TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # HistGradientBoosting with categorical features keeps partial(check_array, ...) inside
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "sklearn.tree._tree.Tree",
    "collections.OrderedDict",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBRegressor",
    "kfp_ct.core.boosting.XGBLabelClassifier",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
]
