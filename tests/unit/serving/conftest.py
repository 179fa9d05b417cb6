"""A real project server on one saved model, one per test module that asks for it."""

from __future__ import annotations

import pytest

from tests.unit.serving.test_serving import save_model, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base URL, fitted model, feature rows) of `python -m kfp_ct.serving` on model `churn`."""
    model_dir = tmp_path_factory.mktemp("m") / "model"
    model, x = save_model(model_dir)
    proc, url = start_server("churn", model_dir)
    try:
        yield url, model, x
    finally:
        proc.terminate()
        proc.wait(10)
