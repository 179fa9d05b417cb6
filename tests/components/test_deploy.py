"""Component `deploy` alone through kfp.local, target local: the endpoint answers, champion moved."""

from __future__ import annotations

import pandas as pd
import pytest
from kfp.dsl import Artifact, Dataset, Model

from kfp_ct import lineage
from kfp_ct.components import deploy
from kfp_ct.serving.client import infer_v2
from kfp_ct.tracking import models, registry

from .helpers import compare_here, register_here, run_alone, train_here

pytestmark = pytest.mark.slow
NAME = "comp-deploy"


@pytest.fixture(scope="module")
def ran(home, validated):
    trained = train_here(validated, home / "model")
    decided = compare_here(validated, home / "model", NAME, home)
    version = register_here(trained, NAME, decided.decision_record)
    inputs = {
        "model": (home / "model", Model),
        "test_set": (validated.test_set, Dataset),
        "decision_record": (decided.decision_record, Artifact),
    }
    return run_alone(
        deploy,
        home / "root",
        inputs,
        model_name=NAME,
        model_version=version,
        target="local",
        readiness_timeout_s=120.0,
        kserve_options="{not read for target local",
    )


def test_outputs_and_aliases(ran):
    assert ran.parameters["champion_version"] == "1"
    assert ran.parameters["endpoint"].startswith("http://127.0.0.1:")
    assert registry.aliases(NAME) == {lineage.CHAMPION: "1"}  # promote clears `challenger`
    tags = registry.get_version(NAME, "1").tags
    assert tags[lineage.ENDPOINT] == ran.parameters["endpoint"] and tags[lineage.DEPLOYED_AT]


def test_the_endpoint_serves_the_offline_models_predictions(ran, home, validated):
    rows = pd.read_parquet(validated.test_set).drop(columns=["label"]).head(10)
    served = infer_v2(ran.parameters["endpoint"], NAME, rows)
    assert served.model_version == "1"
    offline = models.load_model(home / "model")
    assert served.predictions == [int(v) for v in offline.predict(rows)]
