"""What a model server serves under one model name: the loaded versions and where traffic goes.

One JSON file per name, `<repository>/<name>/deployment.json`, written atomically (write, then
rename) by deploy target `local` and read by the server when told to reload the name
(`POST /v2/repository/models/<name>/load`) or when its watcher sees the file change. Light: no
kserve import, so the deploy side writes it cheaply.

```json
{"name": "kfp-ct-model", "generation": 7,
 "versions": {"1": "/home/.../models/kfp-ct-model/1", "2": "/home/.../models/kfp-ct-model/2"},
 "route": {"policy": "single", "version": "2"}}
```

`route` is the routing policy of `kfp_ct.serving.router`: today `single` (all traffic to one
version); weighted splits and shadow copies add policies here, not new files.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kfp_ct.errors import PayloadError

SPEC_FILE = "deployment.json"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
POLICIES = ("single",)


@dataclass(frozen=True)
class DeploymentSpec:
    """The versions loaded under one model name and the policy that routes its requests."""

    name: str
    versions: dict[str, str] = field(default_factory=dict)  # version -> model directory
    route: dict[str, Any] | None = None  # {"policy": "single", "version": "2"}; None: no traffic yet
    generation: int = 0

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise PayloadError(f"model name {self.name!r} must match {NAME_PATTERN.pattern}")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.versions.items()):
            raise PayloadError(f"{self.name}: 'versions' must map version strings to model directories")
        if self.route is not None:
            if self.route.get("policy") not in POLICIES:
                raise PayloadError(f"{self.name}: unknown routing policy {self.route.get('policy')!r}")
            if self.route.get("version") not in self.versions:
                raise PayloadError(
                    f"{self.name}: the route names v{self.route.get('version')}, "
                    f"which is not among the loaded versions {sorted(self.versions)}"
                )

    @property
    def serving(self) -> str | None:
        """The version that takes all traffic (None before the first route)."""
        return None if self.route is None else str(self.route["version"])

    def with_version(self, version: str, model_dir: str | Path) -> DeploymentSpec:
        """This spec plus `version` loaded from `model_dir`; the route is unchanged."""
        return replace(self, versions={**self.versions, str(version): str(model_dir)})

    def routed_to(self, version: str, keep: set[str] | frozenset[str] = frozenset()) -> DeploymentSpec:
        """All traffic to `version`; only it and the versions in `keep` stay loaded."""
        kept = {v: d for v, d in self.versions.items() if v == version or v in keep}
        return replace(self, versions=kept, route={"policy": "single", "version": str(version)})

    def to_json(self) -> str:
        """The file's text."""
        body = {"name": self.name, "generation": self.generation, "versions": self.versions}
        return json.dumps({**body, "route": self.route}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DeploymentSpec:
        """Parse a spec file's text; PayloadError when it is not one."""
        try:
            raw = json.loads(text)
            return cls(
                name=raw["name"],
                versions=dict(raw.get("versions") or {}),
                route=raw.get("route"),
                generation=int(raw.get("generation", 0)),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PayloadError(f"not a deployment spec: {type(exc).__name__}: {exc}") from None


def spec_path(repository: Path, name: str) -> Path:
    """Where the spec of `name` lives."""
    return Path(repository) / name / SPEC_FILE


def read_spec(repository: Path, name: str) -> DeploymentSpec | None:
    """The spec of `name`, or None when there is none."""
    path = spec_path(repository, name)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return DeploymentSpec.from_json(text)


def write_spec(repository: Path, spec: DeploymentSpec) -> DeploymentSpec:
    """Write `spec` atomically with the next generation number; return what was written."""
    before = read_spec(repository, spec.name)
    written = replace(spec, generation=max(spec.generation, before.generation if before else 0) + 1)
    path = spec_path(repository, spec.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SPEC_FILE}.{os.getpid()}.tmp")
    tmp.write_text(written.to_json())
    tmp.replace(path)
    return written


def remove_spec(repository: Path, name: str) -> None:
    """Forget `name` (nothing to serve under it)."""
    spec_path(repository, name).unlink(missing_ok=True)


def spec_names(repository: Path) -> list[str]:
    """Every model name with a spec in the repository."""
    root = Path(repository)
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob(f"*/{SPEC_FILE}"))
