"""Step `report`: one self-contained HTML page of a run, from the files the other steps wrote.

In the pipeline it runs after compare and writes the KFP `HTML` output; `kfp-ct run` builds the
same page again when the run ends, adding step timings, the registered version and per-feature
drift (`kfp_ct.localrun.write_report`). Reads files only: no MLflow, no model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp_ct.params import json_object
from kfp_ct.report import ReportData, drift_table, render

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ReportParams:
    """What the page says about the run besides the steps' files."""

    title: str = "kfp-ct run report"
    status: str = ""  # succeeded | failed; empty: the pipeline is still running
    error: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)  # name, status, seconds
    lineage: dict[str, str] = field(default_factory=dict)  # data hash, runs, version...
    drift_summary: dict[str, Any] = field(default_factory=dict)  # drift_check's `summary` output

    @classmethod
    def from_kfp(
        cls,
        *,
        model_name: str,
        pipeline_run_id: str,
        mlflow_run_id: str,
        data_uri: str,
        data_hash: str,
        drift_summary: str,
    ) -> ReportParams:
        """Build from the component's parameters (`drift_summary` as JSON text)."""
        return cls(
            title=f"{model_name}: run {pipeline_run_id}",
            lineage=lineage_rows(model_name, pipeline_run_id, mlflow_run_id, data_uri, data_hash),
            drift_summary=json_object(drift_summary, "drift_summary"),
        )


def lineage_rows(
    model_name: str,
    pipeline_run_id: str,
    mlflow_run_id: str,
    data_uri: str,
    data_hash: str,
    **more: str | None,
) -> dict[str, str]:
    """The report's lineage table: what produced the model and from which data."""
    rows = {
        "model": model_name,
        "pipeline run": pipeline_run_id,
        "MLflow run": mlflow_run_id,
        "data": data_uri,
        "data hash": data_hash,
    }
    rows.update({k.replace("_", " "): v for k, v in more.items() if v})
    return {k: str(v) for k, v in rows.items() if v}


@dataclass(frozen=True, kw_only=True)
class ReportPaths:
    """Files report reads (each optional: a step that did not run wrote none) and writes (report)."""

    report: Path
    validation: Path | None = None  # validate's `validation` JSON
    evaluation: Path | None = None  # evaluate's `evaluation` JSON
    decision_record: Path | None = None  # compare's decision record
    drift_report: Path | None = None  # drift_check's Markdown report (per-feature table)


@dataclass
class ReportOutput:
    """The page written."""

    path: Path
    size_bytes: int
    sections: list[str]


def _read_json(path: Path | None) -> dict[str, Any] | None:
    if path is None or not Path(path).is_file() or Path(path).stat().st_size == 0:
        return None
    try:
        return json.loads(Path(path).read_text())
    except ValueError:
        log.warning("%s is not JSON; left out of the report", path)
        return None


def collect(params: ReportParams, paths: ReportPaths) -> ReportData:
    """Gather the page's data from the steps' files."""
    from kfp_ct.report.plots import drift_png

    data = ReportData(
        title=params.title,
        status=params.status,
        error=params.error,
        steps=list(params.steps),
        lineage=dict(params.lineage),
    )
    data.validation = _read_json(paths.validation)
    evaluation = _read_json(paths.evaluation)
    if evaluation is not None:
        import base64

        data.images = {k: base64.b64decode(v) for k, v in evaluation.pop("images", {}).items()}
        data.evaluation = evaluation
    data.decision = _read_json(paths.decision_record)
    drift = dict(params.drift_summary)
    if paths.drift_report is not None and Path(paths.drift_report).is_file():
        text = Path(paths.drift_report).read_text()
        drift.setdefault("decision", "")
        drift["features"] = drift_table(text)
        drift["reasons"] = [line[2:] for line in text.splitlines() if line.startswith("- ")]
    if drift:
        data.drift = drift
        if drift.get("features"):
            data.images["drift"] = drift_png(drift["features"])
    return data


def run(params: ReportParams, paths: ReportPaths) -> ReportOutput:
    """Write the run report page to `paths.report`."""
    data = collect(params, paths)
    page = render(data)
    Path(paths.report).parent.mkdir(parents=True, exist_ok=True)
    Path(paths.report).write_text(page, encoding="utf-8")
    sections = [
        name
        for name, present in (
            ("steps", data.steps),
            ("validation", data.validation),
            ("metrics", data.evaluation),
            ("decision", data.decision),
            ("drift", data.drift),
            ("lineage", data.lineage),
        )
        if present
    ]
    return ReportOutput(Path(paths.report), len(page.encode("utf-8")), sections)
