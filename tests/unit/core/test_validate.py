"""Validation collects every violation with column, rule and observed value."""

import numpy as np
import pytest

from kfp_ct.core.schema import Schema, infer_schema
from kfp_ct.core.validate import ValidationConfig, check_leakage, validate_frame
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.errors import ParameterError, ValidationFailed


@pytest.fixture(scope="module")
def reference():
    return make_dataset(SynthSpec(rows=1000, seed=3))


@pytest.fixture(scope="module")
def schema(reference):
    return infer_schema(reference, "label", "binary")


def rules(result):
    return {(v.rule, v.column) for v in result.violations}


def test_clean_data_passes(reference, schema):
    result = validate_frame(make_dataset(SynthSpec(rows=800, seed=9)), schema, ValidationConfig())
    assert result.errors == []
    result.raise_for_errors()


def test_every_violation_is_collected(reference, schema):
    bad = reference.copy()
    bad = bad.drop(columns=["balance"])
    bad["age"] = bad["age"].astype(object)
    bad.loc[5, "age"] = "abc"
    bad.loc[:400, "income"] = np.nan
    bad.loc[7, "tenure_months"] = np.inf
    bad.loc[8, "support_calls"] = 10_000
    bad.loc[9, "region"] = "atlantis"
    bad["extra"] = 1
    result = validate_frame(bad, schema, ValidationConfig(), "bad.csv")
    found = rules(result)
    assert ("missing_column", "balance") in found
    assert ("dtype", "age") in found
    assert ("null_rate", "income") in found
    assert ("infinite", "tenure_months") in found
    assert ("range", "support_calls") in found
    assert ("category", "region") in found
    assert ("unexpected_column", "extra") in found
    with pytest.raises(ValidationFailed) as err:
        result.raise_for_errors()
    message = str(err.value)
    assert "bad.csv" in message and "[age] dtype" in message and "'abc'" in message
    assert "[balance] missing_column" in message


def test_label_rules(schema, reference):
    no_label = reference.drop(columns=["label"])
    assert ("label_missing", "label") in rules(validate_frame(no_label, schema, ValidationConfig()))
    constant = reference.assign(label=1)
    assert ("label_constant", "label") in rules(validate_frame(constant, schema, ValidationConfig()))


def test_all_null_and_min_rows(schema, reference):
    small = reference.head(10).assign(balance=np.nan)
    found = rules(validate_frame(small, schema, ValidationConfig()))
    assert ("all_null", "balance") in found and ("min_rows", "*") in found


def test_severity_overrides(schema, reference):
    bad = reference.drop(columns=["balance"])
    cfg = ValidationConfig(severities={"missing_column": "warning"})
    result = validate_frame(bad, schema, cfg)
    assert result.errors == [] and result.warnings
    off = validate_frame(bad, schema, ValidationConfig(severities={"missing_column": "off"}))
    assert not off.violations


def test_config_rejects_unknown_rules_and_bad_json():
    with pytest.raises(ParameterError, match="unknown validation rules"):
        ValidationConfig(severities={"nope": "error"})
    with pytest.raises(ParameterError, match="not valid JSON"):
        ValidationConfig.from_json("{bad")
    with pytest.raises(ParameterError, match="error, warning or off"):
        ValidationConfig(severities={"range": "fatal"})


def test_duplicates_and_leakage(reference):
    schema = infer_schema(reference, "label", "binary")
    dup = reference.head(100)
    doubled = dup._append(dup, ignore_index=True)
    result = validate_frame(doubled, schema, ValidationConfig(min_rows=1))
    assert ("duplicates", "*") in rules(result)
    check_leakage(result, reference.head(500), reference.iloc[450:600], "label", ValidationConfig())
    assert ("leakage", "*") in rules(result)
    assert result.stats["leakage_rate"] == pytest.approx(50 / 150)


def test_schema_roundtrip(tmp_path, schema):
    path = schema.save(tmp_path / "s.json")
    assert Schema.load(path) == schema
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(Exception, match=r"broken\.json"):
        Schema.load(tmp_path / "broken.json")
