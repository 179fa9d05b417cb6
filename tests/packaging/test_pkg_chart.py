"""charts/kfp-ct: lint, values documentation and schema, guard rails, NOTES."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from tests.packaging.pkg_support import CHART, NAMESPACE, PROJECT_VERSION, RELEASE, ROOT, SCENARIOS, run

VALUES = CHART / "values.yaml"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def test_scenarios_present():
    assert {"default", "gpu", "external-mlflow", "external-s3"} <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint(helm, scenario):
    values = CHART / "ci" / f"{scenario}-values.yaml"
    proc = run([helm, "lint", "--strict", CHART, "--namespace", NAMESPACE, "--values", values])
    assert "0 chart(s) failed" in proc.stdout


def test_versions_follow_the_package():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"] == chart["appVersion"] == PROJECT_VERSION
    image_py = (ROOT / "src" / "kfp_ct" / "image.py").read_text()
    repository = re.search(r'IMAGE_REPOSITORY = "([^"]+)"', image_py)[1]
    assert yaml.safe_load(VALUES.read_text())["image"]["repository"] == repository


def _undocumented(node, lines, path=()):
    """Keys with no comment above them; a commented key documents its whole value (helm-docs)."""
    for key, value in node.value:
        here = (*path, key.value)
        if lines[key.start_mark.line - 1].strip().startswith("#"):
            continue
        if isinstance(value, yaml.MappingNode) and value.value:
            yield from _undocumented(value, lines, here)
        else:
            yield ".".join(here)


def test_values_are_commented_key_by_key():
    text = VALUES.read_text()
    missing = list(_undocumented(yaml.compose(text), text.splitlines()))
    assert not missing, f"values without a comment above them: {missing}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_schema_accepts_values_and_scenarios(scenario):
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    values = yaml.safe_load(VALUES.read_text())
    override = yaml.safe_load((CHART / "ci" / f"{scenario}-values.yaml").read_text()) or {}
    jsonschema.validate(_merge(values, override), SCHEMA)


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _merge(base[key], value)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["image.tag=latest"], "/image/tag"),
        (["mlflow.replicsCount=2"], "replicsCount"),
        (["mlflow.replicaCount=2"], "needs mlflow.backendStore.type=postgresql"),
        (["mlflow.enabled=false"], "mlflow.external.trackingUri is required"),
        (["mlflow.backendStore.type=postgresql"], "postgresql.uri or .existingSecret"),
        (["setup.schedule.cron=0 2 * * *"], "/setup/schedule/cron"),
        (["securityContext.runAsNonRoot=false"], "runAsNonRoot"),
        (["mlflow.resources.limits=null"], "limits"),
    ],
)
def test_bad_values_are_rejected(helm, sets, message):
    args = [a for s in sets for a in ("--set", s)]
    proc = run([helm, "template", RELEASE, CHART, "--namespace", NAMESPACE, *args], check=False)
    assert proc.returncode != 0, f"{sets} was accepted"
    assert message in proc.stderr


def test_notes_say_how_to_reach_mlflow_and_submit(helm):
    proc = run([helm, "install", RELEASE, CHART, "--namespace", NAMESPACE, "--dry-run=client"])
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "port-forward svc/mlflow 5000:5000" in notes
    assert "kfp-ct submit --host http://localhost:8888 --pipeline continuous-training" in notes
    assert "REPLACE_ME" in notes  # warns about placeholder credentials
    proc = run(
        [
            *[helm, "install", RELEASE, CHART, "--namespace", NAMESPACE, "--dry-run=client"],
            *["--set", "s3.accessKeyId=a", "--set", "s3.secretAccessKey=b"],
        ]
    )
    assert "REPLACE_ME" not in proc.stdout.split("NOTES:", 1)[1]


def test_one_kind_per_template():
    for template in (CHART / "templates").rglob("*.yaml"):
        kinds = set(re.findall(r"^kind: (\w+)", template.read_text(), flags=re.MULTILINE))
        assert len(kinds) == 1, f"{template.name}: {kinds}"


def test_external_mlflow_and_s3(chart_renders):
    external = chart_renders["external-mlflow"]
    assert not [d for d in external if d["kind"] in {"Deployment", "Service"}]
    s3 = chart_renders["external-s3"]
    (secret,) = [d for d in s3 if d["metadata"]["name"] == "kfp-ct-s3-storage"]
    assert secret["metadata"]["annotations"]["serving.kserve.io/s3-usehttps"] == "1"
