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

`route` is the routing policy of `kfp_ct.serving.router`, one of

- `{"policy": "single", "version": "2"}`: all traffic to one version;
- `{"policy": "split", "weights": {"1": 80, "2": 20}}`: a canary, requests interleaved by weight;
- `{"policy": "shadow", "version": "1", "shadow": "2"}`: v1 answers, v2 gets a copy of each.
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
POLICIES = ("single", "split", "shadow")


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
            check_route(self.name, self.route, self.versions)

    @property
    def serving(self) -> str | None:
        """The version answering (most of) the traffic (None before the first route).

        The single version, the largest share of a split, or the answering version of a shadow.
        """
        if self.route is None:
            return None
        if self.route["policy"] == "split":
            weights = self.route["weights"]
            return str(max(weights, key=lambda v: weights[v]))
        return str(self.route["version"])

    @property
    def candidates(self) -> list[str]:
        """The versions beside `serving` that the route also sends requests (or copies) to."""
        if self.route is None:
            return []
        if self.route["policy"] == "shadow":
            return [str(self.route["shadow"])]
        if self.route["policy"] == "split":
            return sorted(v for v, w in self.route["weights"].items() if w > 0 and v != self.serving)
        return []

    def with_version(self, version: str, model_dir: str | Path) -> DeploymentSpec:
        """This spec plus `version` loaded from `model_dir`; the route is unchanged."""
        return replace(self, versions={**self.versions, str(version): str(model_dir)})

    def split(self, weights: dict[str, int]) -> DeploymentSpec:
        """Requests interleaved over the loaded versions by `weights` (a canary)."""
        route = {"policy": "split", "weights": {str(v): int(w) for v, w in weights.items()}}
        return replace(self, route=route)

    def shadowed(self, version: str, shadow: str) -> DeploymentSpec:
        """`version` answers every request; `shadow` gets a copy of each."""
        return replace(self, route={"policy": "shadow", "version": str(version), "shadow": str(shadow)})

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


def check_route(name: str, route: dict[str, Any], versions: dict[str, str]) -> None:
    """PayloadError naming what is wrong with a route over the loaded `versions`."""
    if not isinstance(route, dict):
        raise PayloadError(f"{name}: 'route' must be a JSON object, not {type(route).__name__}")
    policy = route.get("policy")
    if policy not in POLICIES:
        raise PayloadError(f"{name}: unknown routing policy {policy!r}; one of {', '.join(POLICIES)}")
    if policy == "split":
        weights = route.get("weights")
        if not isinstance(weights, dict) or not weights:
            raise PayloadError(f"{name}: a split route needs 'weights': {{version: integer weight}}")
        if not all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for w in weights.values()):
            raise PayloadError(f"{name}: split weights must be integers >= 0, got {weights}")
        if sum(weights.values()) == 0:
            raise PayloadError(f"{name}: split weights add up to 0; some version must take traffic")
        named = list(weights)
    elif policy == "shadow":
        named = [route.get("version"), route.get("shadow")]
        if named[0] == named[1]:
            raise PayloadError(f"{name}: a shadow route needs two different versions, got v{named[0]} twice")
    else:
        named = [route.get("version")]
    for version in named:
        if version not in versions:
            raise PayloadError(
                f"{name}: the route names v{version}, "
                f"which is not among the loaded versions {sorted(versions)}"
            )


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
