"""Compile the project's pipelines and upload them (or a new version) idempotently."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kfp_ct import __version__
from kfp_ct.errors import ParameterError
from kfp_ct.remote.connection import calling


@dataclass(frozen=True)
class UploadResult:
    """The pipeline and version a package landed in."""

    pipeline_name: str
    pipeline_id: str
    version_name: str
    version_id: str
    created_pipeline: bool
    created_version: bool
    url: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return asdict(self)


def compile_named(name: str, out_dir: Path, profile: str | None = None) -> Path:
    """Compile one of the project's pipelines by name into ``out_dir``.

    Raises:
        ParameterError: the name is unknown (the message lists the known ones).
    """
    from kfp_ct.pipelines import compile_pipeline

    out_dir.mkdir(parents=True, exist_ok=True)
    return Path(compile_pipeline(name, out_dir / f"{name}.yaml", profile=profile))


def content_hash(package: Path) -> str:
    """Return the SHA-256 of a compiled pipeline package."""
    return hashlib.sha256(package.read_bytes()).hexdigest()


def version_name(package: Path) -> str:
    """Return ``<package version>-<content hash[:8]>``, the name of a pipeline version."""
    return f"{__version__}-{content_hash(package)[:8]}"


# KFP IR parameter types -> the Python types `kfp_ct.params.parse_params` converts to.
_IR_TYPES = {
    "STRING": str,
    "NUMBER_INTEGER": int,
    "NUMBER_DOUBLE": float,
    "BOOLEAN": bool,
    "LIST": list,
    "STRUCT": dict,
}


def _pipeline_spec(package: Path) -> dict[str, Any]:
    import yaml

    try:
        docs = list(yaml.safe_load_all(package.read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(f"--package {package}: not a readable pipeline YAML ({exc})") from exc
    for doc in docs:
        if isinstance(doc, dict) and "pipelineInfo" in doc:
            return doc
    raise ParameterError(f"--package {package}: no pipelineInfo.name in the file")


def package_pipeline_name(package: Path) -> str:
    """Return the ``pipelineInfo.name`` recorded in a compiled package."""
    return str(_pipeline_spec(package)["pipelineInfo"]["name"])


def package_parameter_types(package: Path) -> dict[str, type]:
    """Return parameter name -> Python type of a compiled package's ``root.inputDefinitions``."""
    root = _pipeline_spec(package).get("root") or {}
    parameters = (root.get("inputDefinitions") or {}).get("parameters") or {}
    return {name: _IR_TYPES.get(spec.get("parameterType"), str) for name, spec in parameters.items()}


def _equals(key: str, value: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "stringValue": value}]})


def find_version(client: Any, pipeline_id: str, name: str) -> Any | None:
    """Return the version of a pipeline with this display name, or None."""
    with calling(f"listing versions of pipeline {pipeline_id}"):
        response = client.list_pipeline_versions(
            pipeline_id, page_size=100, filter=_equals("display_name", name)
        )
    for version in response.pipeline_versions or []:
        if version.display_name == name:
            return version
    return None


def upload(
    client: Any,
    package: Path,
    pipeline_name: str,
    ui_url: str,
    namespace: str | None = None,
    description: str | None = None,
) -> UploadResult:
    """Upload a package as pipeline ``pipeline_name``, version ``<version>-<hash8>``.

    Creates the pipeline when missing, then the named version when missing; the same content
    uploaded again reuses the existing version.

    Args:
        client: a connected ``kfp.Client``.
        package: compiled pipeline YAML.
        pipeline_name: display name of the pipeline in KFP.
        ui_url: base URL for the printed link.
        namespace: namespace for a namespaced pipeline (multi-user), or None for shared.
        description: pipeline description.
    """
    vname = version_name(package)
    with calling(f"looking up pipeline {pipeline_name!r}"):
        pipeline_id = client.get_pipeline_id(pipeline_name)
    created_pipeline = pipeline_id is None
    if pipeline_id is None:
        with calling(f"uploading pipeline {pipeline_name!r}"):
            pipeline = client.upload_pipeline(
                str(package),
                pipeline_name=pipeline_name,
                description=description,
                namespace=namespace,
            )
        pipeline_id = pipeline.pipeline_id
    version = find_version(client, pipeline_id, vname)
    created_version = version is None
    if version is None:
        with calling(f"uploading version {vname!r} of pipeline {pipeline_name!r}"):
            version = client.upload_pipeline_version(
                str(package),
                pipeline_version_name=vname,
                pipeline_id=pipeline_id,
                description=f"kfp-ct {__version__}, sha256 {content_hash(package)}",
            )
    return UploadResult(
        pipeline_name=pipeline_name,
        pipeline_id=pipeline_id,
        version_name=vname,
        version_id=version.pipeline_version_id,
        created_pipeline=created_pipeline,
        created_version=created_version,
        url=f"{ui_url}/#/pipelines/details/{pipeline_id}/version/{version.pipeline_version_id}",
    )
