"""Reading files: every bad file gets a DataError that names the file and the problem."""

import numpy as np
import pandas as pd
import pytest

from kfp_ct.data.hashing import frame_hash
from kfp_ct.data.io import read_table, write_table
from kfp_ct.data.split import split_frame
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.errors import DataError, ParameterError


def _write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "file is empty"),
        ("header.csv", b"a,b,label\n", "header only"),
        ("semi.csv", b"a;b;label\n1;2;0\n3;4;1\n", "delimited by ';'"),
        ("bin.csv", bytes(range(256)) * 4, "binary content"),
        ("dupe.csv", b"a,a,label\n1,2,0\n", "duplicated column names ['a']"),
        ("data.txt", b"a,b\n1,2\n", "unsupported file type '.txt'"),
        ("trunc.parquet", b"PAR1\x00\x00garbage", "unreadable Parquet"),
    ],
)
def test_bad_files_name_file_and_problem(tmp_path, name, content, message):
    path = _write(tmp_path, name, content)
    with pytest.raises(DataError) as err:
        read_table(path)
    assert message in str(err.value)
    assert name in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_table(str(tmp_path / "nope.csv"))


def test_truncated_parquet_from_real_file(tmp_path):
    frame = make_dataset(SynthSpec(rows=200))
    path = write_table(frame, tmp_path / "ok.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="unreadable Parquet"):
        read_table(str(path))


def test_csv_and_parquet_roundtrip_hash_equal(tmp_path):
    frame = make_dataset(SynthSpec(rows=300))
    a = read_table(str(write_table(frame, tmp_path / "x.csv")))
    b = read_table(str(write_table(frame, tmp_path / "x.parquet")))
    assert frame_hash(a) == frame_hash(b)
    changed = b.copy()
    changed.loc[0, "age"] += 1
    assert frame_hash(changed) != frame_hash(b)


def test_synth_is_seeded_and_drift_moves_features():
    base = make_dataset(SynthSpec(rows=2000, seed=1))
    again = make_dataset(SynthSpec(rows=2000, seed=1))
    pd.testing.assert_frame_equal(base, again)
    drifted = make_dataset(SynthSpec(rows=2000, seed=1, drift=1.0, new_categories=True))
    assert drifted["age"].mean() > base["age"].mean() + 5
    assert {"central"} <= set(drifted["region"]) and "central" not in set(base["region"])
    assert set(base["label"]) == {0, 1}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_synth_tasks(task):
    frame = make_dataset(SynthSpec(rows=600, task=task))
    n = frame["label"].nunique()
    assert (n == 2) if task == "binary" else (n == 3 if task == "multiclass" else n > 100)


def test_synth_rejects_bad_knobs():
    with pytest.raises(ParameterError):
        make_dataset(SynthSpec(rows=0))
    with pytest.raises(ParameterError):
        make_dataset(SynthSpec(task="ranking"))


def test_split_is_stratified_and_seeded():
    frame = make_dataset(SynthSpec(rows=1000, label_shift=1.5))
    train, test = split_frame(frame, "label", 0.2, 3, stratify=True)
    assert len(test) == 200
    assert np.isclose(train["label"].mean(), test["label"].mean(), atol=0.01)
    again, _ = split_frame(frame, "label", 0.2, 3, stratify=True)
    pd.testing.assert_frame_equal(train, again)
