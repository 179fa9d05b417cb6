"""Whole `kfp-ct run`s: SIGKILL mid-deploy then re-run, and bad inputs through the real CLI.

One KFP_CT_HOME for the module, in order: a run killed while its model server starts, a re-run
that must complete cleanly, then failing runs that must leave champion and endpoint untouched.
A secret planted in the environment must appear in no log, no MLflow tag or parameter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kfp_ct.data.io import write_table
from kfp_ct.data.synth import SynthSpec, make_dataset
from tests.conftest import free_port

from .conftest import one_line

pytestmark = pytest.mark.slow
KFP_CT = str(Path(sys.executable).parent / "kfp-ct")
SECRET = "s3cr3t-Sentinel-4f9a1c"  # planted as credentials; must never be written anywhere
FAST = ["--param", "n_bootstrap=200", "--param", "readiness_timeout_s=120"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("pipeline")
    data = write_table(make_dataset(SynthSpec(rows=1500, seed=11)), tmp / "data.csv")
    environ = {
        **os.environ,
        "KFP_CT_HOME": str(tmp / "home"),
        "KFP_CT_PORT": str(free_port()),
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "MLFLOW_TRACKING_PASSWORD": SECRET,
        "KFP_CT_TOKEN": SECRET,
    }
    environ.pop("MLFLOW_TRACKING_URI", None)
    yield {"tmp": tmp, "data": str(data), "env": environ, "logs": []}
    subprocess.run([KFP_CT, "stop"], env=environ, capture_output=True, timeout=60)


def kfp_ct(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [KFP_CT, "run", "--json", *args],
        env=env["env"], capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    env["logs"].append(proc.stdout + proc.stderr)
    return proc


def state(env: dict) -> dict:
    """Aliases, versions, the serving version and pids of servers of this home, read in a subprocess."""
    code = """
import json, os
from kfp_ct.tracking import registry
from kfp_ct.deploy.targets.local import read_state
from kfp_ct.serving.client import infer_v2
from kfp_ct.data.synth import SynthSpec, make_dataset
import mlflow
from kfp_ct.tracking import runs
runs.connect()  # this home's store: a bare MlflowClient() would read ./mlflow.db
name = "kfp-ct-model"
s = read_state()
rows = make_dataset(SynthSpec(rows=5, seed=1)).drop(columns=["label"])
from kfp_ct.errors import ServingError
try:  # a run killed mid-deploy leaves a server still starting, or up with no version routed
    served = infer_v2(s.endpoint, name, rows).model_version if s else None
except ServingError as exc:
    if "HTTP 404" not in str(exc) and "ConnectError" not in str(exc):
        raise
    served = None
client = mlflow.MlflowClient()
versions = client.search_model_versions(f"name = '{name}'")
locks = client.search_registered_models(f"name = '{name}.promotion-lock'")
home = os.environ["KFP_CT_HOME"]
pids = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode()
    except OSError:
        continue
    if "kfp_ct.serving" in cmd and home in cmd:
        pids.append(int(pid))
print(json.dumps({"aliases": registry.aliases(name), "served": served,
    "endpoint": s.endpoint if s else None, "pid": s.pid if s else None, "server_pids": sorted(pids),
    "versions": sorted(int(v.version) for v in versions),
    "model_uris": [v.tags.get("kfp_ct.model_uri") for v in versions], "locks": len(locks)}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env["env"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sigkill_mid_deploy_then_rerun(env, record):
    proc = subprocess.Popen(
        [KFP_CT, "run", "--json", "--data", env["data"], *FAST],
        env=env["env"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    seen, deadline = [], time.monotonic() + 240
    for line in proc.stdout:
        seen.append(line)
        if "started model server pid" in line or time.monotonic() > deadline:
            break
    os.killpg(proc.pid, signal.SIGKILL)  # the whole run dies, like a node going away
    proc.wait(30)
    assert any("started model server pid" in line for line in seen), "".join(seen[-20:])
    env["logs"].append("".join(seen))
    killed = state(env)
    assert "champion" not in killed["aliases"]  # nothing promoted by the killed run

    rerun = kfp_ct(env, "--data", env["data"], *FAST)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    after = state(env)
    champion = after["aliases"]["champion"]
    assert summary["decision"] == "first-model" and summary["champion_version"] == champion
    assert after["served"] == champion and after["server_pids"] == [after["pid"]]
    assert after["locks"] == 0
    uris = [u for u in after["model_uris"] if u]
    assert len(uris) == len(set(uris)) == len(after["versions"])  # no model registered twice
    record(
        "crash",
        "SIGKILL of the whole run while the new server starts, then re-run",
        f"killed run registered v{killed['versions']}; its half-started server pid {killed['server_pids']}",
        f"re-run exit 0, decision {summary['decision']}, champion v{champion}",
        f"one server ({after['server_pids']}) serving champion v{after['served']}; orphan reaped; "
        f"versions {after['versions']} each from a distinct model; lock released",
    )


BAD_RUNS = [
    ("binary garbage file", lambda env: ["--data", _garbage(env)], "validate", "binary content"),
    (
        "label column missing",
        lambda env: ["--data", env["data"], "--label", "churned"],
        "validate",
        "label_missing",
    ),
    (
        "unknown estimator",
        lambda env: ["--data", env["data"], "--param", "estimator=xgboostt"],
        "train",
        "xgboostt",
    ),
    ("--param wrong type", lambda env: ["--data", env["data"], "--param", "alpha=small"], None, "alpha"),
]


def _garbage(env: dict) -> str:
    path = env["tmp"] / "garbage.csv"
    path.write_bytes(os.urandom(2048) + b"\x00")
    return str(path)


@pytest.mark.parametrize(
    ("case", "args", "step", "fragment"), BAD_RUNS, ids=[getattr(b, "values", b)[0] for b in BAD_RUNS]
)
def test_bad_input_run_changes_nothing(env, record, case, args, step, fragment):
    before = state(env)
    assert before["served"] == before["aliases"].get("champion") is not None
    proc = kfp_ct(env, *args(env), *FAST)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert last.startswith("kfp-ct: error:") and fragment in last and one_line(last)
    if step:
        assert f"step '{step}' failed" in last
    after = state(env)
    assert after == before
    record(
        "bad input (CLI)",
        case,
        " ".join(args(env)).replace(str(env["tmp"]), "<tmp>"),
        f"exit {proc.returncode}: {last.replace(str(env['tmp']), '<tmp>')}",
        f"champion v{after['aliases']['champion']} still serving (pid {after['pid']}); "
        f"versions {after['versions']}",
    )


def test_no_secret_in_logs_tags_or_params(env, record):
    code = """
import json, mlflow
from kfp_ct.tracking import runs
runs.connect()
client = mlflow.MlflowClient()
out = []
for run in mlflow.search_runs(search_all_experiments=True, output_format="list"):
    out += [json.dumps(run.data.tags), json.dumps(run.data.params)]
for mv in client.search_model_versions("name = 'kfp-ct-model'"):
    out.append(json.dumps(mv.tags))
print(json.dumps(out))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env["env"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    mlflow_text = out.stdout
    home = Path(env["env"]["KFP_CT_HOME"])
    files = [p for p in home.rglob("*") if p.is_file() and p.suffix in {".log", ".json", ".txt", ".md", ""}]
    file_text = "".join(p.read_text(errors="replace") for p in files if p.stat().st_size < 5_000_000)
    assert len(env["logs"]) >= 3 and len(files) > 5
    places = {"CLI output": "".join(env["logs"]), "MLflow tags/params": mlflow_text, "home files": file_text}
    leaks = [where for where, text in places.items() if SECRET in text]
    record(
        "security",
        "secret planted in AWS_SECRET_ACCESS_KEY, MLFLOW_TRACKING_PASSWORD, KFP_CT_TOKEN",
        f"{len(env['logs'])} run logs, {len(files)} files, MLflow run/version tags and params",
        "found in: " + (", ".join(leaks) or "nowhere"),
        "no secret written",
    )
    assert not leaks
