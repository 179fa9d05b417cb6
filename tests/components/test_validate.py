"""Component `validate` alone through kfp.local: split files, schema, report, metrics, outputs."""

from __future__ import annotations

import contextlib
import io

import pandas as pd
import pytest

from kfp_ct.components import validate
from kfp_ct.core.schema import Schema
from kfp_ct.data.hashing import frame_hash
from kfp_ct.data.io import read_table
from kfp_ct.logs import FAILURE_MARKER

from .helpers import run_alone

pytestmark = pytest.mark.slow


def arguments(data_csv, config: str) -> dict:
    return dict(
        data_uri=str(data_csv),
        label="label",
        task="auto",
        schema_uri="",
        model_name="comp-validate",
        validation_config=config,
        test_size=0.25,
        seed=5,
    )


@pytest.fixture(scope="module")
def ran(home, data_csv):
    return run_alone(validate, home / "root", {}, **arguments(data_csv, '{"min_rows": 10}'))


def test_outputs(ran, data_csv):
    assert ran.parameters == {
        "task": "binary",
        "data_hash": frame_hash(read_table(str(data_csv))),
        "rows": 400,
    }


def test_split_and_schema_files(ran):
    train = pd.read_parquet(ran.artifacts["train_set"].path)
    test = pd.read_parquet(ran.artifacts["test_set"].path)
    assert (len(train), len(test)) == (300, 100)
    assert train["label"].mean() == pytest.approx(test["label"].mean(), abs=0.05)  # stratified
    schema = Schema.load(ran.artifacts["schema"].path)
    assert schema.label == "label" and schema.task == "binary"
    assert set(schema.feature_columns(train)) == set(train.columns) - {"label"}


def test_metadata_metrics_and_report(ran, data_csv):
    assert ran.artifacts["train_set"].metadata == {
        "data_hash": frame_hash(read_table(str(data_csv))),
        "format": "parquet",
    }
    assert ran.artifacts["schema"].metadata == {"source": "inferred from this data"}
    metrics = ran.artifacts["metrics"].metadata
    assert metrics["warnings"] == 0 and metrics["rows"] == 400 and metrics["leakage_rate"] == 0.0
    assert "Schema: inferred from this data" in ran.artifacts["report"].path.read_text()


def test_a_broken_rule_fails_the_step_with_one_line(home, data_csv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(RuntimeError):
        run_alone(validate, home / "failing", {}, **arguments(data_csv, '{"min_rows": 100000}'))
    [line] = [line for line in out.getvalue().splitlines() if FAILURE_MARKER in line]
    assert f"{FAILURE_MARKER} validate: validation failed for {data_csv}: 1 error(s)" in line
    assert "[*] min_rows: 400 rows (expected >= 100000)" in line
