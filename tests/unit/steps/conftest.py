"""One KFP_CT_HOME and one small validated, trained model shared by the step tests of this folder.

Each test that registers or promotes uses its own model name, so the tests stay independent of
their order while paying MLflow's store set-up and one training run only once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from kfp_ct.data.io import write_table
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.steps import train, validate
from tests.conftest import free_port

ROWS = 400


@dataclass(frozen=True)
class Trained:
    """The files validate and train wrote, and train's output."""

    data: Path
    train_set: Path
    test_set: Path
    schema: Path
    model: Path
    out: train.TrainOutput
    params: train.TrainParams


@pytest.fixture(scope="package")
def steps_home(tmp_path_factory):
    """A fresh KFP_CT_HOME (own sqlite MLflow store, own serving port) for this folder."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("steps") / "home"
    mp.setenv("KFP_CT_HOME", str(home))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.setenv("KFP_CT_PORT", str(free_port()))
    try:
        yield home
    finally:
        mp.undo()


@pytest.fixture(scope="package")
def trained(steps_home, tmp_path_factory) -> Trained:
    """Validate a small synthetic CSV and train a small model on it through the steps' `run`."""
    work = tmp_path_factory.mktemp("trained")
    data = write_table(make_dataset(SynthSpec(rows=ROWS, seed=11)), work / "data.csv")
    paths = validate.ValidatePaths(
        train_set=work / "train.parquet",
        test_set=work / "test.parquet",
        schema=work / "schema.json",
        report=work / "validate.md",
    )
    checked = validate.run(validate.ValidateParams(data_uri=str(data), model_name=""), paths)
    params = train.TrainParams(
        hyperparameters={"max_iter": 20},
        seed=3,
        pipeline_run_id="unit-run",
        data_hash=checked.data_hash,
        data_uri=str(data),
    )
    model = work / "model"
    out = train.run(params, train.TrainPaths(train_set=paths.train_set, schema=paths.schema, model=model))
    return Trained(data, paths.train_set, paths.test_set, paths.schema, model, out, params)
