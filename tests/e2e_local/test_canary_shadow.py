"""Local canary and shadow rollouts end to end, with real HTTP traffic during the bake.

One KFP_CT_HOME, MLflow store and model server for the module. Versions are trained here and
registered as the register step does; each rollout is the deploy step itself (`steps.deploy.run`,
as its component calls it), while a load generator thread posts single-row V2 requests:

- v1 is served directly (the champion);
- v2, healthy, takes 20 % of 1,000+ requests as a canary and is promoted;
- v3 cannot score region "west" (absent from its training and smoke rows, common live): its
  canary is rolled back on its success rate; v2 and the endpoint stay;
- v4 runs as a shadow: every answer comes from v2, both versions are captured under the same
  request ids, `kfp-ct shadow report` compares them, and `kfp-ct promote --from-shadow` refuses
  on too little evidence, then promotes v4 (a V1 request is shadowed too);
- v5 is left running as a shadow; v6 replaces it as the shadow with `promote_after_shadow` and is
  promoted at the end of its bake.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
import mlflow
import mlflow.sklearn
import orjson
import pandas as pd
import pytest

from kfp_ct import lineage
from kfp_ct.capture import store
from kfp_ct.capture.config import capture_uri
from kfp_ct.capture.feedback import record_labels
from kfp_ct.cli import main as cli
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.errors import DeployError
from kfp_ct.serving.protocol import VERSION_HEADER, frame_to_v2_request
from kfp_ct.steps import deploy as deploy_step
from kfp_ct.steps.deploy import DeployParams, DeployPaths
from kfp_ct.tracking import registry, runs
from tests.conftest import free_port

from .helpers import served_version

pytestmark = pytest.mark.slow  # bakes on live traffic: about a minute on a quiet machine
NAME = "canary-model"
FEATURES = ["age", "income", "tenure_months", "balance", "num_products", "support_calls", "region", "plan"]
CATEGORICAL = ["region", "plan"]


class Load:
    """Keep-alive clients posting single rows (with known request ids) until stopped."""

    def __init__(self, url: str, frame: pd.DataFrame, prefix: str, threads: int = 3):
        self.url, self.prefix = url, prefix
        self.bodies = [orjson.dumps(frame_to_v2_request(frame.iloc[[i]])) for i in range(len(frame))]
        self.answers: list[tuple[float, str, int, str]] = []  # (sent at, request id, code, version)
        self._stop, self._lock = threading.Event(), threading.Lock()
        self._next = iter(range(10**9))
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(timeout=30, trust_env=False) as client:
            while not self._stop.is_set():
                with self._lock:
                    i = next(self._next)
                rid = f"{self.prefix}-{i}"
                headers = {"content-type": "application/json", "x-request-id": rid}
                sent = time.time()
                r = client.post(self.url, content=self.bodies[i % len(self.bodies)], headers=headers)
                with self._lock:
                    self.answers.append((sent, rid, r.status_code, r.headers.get(VERSION_HEADER, "-")))

    def row_of(self, rid: str) -> int:
        return int(rid.rsplit("-", 1)[1]) % len(self.bodies)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def train(frame: pd.DataFrame, seed: int, fail_on_unseen: bool = False):
    """A classifier over the raw features; `fail_on_unseen`: one-hot that raises on a new category."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from kfp_ct.core.schema import infer_schema
    from kfp_ct.core.train import train_model

    if not fail_on_unseen:
        schema = infer_schema(frame, "label", "binary")
        return train_model(frame, schema, "hist_gradient_boosting", {"max_iter": 40}, seed=seed).model
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="error"), CATEGORICAL)], remainder="passthrough"
    )
    model = Pipeline(
        [("pre", pre), ("model", HistGradientBoostingClassifier(max_iter=20, random_state=seed))]
    )
    return model.fit(frame[FEATURES], frame["label"])


def register(tmp: Path, version_tag: str, model) -> tuple[str, Path]:
    """Log `model` to MLflow and register it as the register step does; (version, local model dir)."""
    from mlflow.models import infer_signature

    from kfp_ct.core.estimators import SKOPS_TRUSTED_TYPES

    x = make_dataset(SynthSpec(rows=50, seed=99))
    x = x.loc[x["region"] != "west", FEATURES]  # a row every version can score
    runs.connect()
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model, name="model", serialization_format="skops", skops_trusted_types=SKOPS_TRUSTED_TYPES,
            signature=infer_signature(x, model.predict(x)), input_example=x.head(2),
        )  # fmt: skip
    model_dir = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp / version_tag)))
    ref = registry.register(NAME, info.model_uri, run.info.run_id, {}, model_dir)
    return ref.version, model_dir


def deploy(tmp: Path, version: str, local: Path, test_set: Path, **rollout) -> deploy_step.DeployOutput:
    """The deploy step as its component runs it, against the champion of now."""
    record = tmp / f"decision-{version}.json"
    record.write_text(json.dumps({"champion_version": registry.aliases(NAME).get(lineage.CHAMPION) or ""}))
    params = DeployParams.from_kfp(model_name=NAME, model_version=version, target="local",
                                   readiness_timeout_s=120.0, kserve_options="{}", **rollout)  # fmt: skip
    return deploy_step.run(params, DeployPaths(model=local, test_set=test_set, decision_record=record))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """v1 serving as champion; the data, test sets and the endpoint."""
    from kfp_ct.deploy.targets.local import LocalTarget

    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("canary")
    mp.setenv("KFP_CT_HOME", str(tmp / "home"))
    mp.setenv("KFP_CT_PORT", str(free_port()))
    mp.setenv("KFP_CT_CAPTURE_FLUSH_S", "0.2")
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.delenv("KFP_CT_CAPTURE_URI", raising=False)
    data = make_dataset(SynthSpec(rows=3000, seed=7))
    held_out = data.tail(400).reset_index(drop=True)
    test_set, no_west = tmp / "test.parquet", tmp / "test-no-west.parquet"
    held_out.to_parquet(test_set)
    held_out[held_out["region"] != "west"].to_parquet(no_west)
    v1, local1 = register(tmp, "v1", train(data.head(600), seed=1))
    deploy(tmp, v1, local1, test_set)
    endpoint = LocalTarget().current_endpoint(NAME)
    try:
        yield {
            "tmp": tmp, "data": data, "live": held_out[FEATURES], "truth": held_out["label"],
            "test_set": test_set, "no_west": no_west, "endpoint": endpoint, "v1": v1,
        }  # fmt: skip
    finally:
        LocalTarget().stop()
        mp.undo()


def answered_during(load: Load, rollout: dict) -> list[tuple[float, str, int, str]]:
    since, until = (datetime.fromisoformat(rollout["extra"][k]).timestamp() for k in ("since", "until"))
    return [a for a in load.answers if since < a[0] <= until]


def test_healthy_canary_takes_its_share_and_is_promoted(world):
    tmp = world["tmp"]
    v2, local2 = register(tmp, "v2", train(world["data"].head(2500), seed=2))
    url = f"{world['endpoint']}/v2/models/{NAME}/infer"
    with Load(url, world["live"], "canary") as load:
        out = deploy(tmp, v2, local2, world["test_set"], rollout="canary", canary_percent=20, bake_seconds=10,
                     min_canary_requests=100)  # fmt: skip
    during = answered_during(load, out.rollout)[:1000]
    assert len(during) == 1000, f"only {len(during)} requests during the bake"
    assert {code for _, _, code, _ in during} == {200}
    share = Counter(v for *_, v in during)[v2] / len(during)
    assert 0.15 <= share <= 0.25, share
    assert out.rollout["action"] == "promote" and out.champion_version == v2
    assert out.rollout["candidate"]["requests"] >= 200
    aliases = registry.aliases(NAME)
    assert aliases[lineage.CHAMPION] == v2 and aliases[lineage.PREVIOUS_CHAMPION] == world["v1"]
    assert registry.get_version(NAME, v2).tags["kfp_ct.rollout.verdict"] == "promote"
    assert served_version(world["endpoint"], NAME, world["live"].head(3)) == v2
    world["v2"] = v2


def test_canary_failing_live_is_rolled_back_naming_the_reason(world):
    tmp, v2 = world["tmp"], world["v2"]
    train_rows = world["data"].head(2500)
    v3, local3 = register(
        tmp, "v3", train(train_rows[train_rows["region"] != "west"], seed=3, fail_on_unseen=True)
    )
    url = f"{world['endpoint']}/v2/models/{NAME}/infer"
    with Load(url, world["live"], "failing") as load, pytest.raises(DeployError) as exc:
        deploy(tmp, v3, local3, world["no_west"], rollout="canary", canary_percent=20, bake_seconds=4,
               min_canary_requests=50)  # fmt: skip
    message = str(exc.value)
    assert f"canary of {NAME} v{v3} rolled back: success rate" in message and "under 99.00%" in message
    assert "\n" not in message
    answered_by = Counter(v for *_, v in load.answers)
    assert answered_by[v3] > 0  # it did take live traffic, and failed on it
    assert registry.aliases(NAME)[lineage.CHAMPION] == v2
    assert registry.get_version(NAME, v3).tags["kfp_ct.rollout.verdict"] == "rollback"
    assert served_version(world["endpoint"], NAME, world["live"].head(3)) == v2
    meta = httpx.get(f"{world['endpoint']}/v2/models/{NAME}", trust_env=False).json()
    assert v3 not in meta["versions"] and meta["parameters"]["serving_version"] == v2


def wait_captured(ids: set[str], timeout_s: float = 60.0) -> pd.DataFrame:
    deadline = time.monotonic() + timeout_s
    while True:
        frame = store.read_capture(capture_uri(), NAME)
        if not frame.empty:
            got = frame[frame[store.REQUEST_ID].isin(ids)]
            if len(got) >= 2 * len(ids) or time.monotonic() > deadline:
                return got
        time.sleep(0.3)


def test_shadow_answers_with_the_champion_and_promotes_on_evidence(world, capsys):
    tmp, v2 = world["tmp"], world["v2"]
    v4, local4 = register(tmp, "v4", train(world["data"].head(2600), seed=4))
    out = deploy(tmp, v4, local4, world["test_set"], rollout="shadow", bake_seconds=0)
    assert out.champion_version == v2 and registry.aliases(NAME)[lineage.SHADOW] == v4
    url = f"{world['endpoint']}/v2/models/{NAME}/infer"
    with Load(url, world["live"], "shadow", threads=2) as load:
        while len(load.answers) < 400:
            time.sleep(0.1)
    assert {(code, v) for *_, code, v in load.answers} == {(200, v2)}  # every answer from the champion
    instances = world["live"].head(1).to_dict(orient="records")
    v1_answer = httpx.post(f"{world['endpoint']}/v1/models/{NAME}:predict", json={"instances": instances},
                           headers={"x-request-id": "v1-shadow"}, trust_env=False)  # fmt: skip
    assert v1_answer.status_code == 200 and v1_answer.headers[VERSION_HEADER] == v2
    ids = {rid for _, rid, *_ in load.answers}
    captured = wait_captured(ids)  # the copies are scored behind the answers, in order
    v1_rows = wait_captured({"v1-shadow"})
    assert sorted(zip(v1_rows[store.VERSION], store.is_shadow(v1_rows), strict=True)) == [
        (v2, False),
        (v4, True),
    ]
    roles = captured.assign(shadow=store.is_shadow(captured))
    by_role = roles.groupby("shadow")[store.REQUEST_ID].apply(set)
    assert by_role[False] == ids and by_role[True] == ids  # both versions, the same ids
    assert set(roles.loc[roles["shadow"], store.VERSION]) == {v4}
    truth = world["truth"]
    labels = pd.DataFrame(
        {"request_id": sorted(ids), "label": [int(truth[load.row_of(r)]) for r in sorted(ids)]}
    )
    record_labels(labels, capture_uri(), NAME)

    assert cli(["shadow", "report", "--model", NAME, "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["extra"]["compared_requests"] == len(ids) + 1  # and the V1 request
    assert 0.5 < report["agreement"] <= 1.0
    for side in ("champion", "candidate"):
        assert report[side]["metric"] == "accuracy" and report[side]["labelled_rows"] == len(ids)
        assert report[side]["latency_p50_ms"] > 0 and report[side]["requests"] == len(ids) + 1

    assert cli(["promote", "--from-shadow", "--model", NAME, "--min-requests", "100000"]) != 0
    refusal = capsys.readouterr().err.strip()
    assert (
        refusal.startswith(f"kfp-ct: error: {NAME}: v{v4} not promoted: ") and "fewer than 100000" in refusal
    )
    assert "\n" not in refusal and registry.aliases(NAME)[lineage.CHAMPION] == v2

    code = cli(
        ["promote", "--from-shadow", "--model", NAME, "--min-requests", "300", "--max-disagreement", "0.5"]
    )
    said = capsys.readouterr()
    assert code == 0, said.err
    aliases = registry.aliases(NAME)
    assert aliases[lineage.CHAMPION] == v4 and lineage.SHADOW not in aliases
    assert served_version(world["endpoint"], NAME, world["live"].head(3)) == v4


def test_promote_after_shadow_replaces_a_running_shadow_and_promotes_at_the_end_of_the_bake(world):
    tmp, champion = world["tmp"], registry.aliases(NAME)[lineage.CHAMPION]
    v5, local5 = register(tmp, "v5", train(world["data"].head(2700), seed=5))
    deploy(tmp, v5, local5, world["test_set"], rollout="shadow", bake_seconds=0)  # left running
    assert registry.aliases(NAME)[lineage.SHADOW] == v5
    v6, local6 = register(tmp, "v6", train(world["data"].head(2800), seed=6))
    url = f"{world['endpoint']}/v2/models/{NAME}/infer"
    # A loaded 2-core machine (two test workers) answers far fewer requests in the bake than an
    # idle one: the evidence asked for is what 8 s of two load threads give even then.
    thresholds = json.dumps({"min_shadow_requests": 20, "max_disagreement": 0.5, "min_labelled_rows": 10**6})
    with Load(url, world["live"], "after-shadow", threads=2) as load:
        out = deploy(tmp, v6, local6, world["test_set"], rollout="shadow", bake_seconds=8,
                     promote_after_shadow=True, rollout_thresholds=thresholds)  # fmt: skip
    assert out.rollout["action"] == "promote", out.rollout["reasons"]
    assert out.champion_version == v6 and out.previous_champion == champion, out.rollout
    assert out.rollout["extra"]["compared_requests"] >= 20
    assert {v for _, _, _, v in load.answers[:20]} == {champion}  # while it baked, the champion answered
    aliases = registry.aliases(NAME)
    assert aliases[lineage.CHAMPION] == v6 and lineage.SHADOW not in aliases
    assert registry.get_version(NAME, v6).tags["kfp_ct.shadow.verdict"] == "promote"
    copies = store.read_capture(capture_uri(), NAME)
    after = copies[copies[store.REQUEST_ID].str.startswith("after-shadow") & store.is_shadow(copies)]
    since = pd.Timestamp(out.rollout["since"])
    assert set(after.loc[after[store.TIME] > since, store.VERSION]) == {v6}  # v5 got copies until then
    assert v6 in set(after[store.VERSION])
    meta = httpx.get(f"{world['endpoint']}/v2/models/{NAME}", trust_env=False).json()
    assert v5 not in meta["versions"] and meta["parameters"]["serving_version"] == v6
    assert served_version(world["endpoint"], NAME, world["live"].head(3)) == v6
