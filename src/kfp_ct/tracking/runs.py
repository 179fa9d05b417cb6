"""MLflow runs: connect to the configured store, log training runs, add metrics and files."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_ct import settings
from kfp_ct.core.schema import Schema
from kfp_ct.tracking.retry import retry_call

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoggedModel:
    """Where a trained model went in MLflow."""

    run_id: str
    model_uri: str  # models:/m-<id>
    experiment_id: str


def connect(experiment: str = settings.DEFAULT_EXPERIMENT) -> str:
    """Point MLflow at the configured store and return the experiment id (created if missing).

    A local sqlite store gets its artifacts under `$KFP_CT_HOME/mlartifacts`, never the cwd.
    """
    import mlflow

    uri = settings.tracking_uri()
    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:"):
        seed_sqlite_store(Path(uri.removeprefix("sqlite:///")))

    def ensure() -> str:
        found = mlflow.get_experiment_by_name(experiment)
        if found is not None:
            return found.experiment_id
        location = settings.artifact_root().as_uri() if uri.startswith(("sqlite:", "file:")) else None
        return mlflow.create_experiment(experiment, artifact_location=location)

    experiment_id = retry_call(ensure, what=f"MLflow at {uri}")
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def seed_sqlite_store(db: Path) -> None:
    """Start a new sqlite store as a copy of an empty, migrated one (made once per MLflow version).

    MLflow builds a new sqlite file by running every alembic migration (about 2.5 s); a copy
    takes milliseconds. The template holds the schema only: its experiments are deleted, so MLflow
    creates `Default` on first open exactly as for a new file. The copy appears atomically
    (`os.link` never replaces a file), so racing processes keep whichever store came first. Any
    failure (no writable cache, say) leaves MLflow to create the store itself.
    """
    db.parent.mkdir(parents=True, exist_ok=True)
    if db.exists():
        return
    try:
        template = _sqlite_template()
        scratch = db.with_name(f".{db.name}.{uuid.uuid4().hex}")
        shutil.copyfile(template, scratch)
        try:
            os.link(scratch, db)
        except FileExistsError:
            pass
        finally:
            scratch.unlink(missing_ok=True)
    except (OSError, sqlite3.Error) as exc:
        log.debug("no template for %s (%s); MLflow creates the store", db, exc)


def _sqlite_template() -> Path:
    """The cached empty store of this MLflow version, created on first use."""
    from importlib.metadata import version

    template = settings.cache_dir() / f"mlflow-{version('mlflow')}-empty.db"
    if template.is_file():
        return template
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=template.parent) as tmp:
        fresh = Path(tmp) / "mlflow.db"
        store = SqlAlchemyStore(f"sqlite:///{fresh}", Path(tmp).as_uri())
        store.engine.dispose()
        with contextlib.closing(sqlite3.connect(fresh)) as conn, conn:
            conn.execute("DELETE FROM experiment_tags")
            conn.execute("DELETE FROM experiments")
        os.replace(fresh, template)
    return template


def log_training(
    model: Any,
    features: pd.DataFrame,
    predictions: Any,
    schema: Schema,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
) -> LoggedModel:
    """Log one training run: params, metrics, tags, schema and the model with its signature."""
    import mlflow

    from kfp_ct.tracking import models

    experiment_id = connect()
    with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.log_artifact(str(schema.save(Path(tmp) / "schema.json")))
        model_uri = models.log_model(model, features, predictions)
    log.info("logged run %s, model %s", run.info.run_id, model_uri)
    return LoggedModel(run.info.run_id, model_uri, experiment_id)


def log_child_runs(parent_run_id: str, children: list[dict[str, Any]]) -> list[str]:
    """Log finished runs (search trials) as children of `parent_run_id`; return their run ids.

    Each child is `{"name", "params", "metrics", "tags", "start_ms", "end_ms", "status"}`
    (see `kfp_ct.core.search.SearchResult.child_runs`); MLflow shows them nested under the parent.
    """
    import mlflow
    from mlflow.entities import Param

    connect()
    client = mlflow.MlflowClient()
    parent = retry_call(lambda: client.get_run(parent_run_id), what="MLflow get_run")
    ids = []
    for child in children:
        tags = {k: str(v)[:5000] for k, v in child.get("tags", {}).items()}
        tags["mlflow.parentRunId"] = parent_run_id
        run = retry_call(
            lambda child=child, tags=tags: client.create_run(
                parent.info.experiment_id, start_time=child.get("start_ms"), tags=tags,
                run_name=child.get("name"),
            ),
            what="MLflow create_run",
        )  # fmt: skip
        run_id = run.info.run_id
        stamp = child.get("end_ms") or _now_ms()
        retry_call(
            lambda run_id=run_id, child=child, stamp=stamp: client.log_batch(
                run_id,
                metrics=[_metric(k, v, stamp) for k, v in child.get("metrics", {}).items()],
                params=[Param(k, str(v)[:500]) for k, v in child.get("params", {}).items()],
            ),
            what="MLflow log_batch",
        )  # fmt: skip
        client.set_terminated(run_id, status=child.get("status", "FINISHED"), end_time=child.get("end_ms"))
        ids.append(run_id)
    log.info("logged %d child runs under %s", len(ids), parent_run_id)
    return ids


def log_to_run(run_id: str, metrics: dict[str, float], files: dict[str, str] | None = None) -> None:
    """Add metrics (and text files, name -> content) to an existing run."""
    import mlflow

    connect()
    client = mlflow.MlflowClient()
    retry_call(
        lambda: client.log_batch(run_id, metrics=[_metric(k, v) for k, v in metrics.items()]),
        what="MLflow log_batch",
    )
    for name, text in (files or {}).items():
        client.log_text(run_id, text, name)


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def _metric(key: str, value: float, timestamp_ms: int | None = None):
    from mlflow.entities import Metric

    return Metric(key, float(value), timestamp_ms or _now_ms(), 0)


def load_schema(run_id: str) -> Schema:
    """The schema logged with a training run."""
    import mlflow

    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="schema.json")
    return Schema.load(path)


def recent_runs(limit: int) -> list:
    """The latest `limit` runs of every experiment, newest first."""
    import mlflow

    connect()
    return mlflow.search_runs(
        search_all_experiments=True,
        max_results=limit,
        output_format="list",
        order_by=["attributes.start_time DESC"],
    )


def log_binary(run_id: str, files: dict[str, bytes]) -> None:
    """Add files (artifact path -> bytes, e.g. `plots/roc_curve.png`) to an existing run, in one call."""
    if not files:
        return
    import mlflow

    connect()
    client = mlflow.MlflowClient()
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            path = Path(tmp) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        retry_call(lambda: client.log_artifacts(run_id, tmp), what="MLflow log_artifacts")


def read_artifact_text(run_id: str, path: str) -> str | None:
    """The text of a run's artifact, or None when the run has no such file."""
    import mlflow

    connect()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=tmp)
        except Exception:  # absent (an older run) or unreadable: the caller goes without
            return None
        return Path(local).read_text()


def run_data(run_id: str) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
    """(params, metrics, tags) of a run."""
    import mlflow

    connect()
    run = retry_call(lambda: mlflow.MlflowClient().get_run(run_id), what="MLflow get_run")
    return dict(run.data.params), dict(run.data.metrics), dict(run.data.tags)


def artifact_uri(run_id: str, path: str = "") -> str:
    """The URI of a run's artifact (or of its artifact root)."""
    import mlflow

    connect()
    run = retry_call(lambda: mlflow.MlflowClient().get_run(run_id), what="MLflow get_run")
    root = run.info.artifact_uri.rstrip("/")
    return f"{root}/{path}" if path else root
