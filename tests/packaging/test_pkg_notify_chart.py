"""charts/kfp-ct: the run-notification Secret the notify exit task reads (docs/notifications.md)."""

from __future__ import annotations

from kfp_ct.steps.notify import KFP_UI_ENV, SECRET, SECRET_KEY
from tests.packaging.pkg_support import CHART, NAMESPACE, RELEASE, find, load_docs, run

HOOK = "https://hooks.slack.com/services/T000/B000/XXXX"


def _render(helm, *sets: str, check: bool = True):
    args = [a for s in sets for a in ("--set", s)]
    return run([helm, "template", RELEASE, CHART, "--namespace", NAMESPACE, *args], check=check)


def test_no_webhook_no_secret(chart_renders):
    for docs in chart_renders.values():
        assert not [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == SECRET]


def test_a_webhook_becomes_the_secret_the_notify_task_reads(helm):
    docs = load_docs(
        _render(helm, f"notifications.webhookUrl={HOOK}", "notifications.kfpUiUrl=https://kfp.example").stdout
    )
    secret = find(docs, "Secret", SECRET)
    assert secret["metadata"]["namespace"] == "kubeflow" and secret["stringData"] == {SECRET_KEY: HOOK}
    assert find(docs, "ConfigMap", "kfp-ct-config")["data"][KFP_UI_ENV] == "https://kfp.example"


def test_a_webhook_that_is_no_url_is_refused(helm):
    proc = _render(helm, "notifications.webhookUrl=hooks.slack.com/x", check=False)
    assert proc.returncode != 0 and "webhookUrl" in proc.stderr
