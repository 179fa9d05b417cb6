"""Several versions under one model name, and the policy that picks the one answering a request.

A `Deployment` is what KServe's model registry holds under a model name. Its `RouteTable` (the
loaded versions plus a routing policy) is immutable and replaced in one assignment, so a swap
is atomic: a request reads the table once and is answered by a version of that table, and the
previous version keeps answering until the new table is in place.

The seam for progressive delivery is `Policy.pick`: `AllTo` sends every request to one version,
`Split` interleaves versions by weight (a canary), `Shadow` answers with the champion and names
the version that gets a copy. Shadow copies (`kfp_ct.serving.shadow`) and request capture are
collaborators that observe `Deployment.select`'s result, not branches inside a model.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kserve import Model
from kserve.errors import ModelNotReady
from kserve.protocol.infer_type import InferRequest

from kfp_ct.serving.model import SklearnMlflowModel
from kfp_ct.serving.protocol import VERSION_HEADER


def _json_body(raw: bytes | str) -> Any:
    import orjson
    from kserve.errors import InvalidInput

    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None


class VersionNotLoaded(LookupError):
    """A request pinned a version that this server has not loaded (HTTP 404)."""


class Policy(Protocol):
    """Chooses the version that answers one request."""

    def pick(self, headers: Mapping[str, str] | None) -> str:
        """The version for a request with these headers."""
        ...

    def targets(self) -> set[str]:
        """Every version this policy can pick."""
        ...


@dataclass(frozen=True)
class AllTo:
    """Every request to one version (today's only policy)."""

    version: str

    def pick(self, headers: Mapping[str, str] | None) -> str:
        """Always the one version."""
        return self.version

    def targets(self) -> set[str]:
        """The one version."""
        return {self.version}


def interleave(weights: Mapping[str, int]) -> tuple[str, ...]:
    """One cycle of versions in which each appears `weight` times, spread evenly.

    Smooth weighted round robin: at every slot each version gains its weight and the one with
    the most credit is picked and pays the total, so 80/20 gives `1 1 1 1 2` repeated, and any
    window of N requests is within one request per version of its share.
    """
    total = sum(weights.values())
    credit = dict.fromkeys(weights, 0)
    cycle = []
    for _ in range(total):
        for version, weight in weights.items():
            credit[version] += weight
        best = max(credit, key=lambda v: credit[v])
        credit[best] -= total
        cycle.append(best)
    return tuple(cycle)


@dataclass(frozen=True)
class Split:
    """Requests spread over versions by integer weight (a canary), deterministically interleaved."""

    weights: Mapping[str, int]
    _cycle: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _counter: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cycle", interleave(self.weights))
        object.__setattr__(self, "_counter", itertools.count())  # next() is atomic under the GIL

    def pick(self, headers: Mapping[str, str] | None) -> str:
        """The next version of the cycle."""
        return self._cycle[next(self._counter) % len(self._cycle)]

    def targets(self) -> set[str]:
        """Every version with a positive weight."""
        return {v for v, w in self.weights.items() if w > 0}

    @property
    def version(self) -> str:
        """The version with the largest share (the champion of a canary)."""
        return max(self.weights, key=lambda v: self.weights[v])


@dataclass(frozen=True)
class Shadow:
    """Every request answered by `version`; `shadow` gets a copy (sent by the server, not here)."""

    version: str
    shadow: str

    def pick(self, headers: Mapping[str, str] | None) -> str:
        """Always the answering version."""
        return self.version

    def targets(self) -> set[str]:
        """Both versions must be loaded."""
        return {self.version, self.shadow}


def policy_from_route(route: Mapping[str, Any] | None) -> Policy | None:
    """The policy a spec's `route` describes (None: the name takes no traffic yet)."""
    if route is None:
        return None
    policy = route.get("policy")
    if policy == "single":
        return AllTo(str(route["version"]))
    if policy == "split":
        return Split({str(v): int(w) for v, w in route["weights"].items()})
    if policy == "shadow":
        return Shadow(str(route["version"]), str(route["shadow"]))
    raise ValueError(f"unknown routing policy {policy!r}")


@dataclass(frozen=True)
class RouteTable:
    """Loaded versions and the policy over them; replaced whole, never changed in place."""

    versions: Mapping[str, SklearnMlflowModel] = field(default_factory=dict)
    policy: Policy | None = None

    def __post_init__(self) -> None:
        if self.policy is not None and not self.policy.targets() <= set(self.versions):
            raise ValueError(f"the policy routes to {self.policy.targets()}, loaded: {sorted(self.versions)}")


class Deployment(Model):
    """All loaded versions of one model name; routes each request by the table's policy."""

    def __init__(self, name: str) -> None:
        super().__init__(name, return_response_headers=True)
        self.table = RouteTable()

    def load(self) -> bool:
        """Nothing to load here: versions are loaded by the repository, then swapped in."""
        return self.ready

    def start(self) -> None:
        """Readiness follows the table (KServe's default `start` would mark it ready)."""

    def swap(self, table: RouteTable) -> RouteTable:
        """Put `table` in place in one step; return the one it replaced."""
        before, self.table = self.table, table
        self.ready = table.policy is not None
        return before

    @property
    def serving(self) -> str | None:
        """The version answering (most of) the traffic (a split's largest share, a shadow's champion)."""
        policy = self.table.policy
        return policy.version if isinstance(policy, AllTo | Split | Shadow) else None

    @property
    def shadow(self) -> SklearnMlflowModel | None:
        """The version that gets a copy of each request, when the policy is a shadow."""
        table = self.table
        return table.versions[table.policy.shadow] if isinstance(table.policy, Shadow) else None

    def select(
        self, version: str | None = None, headers: Mapping[str, str] | None = None
    ) -> SklearnMlflowModel:
        """The version answering a request: the pinned `version`, else the policy's pick."""
        table = self.table
        if version:
            model = table.versions.get(version)
            if model is None:
                raise VersionNotLoaded(
                    f"model '{self.name}' has no loaded version '{version}'; loaded: {sorted(table.versions)}"
                )
            return model
        if table.policy is None:
            raise ModelNotReady(self.name, "no version takes traffic yet")
        return table.versions[table.policy.pick(headers)]

    def _any(self) -> SklearnMlflowModel | None:
        table = self.table
        if table.policy is not None:
            return table.versions[next(iter(table.policy.targets()))]
        return next(iter(table.versions.values()), None)

    def get_input_types(self) -> list[dict]:
        """Inputs of the version taking traffic."""
        model = self._any()
        return [] if model is None else model.get_input_types()

    def get_output_types(self) -> list[dict]:
        """Outputs of the version taking traffic."""
        model = self._any()
        return [] if model is None else model.get_output_types()

    async def predict(
        self,
        payload: dict | InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> Any:
        """KServe's V1 and gRPC paths: route, then let the chosen version answer."""
        pinned = payload.model_version if isinstance(payload, InferRequest) else None
        if isinstance(payload, bytes | str):  # V1 JSON sent without a JSON content type
            payload = _json_body(payload)
        try:
            model = self.select(pinned or None, headers)
        except VersionNotLoaded as exc:
            from kserve.errors import InvalidInput

            raise InvalidInput(str(exc)) from None
        if response_headers is not None:
            response_headers[VERSION_HEADER] = str(model.version)
        if isinstance(payload, InferRequest):
            return model.infer(payload)
        return await model.predict(payload, headers)
