"""hack/: shell scripts are valid, shellcheck-clean, share common.sh; kind config matches gpu."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from tests.packaging.pkg_support import HACK, ROOT, run

SCRIPTS = sorted(p.name for p in HACK.glob("*.sh"))
ENTRY_SCRIPTS = [s for s in SCRIPTS if s != "common.sh"]


def test_expected_scripts():
    assert {
        "common.sh",
        "tools.sh",
        "kind-create.sh",
        "install-cert-manager.sh",
        "install-kserve.sh",
        "install-kfp.sh",
        "install-s3.sh",
        "install-kfp-ct.sh",
        "e2e.sh",
    } <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_bash_syntax(bash, script):
    run([bash, "-n", HACK / script])


def test_shellcheck(shellcheck):
    proc = run([shellcheck, "-x", "--severity=style", *SCRIPTS], check=False, cwd=HACK)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("script", ENTRY_SCRIPTS)
def test_script_shape(script):
    text = (HACK / script).read_text()
    assert text.startswith("#!/usr/bin/env bash\n# "), "shebang, then a header comment"
    assert "\nset -euo pipefail\n" in text
    assert 'source "$(dirname "${BASH_SOURCE[0]}")/common.sh"' in text
    assert "parse_common_args" in text


def _bash(bash: str, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [bash, "-c", f"set -euo pipefail; source {HACK / 'common.sh'}; {code}"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=30,
    )


def test_common_settings_are_env_overridable(bash):
    proc = _bash(bash, 'echo "$KIND_CLUSTER_NAME $KFP_CT_IMAGE"', KIND_CLUSTER_NAME="other")
    assert proc.stdout.split() == ["other", "ghcr.io/kfp-ct/kfp-ct:0.1.0"]


def test_check_cli_exist(bash):
    assert _bash(bash, "check_cli_exist bash").returncode == 0
    proc = _bash(bash, "check_cli_exist bash no-such-cli-kfp-ct")
    assert proc.returncode == 1
    assert "'no-such-cli-kfp-ct' is not installed" in proc.stderr


@pytest.mark.parametrize("script", ENTRY_SCRIPTS)
def test_flags(bash, script):
    """--help documents the script and exits 0; unknown flags fail before touching anything."""
    helped = run([bash, HACK / script, "--help"])
    assert "--reinstall" in helped.stdout
    assert len(helped.stdout.splitlines()) >= 3
    bad = run([bash, HACK / script, "--bogus"], check=False)
    assert bad.returncode == 1 and "unknown argument: --bogus" in bad.stderr


def test_tools_script_is_idempotent_and_quick(bash, helm, kubectl):
    proc = run([bash, HACK / "tools.sh"])
    assert "already installed" in proc.stderr
    assert "v4." in run([helm, "version", "--short"]).stdout
    assert (ROOT / ".gitignore").read_text().count(".tools/") == 1


def test_kind_config_has_a_simulated_gpu_pool():
    config = yaml.safe_load((HACK / "kind-config.yaml").read_text())
    roles = [n["role"] for n in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]
    gpu = config["nodes"][2]
    assert gpu["labels"]["pool"] == "gpu"
    (patch,) = gpu["kubeadmConfigPatches"]
    join = yaml.safe_load(patch)
    assert join["kind"] == "JoinConfiguration"
    assert join["nodeRegistration"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    ]
    assert config["nodes"][1]["labels"]["pool"] == "cpu"
