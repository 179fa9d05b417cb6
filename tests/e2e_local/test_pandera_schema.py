"""`--schema` takes a pandera DataFrameSchema (YAML or JSON, as pandera writes it), and every run
writes its own schema in that format too.

A hand-written YAML is honoured (its checks judge the data, its columns keep their dtypes), and a
file that breaks it fails at validate, naming the column, in one line with exit code 2.
"""

from __future__ import annotations

import json

import pandas as pd
import pandera.pandas as pa
import pytest

from kfp_ct.core.schema import Schema
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.errors import KfpCtError
from kfp_ct.steps.validate import ValidateParams, ValidatePaths, run

from .conftest import run_cli

HAND_WRITTEN = """\
# Written by hand in pandera's DataFrameSchema YAML layout (what schema.to_yaml() writes).
schema_type: dataframe
version: 0.35.0
columns:
  age:
    dtype: float64
    nullable: false
    checks:
      greater_than_or_equal_to: 18
      less_than_or_equal_to: 100
  num_products:
    dtype: int64
    checks:
      in_range:
        min_value: 1
        max_value: 10
  region:
    dtype: object
    checks:
      isin: [north, south, east, west]
  label:
    dtype: int64
    checks:
      isin: [0, 1]
coerce: false
strict: false
"""
CLEAN = make_dataset(SynthSpec(rows=800, seed=21))


def write(tmp_path, name: str, frame: pd.DataFrame):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def validate(tmp_path, data, schema_uri: str = ""):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    paths = ValidatePaths(
        train_set=out / "train.parquet", test_set=out / "test.parquet", schema=out / "schema.json",
        report=out / "report.md", validation=out / "validation.json", pandera_schema=out / "schema.yaml",
    )  # fmt: skip
    return run(ValidateParams(data_uri=str(data), schema_uri=schema_uri, model_name=""), paths), paths


@pytest.fixture
def schema_yaml(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text(HAND_WRITTEN)
    return path


def test_a_hand_written_pandera_schema_is_honoured(tmp_path, schema_yaml):
    out, paths = validate(tmp_path, write(tmp_path, "clean.csv", CLEAN), str(schema_yaml))
    assert out.result.errors == [] and out.schema_source == str(schema_yaml)
    saved = Schema.load(paths.schema)
    assert saved.pandera == HAND_WRITTEN  # the user's checks judge every later run too
    assert paths.pandera_schema.read_text() == HAND_WRITTEN
    assert saved.column("num_products").dtype == "int64" and saved.task == "binary"


def test_a_file_breaking_it_fails_naming_the_column(tmp_path, schema_yaml):
    bad = CLEAN.copy()
    bad.loc[::40, "age"] = 7.0  # under the schema's 18
    bad.loc[::50, "region"] = "mars"
    with pytest.raises(KfpCtError) as info:
        validate(tmp_path, write(tmp_path, "young.csv", bad), str(schema_yaml))
    message = str(info.value)
    assert "\n" not in message and "[age] pandera" in message and "greater_than_or_equal_to(18)" in message
    assert "[region] pandera" in message and "'mars'" in message
    assert "[age] range" not in message  # what pandera checks is not checked twice
    violations = json.loads((tmp_path / "out" / "validation.json").read_text())["violations"]
    assert {v["column"] for v in violations if v["rule"] == "pandera"} == {"age", "region"}


def test_the_inferred_schema_is_written_in_pandera_format_and_round_trips(tmp_path):
    _, paths = validate(tmp_path, write(tmp_path, "clean.csv", CLEAN))
    text = paths.pandera_schema.read_text()
    assert text.startswith("schema_type: dataframe")
    pa.DataFrameSchema.from_yaml(text).validate(CLEAN)  # pandera itself accepts the data
    again = tmp_path / "again"
    again.mkdir()
    out, _ = validate(again, write(again, "again.csv", CLEAN), str(paths.pandera_schema))
    assert out.result.errors == []


def test_an_invalid_pandera_file_is_one_clear_line(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("schema_type: dataframe\ncolumns:\n  age:\n    dtype: not-a-type\n")
    with pytest.raises(KfpCtError) as info:
        validate(tmp_path, write(tmp_path, "clean.csv", CLEAN), str(broken))
    assert "broken.yaml" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.slow
def test_the_cli_fails_at_validate_naming_the_column(tmp_path, schema_yaml, kfp_home):
    import os

    bad = CLEAN.copy()
    bad.loc[::40, "age"] = 7.0
    env = {**os.environ}
    proc = run_cli(env, "run", "--data", str(write(tmp_path, "young.csv", bad)), "--schema", str(schema_yaml),
                   timeout=300)  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("kfp-ct: error: step 'validate' failed:") and "[age] pandera" in last
    assert "Traceback" not in proc.stdout + proc.stderr
