"""The pipelines' parameters, declared once: name, type, default and one-line help.

Each dataclass here is one group of pipeline parameters. A field's annotation is its KFP type,
its default is the pipeline default (no default: required) and its `doc` is the description the
KFP UI shows. `pipeline` turns a body taking one instance per group into a KFP pipeline whose
signature is the groups' fields; while KFP builds the graph, each field holds the
pipeline-parameter channel KFP passes for it (as the arguments of any pipeline function do).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kfp_ct.settings import DEFAULT_MODEL_NAME

if TYPE_CHECKING:
    from kfp.dsl.graph_component import GraphComponent


def param(default: Any = dataclasses.MISSING, doc: str = "") -> Any:
    """A pipeline-parameter field with its default (omit it for a required one) and one-line help."""
    return dataclasses.field(default=default, metadata={"doc": doc})


@dataclasses.dataclass(frozen=True)
class TrainingParams:
    """Parameters of the six training steps; every pipeline that trains takes all of them."""

    data_uri: str = param(doc="Path or URI (s3://, gs://, http(s)://) of the CSV/Parquet data.")
    label: str = param("label", "Name of the target column.")
    task: str = param("auto", "binary, multiclass, regression or auto (from the label).")
    model_name: str = param(DEFAULT_MODEL_NAME, "Registered MLflow model to compare against and update.")
    schema_uri: str = param(
        "", "Schema file (kfp-ct JSON or pandera YAML); empty: the champion's or inferred."
    )
    validation_config: str = param("{}", "JSON thresholds and rule severities of validation.")
    test_size: float = param(0.2, "Share of rows held out for evaluation and comparison.")
    seed: int = param(42, "Random seed of the split, the training and the samples.")
    estimator: str = param("hist_gradient_boosting", "Estimator name (see kfp_ct.core.estimators).")
    hyperparameters: str = param("{}", "JSON object of estimator hyperparameters.")
    search: str = param("{}", 'JSON hyperparameter search {"n_trials", "timeout_s", "space"}; {} for none.')
    device: str = param("auto", "Training device: auto (CUDA when the task sees a GPU), cpu or cuda.")
    primary_metric: str = param("auto", "Metric that must improve (auto: roc_auc, accuracy or rmse).")
    min_improvement: float = param(0.0, "Smallest improvement of the primary metric that counts.")
    guardrails: str = param("{}", "JSON object metric -> largest allowed regression.")
    require_significance: bool = param(True, "Promote only if the paired test is significant.")
    alpha: float = param(0.05, "Significance level of the paired test.")
    n_bootstrap: int = param(1000, "Bootstrap resamples of the paired test.")
    deploy_target: str = param("kserve", "Where to deploy the winner: none, local or kserve.")
    readiness_timeout_s: float = param(300.0, "Seconds to wait for the model server to become ready.")
    kserve_options: str = param("{}", "JSON options of the kserve target (namespace, mode, runtime...).")
    rollout: str = param("direct", "direct (swap after the smoke test), canary or shadow.")
    canary_percent: int = param(10, "Share of live requests (%) the canary answers during the bake.")
    bake_seconds: float = param(300.0, "Seconds a canary or shadow bakes on live traffic before judging.")
    min_canary_requests: int = param(100, "Requests a canary must answer in the bake to be judged.")
    on_insufficient: str = param("rollback", "Too few canary requests: promote, rollback or extend.")
    promote_after_shadow: bool = param(False, "Promote a shadow after its bake when the evidence holds.")
    rollout_thresholds: str = param(
        "{}", 'JSON of other rollout thresholds, e.g. {"max_latency_p99_ms": 100, "max_disagreement": 0.05}.'
    )
    intended_use: str = param("", "What the model is for and who uses it (the model card's intended use).")


@dataclasses.dataclass(frozen=True)
class DriftParams:
    """Parameters of the drift check that gates the retraining pipeline."""

    reference_uri: str = param("", "Reference data; empty uses the champion's training data.")
    drift_config: str = param("{}", "JSON drift thresholds and tests (see kfp_ct.drift.DriftConfig).")
    training_policy: str = param("all", "all (reference + window), sliding (newest rows) or new (window).")
    max_training_rows: int = param(0, "Cap on the training set size; 0 means no cap.")
    cooldown_hours: float = param(0.0, "No retrain within this many hours of the last one.")


@dataclasses.dataclass(frozen=True)
class MonitoredTrainingParams(TrainingParams):
    """The training parameters of the monitoring pipeline, whose window is the captured traffic."""

    data_uri: str = param("", "Not read: the monitoring pipeline trains on the captured window.")


@dataclasses.dataclass(frozen=True)
class MonitoringParams:
    """Parameters of the monitor step (captured traffic, labels, alert thresholds)."""

    capture_uri: str = param("", "Capture store (a directory or s3://); empty: KFP_CT_CAPTURE_URI.")
    since: str = param("", "ISO 8601 start of the window; empty: the last monitoring run's end.")
    min_labels: int = param(200, "Labelled rows needed before performance is checked.")
    max_error_rate: float = param(0.05, "Share of failed requests above which monitoring alerts.")


def signature(*groups: type, returns: Any = inspect.Signature.empty) -> inspect.Signature:
    """The signature of a pipeline taking the fields of `groups`, in order, typed and defaulted."""
    parameters = []
    for group in groups:
        hints = typing.get_type_hints(group)
        for f in dataclasses.fields(group):
            default = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
            kind = inspect.Parameter.POSITIONAL_OR_KEYWORD  # KFP passes the channels positionally
            parameters.append(inspect.Parameter(f.name, kind, default=default, annotation=hints[f.name]))
    return inspect.Signature(parameters, return_annotation=returns)


def docs(*groups: type) -> dict[str, str]:
    """Parameter name -> one-line help, for the fields of `groups`."""
    return {f.name: f.metadata["doc"] for group in groups for f in dataclasses.fields(group)}


def pipeline(body: Callable[..., Any], *groups: type, name: str, description: str) -> GraphComponent:
    """Make `body(*instances of groups)` the KFP pipeline `name`, its parameters the groups' fields.

    KFP reads a pipeline's interface from `inspect.signature` and the argument descriptions from
    the docstring's Args section, so the function handed to `dsl.pipeline` carries both.
    """
    from kfp import dsl

    returns = typing.get_type_hints(body).get("return", inspect.Signature.empty)
    sig = signature(*groups, returns=inspect.Signature.empty if returns is type(None) else returns)

    def pipeline_func(*args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        return body(
            *(group(**{f.name: arguments[f.name] for f in dataclasses.fields(group)}) for group in groups)
        )

    pipeline_func.__name__ = pipeline_func.__qualname__ = body.__name__
    pipeline_func.__module__ = body.__module__
    pipeline_func.__signature__ = sig  # type: ignore[attr-defined]
    pipeline_func.__annotations__ = {p.name: p.annotation for p in sig.parameters.values()} | {
        "return": sig.return_annotation
    }
    args_doc = "\n".join(f"    {key}: {doc}" for key, doc in docs(*groups).items())
    pipeline_func.__doc__ = f"{description}\n\nArgs:\n{args_doc}\n"
    return dsl.pipeline(pipeline_func, name=name, description=description)


@dataclasses.dataclass(frozen=True)
class NotificationParams:
    """Parameters of the exit task that reports every run's outcome (docs/notifications.md)."""

    notify_url: str = param(
        "", "Webhook for the run's outcome; empty: Secret kfp-ct-notify's url, else none."
    )
    notify_format: str = param("slack", "Notification body: slack ({text, blocks}) or json (generic).")
