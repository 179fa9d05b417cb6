"""Training-set policies and the cooldown / de-duplication guards."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from kfp_ct.data.hashing import frame_hash
from kfp_ct.drift import build_training_set, check_guards
from kfp_ct.errors import DataError, ParameterError
from kfp_ct.lineage import DATA_HASH, TRAINED_AT
from kfp_ct.tracking.history import fetch_model_versions

REF = pd.DataFrame({"a": range(0, 10), "b": list("abcdefghij")})
WIN = pd.DataFrame({"b": list("klmno"), "a": range(100, 105), "extra": 1})


def test_policy_all_concatenates_in_reference_column_order():
    out = build_training_set(REF, WIN, "all")
    assert list(out.columns) == ["a", "b"]
    assert out["a"].tolist() == [*range(10), *range(100, 105)]
    assert out.index.tolist() == list(range(15))


def test_policy_all_with_cap_samples_seeded_and_keeps_order():
    out = build_training_set(REF, WIN, "all", max_rows=6, seed=3)
    assert len(out) == 6
    assert out["a"].is_monotonic_increasing
    assert out.equals(build_training_set(REF, WIN, "all", max_rows=6, seed=3))


def test_policy_sliding_keeps_the_newest_rows():
    out = build_training_set(REF, WIN, "sliding", max_rows=7)
    assert out["a"].tolist() == [8, 9, 100, 101, 102, 103, 104]


def test_policy_new_keeps_the_window_only():
    assert build_training_set(REF, WIN, "new")["a"].tolist() == list(range(100, 105))
    assert build_training_set(REF, WIN, "new", max_rows=2)["a"].tolist() == [103, 104]


def test_policy_errors():
    with pytest.raises(ParameterError, match="needs max_rows"):
        build_training_set(REF, WIN, "sliding")
    with pytest.raises(ParameterError, match="unknown training-set policy 'some'"):
        build_training_set(REF, WIN, "some")
    with pytest.raises(DataError, match=r"lacks column\(s\) \['b'\]"):
        build_training_set(REF, WIN.drop(columns=["b"]), "all")


def test_frame_hash_is_content_based():
    assert frame_hash(REF) == frame_hash(REF.copy())
    changed = REF.copy()
    changed.loc[3, "a"] = -1
    assert frame_hash(changed) != frame_hash(REF)


NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def version(v, hours_ago, data_hash, use_tag=True):
    trained = NOW - timedelta(hours=hours_ago)
    tags = {DATA_HASH: data_hash}
    if use_tag:
        tags[TRAINED_AT] = trained.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"version": v, "tags": tags, "creation_timestamp": int(trained.timestamp() * 1000)}


def test_guards_pass_when_data_is_new_and_cooldown_over():
    result = check_guards([version("1", 30, "h1")], "h2", now=NOW, cooldown_hours=24)
    assert not result.skip
    assert result.reasons == [
        "new data: window hash h2 not trained on before",
        "cooldown passed: last retrain 30.0 h ago (model version 1) >= 24 h",
    ]


def test_cooldown_blocks_and_says_until_when():
    result = check_guards([version("1", 30, "h1"), version("2", 2, "h2")], "h3", now=NOW, cooldown_hours=6)
    assert result.skip and result.cooldown_active and result.duplicate_of is None
    assert result.last_trained_at == "2026-11-21T10:00:00Z"
    assert "cooldown: last retrain 2.0 h ago (model version 2)" in result.reasons[1]
    assert "next retrain allowed after 2026-11-21T16:00:00Z" in result.reasons[1]


def test_duplicate_hash_blocks():
    result = check_guards(
        [version("1", 48, "abc"), version("2", 30, "def")], "abc", now=NOW, cooldown_hours=6
    )
    assert result.skip and not result.cooldown_active
    assert result.duplicate_of == "1"
    assert result.reasons[0].startswith("duplicate data: window hash abc was already trained on")


def test_both_guards_visible_together():
    result = check_guards([version("4", 1, "abc")], "abc", now=NOW, cooldown_hours=6)
    assert result.skip
    assert [r.split(":")[0] for r in result.reasons] == ["duplicate data", "cooldown"]


def test_creation_time_is_used_without_trained_at_tag():
    result = check_guards([version("1", 3, "x", use_tag=False)], None, now=NOW, cooldown_hours=6)
    assert result.cooldown_active
    assert check_guards([version("1", 7, "x", use_tag=False)], None, now=NOW, cooldown_hours=6).skip is False


def test_no_versions_no_block():
    result = check_guards([], "abc", now=NOW, cooldown_hours=6)
    assert not result.skip
    assert result.reasons[-1] == "cooldown passed: no earlier model version"


def test_fetch_model_versions_from_a_real_mlflow_registry(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    assert fetch_model_versions(client, "m'odel") == []
    client.create_registered_model("m'odel")
    for i, h in enumerate(["h1", "h2"]):
        client.create_model_version(
            "m'odel",
            source=str(tmp_path / f"v{i}"),
            tags={DATA_HASH: h, TRAINED_AT: (NOW - timedelta(hours=10 - 8 * i)).isoformat()},
        )
    records = fetch_model_versions(client, "m'odel")
    assert sorted(r["version"] for r in records) == ["1", "2"]
    result = check_guards(records, "h1", now=NOW, cooldown_hours=6)
    assert result.duplicate_of == "1" and result.cooldown_active
