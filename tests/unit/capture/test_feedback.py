"""Labels by request id: every row accounted for, recorded once, bad files refused unchanged."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from kfp_ct.capture import store
from kfp_ct.capture.feedback import record_labels
from kfp_ct.capture.recorder import Record, batch_columns, to_table
from kfp_ct.errors import DataError

MODEL = "m"


@pytest.fixture
def uri(tmp_path):
    records = [
        Record(f"r{i}", time.time(), MODEL, "1", "v1", 200, 1.0, [{"x": i}], {"predictions": [i % 2]}, ["x"])
        for i in range(10)
    ]
    records.append(Record("refused", time.time(), MODEL, "1", "status", 400, 1.0, error="bad"))
    store.write_table(str(tmp_path), MODEL, to_table(batch_columns(records)[0]))
    return str(tmp_path)


def files(uri):
    return sorted(p.name for p in (Path(uri) / MODEL / "feedback").glob("*.parquet"))


def test_counts_every_row_and_is_idempotent(uri):
    labels = pd.DataFrame({
        "request_id": ["r0", "r1", "r1", "r2", "r2", "zz", "refused", "r3", "r4"],
        "label": [0, 1, 1, 0, 1, 1, 0, None, "x"],
    })  # fmt: skip
    result = record_labels(labels, uri, MODEL)
    assert (result.recorded, result.duplicates, result.conflicts) == (3, 1, 1)
    assert (result.unknown_ids, result.missing_labels, result.type_mismatches) == (2, 1, 1)
    assert result.received == 9
    saved = store.read_feedback(uri, MODEL).set_index("request_id")["label"].to_dict()
    assert saved == {"r0": 0, "r1": 1, "r2": 0}
    before = files(uri)
    again = record_labels(labels, uri, MODEL)
    assert (again.recorded, again.already_recorded, again.conflicts, again.duplicates) == (0, 3, 1, 1)
    assert files(uri) == before
    changed = record_labels(pd.DataFrame({"request_id": ["r0", "r5"], "label": [1, 1]}), uri, MODEL)
    assert (changed.recorded, changed.conflicts) == (1, 1)
    assert store.read_feedback(uri, MODEL).set_index("request_id")["label"].to_dict()["r0"] == 0


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        (pd.DataFrame({"request_id": ["a", "b"], "label": [1, 0]}), "none of the 2 request ids"),
        (pd.DataFrame({"id": ["r0"], "label": [1]}), "no column 'request_id'"),
        (pd.DataFrame({"request_id": ["r0"], "target": [1]}), "no column 'label'"),
        (pd.DataFrame({"request_id": ["r0", "r1"], "label": ["yes", "no"]}), "the model predicts"),
        (pd.DataFrame({"request_id": [], "label": []}), "no rows"),
    ],
)
def test_bad_files_are_refused_and_change_nothing(uri, labels, fragment):
    with pytest.raises(DataError, match=fragment) as caught:
        record_labels(labels, uri, MODEL)
    assert "\n" not in str(caught.value)
    assert files(uri) == []
