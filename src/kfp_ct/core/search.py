"""Hyperparameter search with Optuna: seeded, within a budget, the best refit by the caller.

`search={"n_trials": 20, "timeout_s": 600, "space": {...}, "metric": "roc_auc"}`. Each trial fits
the Pipeline on 80% of the training rows (seeded, stratified for classification) and scores the
other 20% on `metric` (the task's primary metric by default). The fixed hyperparameters alone are
scored the same way first, as the baseline: the best of the trials and that baseline wins, so a
search never returns something worse on its validation rows than not searching.

A space maps hyperparameter names to `{"low": 0.01, "high": 0.3, "log": true}` (integers when
both bounds are integers, or say `"type": "int"|"float"`) or `{"choices": [...]}` (a plain list
is read as choices). Without a space, the estimator's `DEFAULT_SPACES` entry is searched.

Budget: no trial starts once `timeout_s` has passed, nor once the slowest fit so far would not fit
again, with the refit on all rows, in what is left of it, so the search and the refit together
normally end inside `timeout_s`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kfp_ct.core import metrics
from kfp_ct.core.tasks import is_classification
from kfp_ct.errors import ParameterError
from kfp_ct.params import json_object

log = logging.getLogger(__name__)

KEYS = ("n_trials", "timeout_s", "space", "metric", "validation_fraction")
MAX_TRIALS = 1000
VALIDATION_FRACTION = 0.2
# Random trials before TPE models the results (Optuna's default, 10, is all of a short search).
STARTUP_TRIALS = 5


def _r(low: float, high: float, log_scale: bool = False) -> dict[str, Any]:
    return {"low": low, "high": high, "log": log_scale}


DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "xgboost": {
        "n_estimators": _r(50, 500, True),
        "max_depth": _r(2, 10),
        "learning_rate": _r(0.01, 0.3, True),
        "subsample": _r(0.5, 1.0),
        "colsample_bytree": _r(0.5, 1.0),
        "min_child_weight": _r(0.5, 20.0, True),
        "reg_lambda": _r(1e-3, 10.0, True),
    },
    "lightgbm": {
        "n_estimators": _r(50, 500, True),
        "num_leaves": _r(8, 128, True),
        "learning_rate": _r(0.01, 0.3, True),
        "min_child_samples": _r(5, 100, True),
        "colsample_bytree": _r(0.5, 1.0),
        "reg_lambda": _r(1e-3, 10.0, True),
    },
    "hist_gradient_boosting": {
        "max_iter": _r(50, 500, True),
        "learning_rate": _r(0.01, 0.3, True),
        "max_leaf_nodes": _r(8, 128, True),
        "min_samples_leaf": _r(5, 100, True),
        "l2_regularization": _r(1e-3, 10.0, True),
    },
    "random_forest": {
        "n_estimators": _r(50, 300, True),
        "max_depth": _r(3, 20),
        "min_samples_leaf": _r(1, 20, True),
        "max_features": {"choices": ["sqrt", "log2", 0.5]},
    },
    "decision_tree": {"max_depth": _r(2, 20), "min_samples_leaf": _r(1, 50, True)},
    "logistic_regression": {"C": _r(1e-3, 100.0, True)},
    "ridge": {"alpha": _r(1e-3, 100.0, True)},
}


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: an int or float range, or a list of choices."""

    name: str
    kind: str  # int | float | choice
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The value of this hyperparameter for an Optuna trial."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)

    def example(self) -> Any:
        """A value inside the dimension (to check names and types before the search)."""
        return (
            self.choices[0] if self.kind == "choice" else (int(self.low) if self.kind == "int" else self.low)
        )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_dimension(name: str, raw: Any) -> Dimension:
    """Read one space entry (`{"low", "high", "log"?, "type"?}`, `{"choices"}` or a list)."""
    where = f"search space '{name}'"
    if isinstance(raw, list):
        raw = {"choices": raw}
    if not isinstance(raw, dict):
        raise ParameterError(f'{where}: give {{"low": .., "high": ..}} or {{"choices": [..]}}, got {raw!r}')
    unknown = sorted(set(raw) - {"low", "high", "log", "type", "choices"})
    if unknown:
        raise ParameterError(f"{where}: unknown keys {unknown}")
    if "choices" in raw:
        choices = raw["choices"]
        if not isinstance(choices, list) or not choices:
            raise ParameterError(f"{where}: choices must be a non-empty list")
        if not all(c is None or isinstance(c, bool | int | float | str) for c in choices):
            raise ParameterError(f"{where}: choices may be numbers, strings, booleans or null")
        return Dimension(name, "choice", choices=tuple(choices))
    low, high = raw.get("low"), raw.get("high")
    if not (_number(low) and _number(high)) or low > high:
        raise ParameterError(f"{where}: needs numbers low <= high, got low={low!r} high={high!r}")
    kind = raw.get("type") or ("int" if isinstance(low, int) and isinstance(high, int) else "float")
    if kind not in ("int", "float"):
        raise ParameterError(f"{where}: type must be int or float, got {kind!r}")
    log_scale = bool(raw.get("log", False))
    if log_scale and low <= 0:
        raise ParameterError(f"{where}: a log range needs low > 0")
    return Dimension(name, kind, low, high, log_scale)


@dataclass(frozen=True)
class SearchSpec:
    """What to search and with which budget."""

    n_trials: int
    timeout_s: float | None = None
    space: Mapping[str, Any] | None = None  # None: the estimator's default space
    metric: str | None = None  # None: the task's primary metric
    validation_fraction: float = VALIDATION_FRACTION

    def dimensions(self, estimator: str) -> list[Dimension]:
        """The searched hyperparameters for `estimator`."""
        space = self.space if self.space is not None else DEFAULT_SPACES.get(estimator)
        if not space:
            raise ParameterError(
                f"search: estimator '{estimator}' has no default search space; give one with "
                f"'space' (estimators with one: {sorted(DEFAULT_SPACES)})"
            )
        return [parse_dimension(name, raw) for name, raw in space.items()]


def parse_search(value: str | Mapping[str, Any] | None) -> SearchSpec | None:
    """Read the `search` parameter (a JSON object); None when empty (no search)."""
    raw = dict(value) if isinstance(value, Mapping) else json_object(value, "search")
    if not raw:
        return None
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ParameterError(f"search: unknown keys {unknown}; known: {list(KEYS)}")
    n_trials = raw.get("n_trials")
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or not 1 <= n_trials <= MAX_TRIALS:
        raise ParameterError(f"search: n_trials must be an integer in 1..{MAX_TRIALS}, got {n_trials!r}")
    timeout = raw.get("timeout_s")
    if timeout is not None and not (_number(timeout) and timeout > 0):
        raise ParameterError(f"search: timeout_s must be a positive number of seconds, got {timeout!r}")
    space = raw.get("space")
    if space is not None and not isinstance(space, dict):
        raise ParameterError("search: space must be an object of hyperparameter -> range or choices")
    fraction = raw.get("validation_fraction", VALIDATION_FRACTION)
    if not (_number(fraction) and 0.05 <= fraction <= 0.5):
        raise ParameterError(f"search: validation_fraction must be within [0.05, 0.5], got {fraction!r}")
    spec = SearchSpec(
        n_trials=n_trials,
        timeout_s=None if timeout is None else float(timeout),
        space=space,
        metric=raw.get("metric"),
        validation_fraction=float(fraction),
    )
    if spec.space is not None:
        spec.dimensions("")  # check the entries now, not after the data is read
    return spec


@dataclass
class Trial:
    """One finished trial."""

    number: int
    params: dict[str, Any]
    value: float | None
    state: str  # COMPLETE | FAIL
    seconds: float
    start_ms: int
    end_ms: int
    error: str | None = None


@dataclass
class SearchResult:
    """What a search tried and what it chose."""

    metric: str
    higher_is_better: bool
    default_value: float
    default_seconds: float
    best_params: dict[str, Any]
    best_value: float
    best_trial: int | None  # None: the fixed hyperparameters (no trial beat them)
    trials: list[Trial] = field(default_factory=list)
    seconds: float = 0.0  # baseline + trials, wall
    n_trials_requested: int = 0
    timeout_s: float | None = None
    stopped: str = ""
    refit_seconds: float = 0.0

    @property
    def completed(self) -> int:
        """How many trials scored."""
        return sum(t.state == "COMPLETE" for t in self.trials)

    def summary_params(self) -> dict[str, Any]:
        """Run parameters describing the search."""
        return {
            "search_n_trials": self.n_trials_requested,
            "search_timeout_s": self.timeout_s,
            "search_metric": self.metric,
            "search_best_trial": "fixed hyperparameters" if self.best_trial is None else self.best_trial,
            "search_stopped": self.stopped,
        }

    def summary_metrics(self) -> dict[str, float]:
        """Run metrics of the search: best and baseline validation scores, trials, seconds."""
        return {
            f"search_best_val_{self.metric}": self.best_value,
            f"search_default_val_{self.metric}": self.default_value,
            "search_trials_completed": float(self.completed),
            "search_trials_failed": float(len(self.trials) - self.completed),
            "search_seconds": self.seconds,
            "search_total_seconds": self.seconds + self.refit_seconds,
        }

    def child_runs(self) -> list[dict[str, Any]]:
        """One MLflow child run per trial (see `kfp_ct.tracking.runs.log_child_runs`)."""
        out = []
        for t in self.trials:
            run_metrics = {"fit_seconds": t.seconds}
            if t.value is not None:
                run_metrics[f"val_{self.metric}"] = t.value
            tags = {"kfp_ct.search.trial": str(t.number), "kfp_ct.search.state": t.state}
            if t.error:
                tags["kfp_ct.search.error"] = t.error
            out.append(
                {
                    "name": f"trial-{t.number}",
                    "params": t.params,
                    "metrics": run_metrics,
                    "tags": tags,
                    "start_ms": t.start_ms,
                    "end_ms": t.end_ms,
                    "status": "FINISHED" if t.state == "COMPLETE" else "FAILED",
                }
            )
        return out


def _split(x: pd.DataFrame, y: pd.Series, fraction: float, seed: int, task: str):
    from sklearn.model_selection import train_test_split

    strata = None
    if is_classification(task) and (y.value_counts() >= 2).all():
        strata = y
    return train_test_split(x, y, test_size=fraction, random_state=seed, stratify=strata)


def run_search(
    make: Callable[[dict[str, Any]], Any],
    x: pd.DataFrame,
    y: pd.Series,
    task: str,
    spec: SearchSpec,
    estimator: str,
    fixed: dict[str, Any],
    seed: int,
) -> SearchResult:
    """Search hyperparameters of `make(params)` (an unfitted Pipeline) on `x`, `y`.

    Args:
        make: Builds the Pipeline for a dict of hyperparameters (raises ParameterError on bad ones).
        x: Training features.
        y: Training labels.
        task: binary, multiclass or regression.
        spec: Trials, budget, space and metric.
        estimator: Estimator name (its default space when `spec.space` is None).
        fixed: Hyperparameters kept as they are (the baseline).
        seed: Seed of the sampler and of the validation split.
    """
    import optuna

    metric = metrics.check_metric(spec.metric or metrics.default_primary(task), task)
    higher = metrics.higher_is_better(metric)
    dims = spec.dimensions(estimator)
    both = sorted({d.name for d in dims} & set(fixed))
    if both:
        raise ParameterError(f"search: {both} are both fixed in hyperparameters and searched; keep one")
    make({**fixed, **{d.name: d.example() for d in dims}})  # names and types, before any fit
    x_fit, x_val, y_fit, y_val = _split(x, y, spec.validation_fraction, seed, task)
    refit_factor = 1.0 / (1.0 - spec.validation_fraction)

    def fit_and_score(params: dict[str, Any]) -> float:
        model = make({**fixed, **params})
        model.fit(x_fit, y_fit)
        value = metrics.compute(metric, task, metrics.score(model, x_val, y_val))
        if not math.isfinite(value):
            raise ValueError(f"{metric} is {value} on the validation rows")
        return value

    started = time.perf_counter()
    deadline = None if spec.timeout_s is None else started + spec.timeout_s
    default_value = fit_and_score({})
    default_seconds = time.perf_counter() - started
    log.info("search baseline (fixed hyperparameters): val %s %.4f in %.2f s", metric, default_value,
             default_seconds)  # fmt: skip
    slowest = [default_seconds]
    stopped = [""]

    def objective(trial: Any) -> float:
        params = {d.name: d.suggest(trial) for d in dims}
        t0 = time.perf_counter()
        try:
            return fit_and_score(params)
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            raise
        finally:
            trial.set_user_attr("seconds", time.perf_counter() - t0)

    def budget(study: Any, trial: Any) -> None:
        slowest[0] = max(slowest[0], float(trial.user_attrs.get("seconds", 0.0)))
        shown = "failed" if trial.value is None else f"{trial.value:.4f}"
        log.info("search trial %d: val %s %s, %s", trial.number, metric, shown, trial.params)
        if deadline is None:
            return
        need = slowest[0] * (1.0 + refit_factor)
        if time.perf_counter() + need > deadline:
            stopped[0] = f"budget: the next trial and the refit (~{need:.1f} s) would pass timeout_s"
            study.stop()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS)
    study = optuna.create_study(direction="maximize" if higher else "minimize", sampler=sampler)
    remaining = None if deadline is None else deadline - time.perf_counter()
    if remaining is not None and remaining < default_seconds * (1.0 + refit_factor):
        stopped[0] = "budget: the baseline fit alone used what timeout_s allows"
    else:
        study.optimize(
            objective, n_trials=spec.n_trials, timeout=remaining, callbacks=[budget], catch=(Exception,)
        )
    trials = [_trial(t) for t in study.trials if t.state.name in ("COMPLETE", "FAIL")]
    if not stopped[0]:
        stopped[0] = "n_trials done" if len(trials) >= spec.n_trials else "timeout_s"
    done = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    best = max(done, key=lambda t: t.value if higher else -t.value, default=None)
    beats = best is not None and (best.value > default_value if higher else best.value < default_value)
    result = SearchResult(
        metric=metric,
        higher_is_better=higher,
        default_value=default_value,
        default_seconds=default_seconds,
        best_params={**fixed, **(best.params if beats else {})},
        best_value=best.value if beats else default_value,
        best_trial=best.number if beats else None,
        trials=trials,
        seconds=time.perf_counter() - started,
        n_trials_requested=spec.n_trials,
        timeout_s=spec.timeout_s,
        stopped=stopped[0],
    )
    log.info(
        "search: %d/%d trials scored in %.1f s (%s); best val %s %.4f (%s) vs %.4f with the fixed "
        "hyperparameters",
        result.completed, spec.n_trials, result.seconds, result.stopped, metric, result.best_value,
        "fixed hyperparameters" if result.best_trial is None else f"trial {result.best_trial}",
        default_value,
    )  # fmt: skip
    return result


def _trial(t: Any) -> Trial:
    start = t.datetime_start.timestamp() if t.datetime_start else time.time()
    end = t.datetime_complete.timestamp() if t.datetime_complete else start
    return Trial(
        number=t.number,
        params=dict(t.params),
        value=None if t.value is None else float(t.value),
        state=t.state.name,
        seconds=float(t.user_attrs.get("seconds", end - start)),
        start_ms=int(start * 1000),
        end_ms=int(end * 1000),
        error=t.user_attrs.get("error"),
    )
