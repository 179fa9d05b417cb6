"""Run the real `kfp-ct` CLI in a subprocess and read its `--json` summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd

from kfp_ct.serving.client import infer_v2

FAST = ["--param", "n_bootstrap=300"]


@dataclass
class CliResult:
    code: int
    summary: dict | None
    stderr: str


def kfp_ct(*args: str, env: dict | None = None, timeout: float = 600) -> CliResult:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "kfp-ct"), *args],  # the installed console script
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    wants_json = "--json" in args and proc.returncode == 0 and lines
    summary = json.loads(lines[-1]) if wants_json else None
    return CliResult(proc.returncode, summary, proc.stderr)


def registry_state(model_name: str) -> tuple[dict[str, str], list[str]]:
    """Aliases and versions, read with MLflow's own client."""
    from kfp_ct import settings

    client = mlflow.MlflowClient(tracking_uri=settings.tracking_uri())
    try:
        aliases = dict(client.get_registered_model(model_name).aliases)
    except mlflow.exceptions.MlflowException:
        return {}, []
    versions = sorted(v.version for v in client.search_model_versions(f"name='{model_name}'"))
    return {k: str(v) for k, v in aliases.items()}, [str(v) for v in versions]


def served_version(endpoint: str, model_name: str, rows: pd.DataFrame) -> str | None:
    """Ask the live endpoint with a real V2 request which version answers."""
    return infer_v2(endpoint, model_name, rows).model_version


def features(path: Path, n: int = 5) -> pd.DataFrame:
    return pd.read_csv(path).drop(columns=["label"]).head(n)
