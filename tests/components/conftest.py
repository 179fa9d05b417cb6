"""Fixtures of the component tests: a KFP_CT_HOME per module, small data, validated files.

Each test module has its own KFP_CT_HOME (`home`, module scope): the MLflow runs and registered
versions its upstream fixtures create must live in the store the component then reads, and one
component run serves all of a module's assertions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kfp_ct.data.io import write_table
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.steps import validate
from tests.conftest import free_port

ROWS = 400


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Iterator[Path]:
    """A fresh KFP_CT_HOME for this module, exported the way `kfp_ct.localrun` exports it."""
    from kfp_ct import settings

    mp = pytest.MonkeyPatch()
    work = tmp_path_factory.mktemp("component")
    mp.setenv(settings.HOME_ENV, str(work / "home"))
    mp.delenv(settings.TRACKING_ENV, raising=False)
    mp.setenv(settings.TRACKING_ENV, settings.tracking_uri())  # the steps' subprocesses use this store
    mp.setenv("KFP_CT_PORT", str(free_port()))
    mp.setenv("PYTHONUNBUFFERED", "1")
    mp.setenv("GIT_PYTHON_REFRESH", "quiet")
    try:
        yield work
    finally:
        from kfp_ct.deploy.targets.local import LocalTarget

        LocalTarget().stop()
        mp.undo()


@pytest.fixture(scope="session")
def data_csv(tmp_path_factory) -> Path:
    """A small synthetic binary-classification CSV."""
    return write_table(
        make_dataset(SynthSpec(rows=ROWS, seed=11)), tmp_path_factory.mktemp("data") / "data.csv"
    )


@pytest.fixture(scope="session")
def validated(data_csv, tmp_path_factory) -> validate.ValidatePaths:
    """Train/test parquet, schema and report of `data_csv`, written by the validate step's `run`.

    With no model name, validate reads no registry: these files belong to no KFP_CT_HOME.
    """
    work = tmp_path_factory.mktemp("validated")
    paths = validate.ValidatePaths(
        train_set=work / "train.parquet",
        test_set=work / "test.parquet",
        schema=work / "schema.json",
        report=work / "validate.md",
    )
    validate.run(validate.ValidateParams(data_uri=str(data_csv), model_name=""), paths)
    return paths
