"""`kfp_ct.tracking.runs.seed_sqlite_store`: a new sqlite store is a copy of a migrated template."""

from __future__ import annotations

import sqlite3

from kfp_ct.tracking import runs


def _experiments(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT experiment_id, name FROM experiments ORDER BY experiment_id").fetchall()


def test_a_new_store_starts_from_the_template_and_mlflow_adds_default(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("KFP_CT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    db = tmp_path / "home" / "mlflow.db"
    runs.seed_sqlite_store(db)
    templates = list((tmp_path / "cache" / "kfp-ct").glob("mlflow-*-empty.db"))
    assert len(templates) == 1 and db.is_file()
    assert _experiments(templates[0]) == [] and _experiments(db) == []  # schema only
    experiment_id = runs.connect()
    assert _experiments(db) == [(0, "Default"), (int(experiment_id), "kfp-ct")]


def test_an_existing_store_is_never_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"already here")
    runs.seed_sqlite_store(db)
    assert db.read_bytes() == b"already here"
    assert not (tmp_path / "cache").exists()


def test_no_writable_cache_leaves_the_store_to_mlflow(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # a file: no folder can be made under it
    db = tmp_path / "home" / "mlflow.db"
    runs.seed_sqlite_store(db)
    assert not db.exists() and db.parent.is_dir()
