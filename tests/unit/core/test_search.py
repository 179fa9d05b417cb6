"""Hyperparameter search: parsing, default spaces, budget, seeding, MLflow child runs, best >= default."""

import time

import pytest

from kfp_ct.core import metrics
from kfp_ct.core.estimators import ESTIMATORS, build_estimator
from kfp_ct.core.schema import infer_schema
from kfp_ct.core.search import DEFAULT_SPACES, parse_search
from kfp_ct.core.train import train_model
from kfp_ct.data.split import split_frame
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.errors import ParameterError


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"n_trials": 0}', "n_trials must be an integer"),
        ('{"n_trials": 5, "timeout_s": -1}', "timeout_s must be a positive"),
        ('{"n_trials": 5, "budget": 3}', "unknown keys"),
        ('{"n_trials": 5, "space": {"max_depth": {"low": 5, "high": 2}}}', "low <= high"),
        ('{"n_trials": 5, "space": {"learning_rate": {"low": 0, "high": 1, "log": true}}}', "log range"),
        ('{"n_trials": 5, "space": {"max_depth": 3}}', "give"),
        ("[1]", "JSON object"),
    ],
)
def test_bad_search_parameters_are_named(value, message):
    with pytest.raises(ParameterError, match=message):
        parse_search(value)


def test_empty_search_means_none_and_a_space_reads_ints_floats_and_choices():
    assert parse_search("") is None and parse_search("{}") is None
    spec = parse_search(
        '{"n_trials": 3, "timeout_s": 60, "space": {"max_depth": {"low": 2, "high": 8}, '
        '"learning_rate": {"low": 0.01, "high": 0.3, "log": true}, "max_features": ["sqrt", 0.5]}}'
    )
    kinds = {d.name: d.kind for d in spec.dimensions("anything")}
    assert kinds == {"max_depth": "int", "learning_rate": "float", "max_features": "choice"}
    assert spec.timeout_s == 60.0 and spec.n_trials == 3


@pytest.mark.parametrize("estimator", sorted(DEFAULT_SPACES))
def test_every_default_space_names_real_hyperparameters(estimator):
    task = "binary" if ESTIMATORS[estimator][0] is not None else "regression"
    for dim in parse_search({"n_trials": 1}).dimensions(estimator):
        for value in [dim.low, dim.high] if dim.kind != "choice" else dim.choices:
            value = int(value) if dim.kind == "int" else value
            build_estimator(estimator, task, {dim.name: value}, 0)


def test_fixed_and_searched_at_once_is_refused():
    frame = make_dataset(SynthSpec(rows=200, seed=1))
    spec = parse_search({"n_trials": 2, "space": {"max_depth": {"low": 2, "high": 4}}})
    with pytest.raises(ParameterError, match="both fixed"):
        train_model(
            frame, infer_schema(frame, "label", "binary"), "xgboost", {"max_depth": 3}, 0, search=spec
        )
    with pytest.raises(ParameterError, match="no default search space"):
        train_model(
            frame,
            infer_schema(frame, "label", "binary"),
            "dummy",
            {},
            0,
            search=parse_search({"n_trials": 1}),
        )


@pytest.fixture(scope="module")
def searched():
    """n_trials=10 for xgboost on 4000 rows; the same search again, and the default, for comparison."""
    frame = make_dataset(SynthSpec(rows=4000, seed=17, noise=1.0))
    schema = infer_schema(frame, "label", "binary")
    train, test = split_frame(frame, "label", 0.25, 0, True)
    spec = parse_search({"n_trials": 10, "timeout_s": 240})
    start = time.perf_counter()
    result = train_model(train, schema, "xgboost", {}, seed=3, search=spec)
    wall = time.perf_counter() - start
    again = train_model(train, schema, "xgboost", {}, seed=3, search=parse_search({"n_trials": 3}))
    default = train_model(train, schema, "xgboost", {}, seed=3)
    return {"result": result, "wall": wall, "again": again, "default": default, "test": test, "spec": spec}


def test_ten_trials_finish_inside_the_timeout_and_the_best_is_at_least_the_default(searched):
    result, spec = searched["result"], searched["spec"]
    search = result.search
    assert len(search.trials) == 10 and search.completed == 10 and search.stopped == "n_trials done"
    assert searched["wall"] < spec.timeout_s  # the 10 trials, the baseline and the refit together
    assert search.seconds + search.refit_seconds <= spec.timeout_s
    assert search.metric == "roc_auc" and search.best_value >= search.default_value
    assert result.params == search.best_params  # the refit used the best hyperparameters
    test, default = searched["test"], searched["default"]

    def held_out(model):
        return metrics.compute(
            "roc_auc", "binary", metrics.score(model, test[result.features], test["label"])
        )

    best_test, default_test = held_out(result.model), held_out(default.model)
    print(
        f"\nsearch: val roc_auc best {search.best_value:.4f} vs default {search.default_value:.4f}; "
        f"held-out test best {best_test:.4f} vs default {default_test:.4f}; "
        f"{search.seconds:.1f} s + refit {search.refit_seconds:.1f} s (timeout {spec.timeout_s:.0f} s)"
    )
    assert best_test >= default_test - 0.005  # tuned on other rows: at least as good, within noise


def test_the_sampler_is_seeded(searched):
    first = [t.params for t in searched["result"].search.trials[:3]]
    assert first == [t.params for t in searched["again"].search.trials]


def test_a_short_timeout_stops_the_search_and_keeps_the_budget():
    frame = make_dataset(SynthSpec(rows=3000, seed=2))
    schema = infer_schema(frame, "label", "binary")
    spec = parse_search({"n_trials": 200, "timeout_s": 6})
    start = time.perf_counter()
    result = train_model(frame, schema, "lightgbm", {}, seed=0, search=spec)
    wall = time.perf_counter() - start
    search = result.search
    assert 0 <= len(search.trials) < 200 and search.stopped.startswith(("budget", "timeout"))
    # No fit starts after the timeout: the search phase ends at most one fit (the baseline or a
    # trial, whichever overran) past it, however slow a loaded machine makes each fit. Then comes
    # the refit of the best, and nothing else.
    longest_fit = max([search.default_seconds, *(t.seconds for t in search.trials)])
    assert search.seconds <= spec.timeout_s + longest_fit + 0.5, (search.seconds, longest_fit)
    if search.default_seconds >= spec.timeout_s:
        assert not search.trials and search.stopped.startswith("budget"), search.stopped
    assert wall <= search.seconds + search.refit_seconds + 2.0, wall


def test_trials_are_mlflow_child_runs_of_the_training_run(searched, kfp_home):
    import mlflow

    from kfp_ct.tracking import runs

    result = searched["result"]
    frame = searched["test"]
    x = frame[result.features]
    logged = runs.log_training(
        result.model, x, result.model.predict(x), infer_schema(frame, "label", "binary"),
        {"estimator": "xgboost", **result.params, **result.run_params()}, result.run_metrics(), {},
    )  # fmt: skip
    ids = runs.log_child_runs(logged.run_id, result.search.child_runs())
    children = mlflow.search_runs(
        experiment_ids=[logged.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{logged.run_id}'",
        output_format="list",
    )
    assert sorted(r.info.run_id for r in children) == sorted(ids) and len(ids) == 10
    trial = next(r for r in children if r.info.run_name == "trial-0")
    assert trial.data.metrics["val_roc_auc"] == result.search.trials[0].value
    assert set(trial.data.params) == set(result.search.trials[0].params)
    assert trial.info.status == "FINISHED" and trial.info.end_time >= trial.info.start_time
    parent = mlflow.get_run(logged.run_id)
    assert parent.data.metrics["search_best_val_roc_auc"] >= parent.data.metrics["search_default_val_roc_auc"]
    assert parent.data.params["device"] == "cpu"
