"""Roll a new model version out to an InferenceService: create, or canary steps then promote.

First deploy: create, wait, smoke test; on failure delete what was created. Later deploys: for
each canary step (e.g. 10, 50) write the canary, wait for readiness, smoke test the canary's own
Service; then promote, wait, smoke test the serving Service. Without steps: update in place.
Any failure puts the previous spec back (Knative first pins traffic to the last rolled-out
revision with `canaryTrafficPercent: 0`), waits for it, and raises `DeployError` with the cause.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kfp_ct.cluster import inferenceservice as isvc
from kfp_ct.cluster.kube import InferenceServices
from kfp_ct.cluster.readiness import wait_ready
from kfp_ct.errors import ClusterError, DeployError, ModelLoadFailed, ReadinessError

log = logging.getLogger(__name__)

SERVICE_URL_TEMPLATE = "http://{service}.{namespace}.svc.cluster.local"
SmokeFn = Callable[[str], None]


@dataclass(frozen=True)
class RolloutSettings:
    """How to wait and where services answer."""

    readiness_timeout_s: float = 600.0
    poll_interval_s: float = 5.0
    # The URL of a Service from where the deploy step runs (in-cluster DNS by default).
    service_url_template: str = SERVICE_URL_TEMPLATE


@dataclass
class RolloutResult:
    """Where the new version serves and what happened on the way."""

    endpoint: str
    generation: int
    created: bool
    steps: list[str] = field(default_factory=list)


def service_url(service: str, namespace: str, settings: RolloutSettings) -> str:
    """The base URL of `service` per `settings.service_url_template`."""
    return settings.service_url_template.format(service=service, namespace=namespace)


def _parse_steps(steps: list[int] | tuple[int, ...]) -> list[int]:
    out = [int(p) for p in steps if int(p) < 100]
    if any(p <= 0 for p in out) or out != sorted(set(out)):
        raise ClusterError(f"canary steps must rise strictly within 1..100, got {list(steps)}")
    return out


def _cause(exc: Exception, predictor: dict[str, Any]) -> str:
    if isinstance(exc, ModelLoadFailed):
        model = predictor.get("model", {})
        return (
            f"{exc}. If the files cannot be pulled, check that storage URI "
            f"{model.get('storageUri')} exists and that ServiceAccount "
            f"'{predictor.get('serviceAccountName')}' "
            "(spec.predictor.serviceAccountName) carries the S3 secret annotated with "
            "serving.kserve.io/s3-endpoint; if they load but fail, check the runtime "
            f"'{model.get('runtime')}' logs"
        )
    if isinstance(exc, ReadinessError | DeployError | ClusterError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class Rollout:
    """One rollout of `predictor` to InferenceService `name` (see module docstring)."""

    def __init__(
        self,
        isvcs: InferenceServices,
        desired: dict[str, Any],
        smoke: SmokeFn,
        canary_steps: list[int] | tuple[int, ...] = (),
        settings: RolloutSettings | None = None,
        model_version: str = "",
    ) -> None:
        self.isvcs = isvcs
        self.desired = desired
        self.name = desired["metadata"]["name"]
        self.namespace = isvcs.namespace
        self.smoke = smoke
        self.steps = _parse_steps(canary_steps)
        self.settings = settings or RolloutSettings()
        self.model_version = model_version
        self.log: list[str] = []

    # -- helpers -----------------------------------------------------------------------------
    def _note(self, message: str) -> None:
        log.info("%s/%s: %s", self.namespace, self.name, message)
        self.log.append(message)

    def _wait(self, written: dict[str, Any], canary: str | None = None) -> dict[str, Any]:
        generation = int(written["metadata"].get("generation", 1))
        return wait_ready(
            lambda: self.isvcs.get(self.name) or {},
            generation,
            self.settings.readiness_timeout_s,
            self.settings.poll_interval_s,
            canary=canary,
            what=f"InferenceService {self.namespace}/{self.name} (generation {generation})",
        )

    def _url(self, service: str) -> str:
        return service_url(service, self.namespace, self.settings)

    def _lineage(self) -> dict[str, str]:
        meta = self.desired["metadata"]
        keys = [k for k in (meta.get("annotations") or {}) if k.startswith("kfp-ct.io/")]
        return {k: meta["annotations"][k] for k in keys}

    # -- flows -------------------------------------------------------------------------------
    def run(self) -> RolloutResult:
        """Create or update; raise DeployError (after rolling back) on any failure."""
        current = self.isvcs.get(self.name)
        if current is None:
            return self._first_deploy()
        self._check_mode(current)
        return self._update(current)

    def start_canary(self, percent: int) -> RolloutResult:
        """Write one canary at `percent` beside the serving version and leave it there (a bake follows).

        The spec to go back to is kept on the InferenceService (annotation `ROLLBACK_TO`), so that
        `conclude_canary` may run in another process; any failure here rolls back at once.
        """
        current = self.isvcs.get(self.name)
        if current is None:
            raise ClusterError(
                f"InferenceService {self.namespace}/{self.name} does not exist: a canary needs a "
                "serving version beside it (deploy one first)"
            )
        self._check_mode(current)
        previous = _snapshot(current)
        canary = isvc.canary_name(self.model_version or "new", current["spec"]["predictor"].get("name"))
        try:
            service = self._canary_step(percent, canary, isvc.mode_of(current), remember=previous)
        except Exception as exc:
            cause = _cause(exc, self.desired["spec"]["predictor"])
            raise DeployError(f"{cause}; {self._rollback(previous)}") from exc
        generation = int((self.isvcs.get(self.name) or {}).get("metadata", {}).get("generation", 0))
        return RolloutResult(self._url(service), generation, False, self.log)

    def conclude_canary(self, promote: bool) -> RolloutResult:
        """Promote the canary (it becomes the predictor) or roll back to the spec kept at its start."""
        current = self.isvcs.get(self.name)
        if current is None or isvc.canary_service(current) is None:
            raise ClusterError(f"InferenceService {self.namespace}/{self.name} has no canary to conclude")
        if promote:
            written = self.isvcs.update(self.name, lambda cur: _forget(isvc.promoted(cur)))
            self._note(f"canary promoted (generation {written['metadata']['generation']})")
            ready = self._wait(written)
        else:
            kept = (current["metadata"].get("annotations") or {}).get(isvc.ROLLBACK_TO)
            if not kept:
                raise ClusterError(
                    f"InferenceService {self.namespace}/{self.name}: its canary carries no "
                    f"{isvc.ROLLBACK_TO} annotation, so the spec to go back to is unknown"
                )
            outcome = self._rollback(json.loads(kept))
            if outcome.startswith("ROLLBACK FAILED"):
                raise DeployError(outcome)
            ready = self.isvcs.get(self.name) or current
        url = self._url(isvc.predictor_service(ready))
        return RolloutResult(url, int(ready["metadata"].get("generation", 1)), False, self.log)

    def _check_mode(self, current: dict[str, Any]) -> None:
        if isvc.mode_of(current) != isvc.mode_of(self.desired):
            raise ClusterError(
                f"InferenceService {self.namespace}/{self.name} runs in mode "
                f"{isvc.mode_of(current)}, this deploy asks for {isvc.mode_of(self.desired)}; "
                "KServe cannot switch modes in place: deploy with the same mode, or delete it "
                f"first (kubectl delete inferenceservice -n {self.namespace} {self.name})"
            )

    def _first_deploy(self) -> RolloutResult:
        written = self.isvcs.create(self.desired)
        self._note("created")
        try:
            ready = self._wait(written)
            url = self._url(isvc.predictor_service(ready))
            self.smoke(url)
            self._note(f"smoke test passed at {url}")
        except Exception as exc:
            self.isvcs.delete(self.name)
            cause = _cause(exc, self.desired["spec"]["predictor"])
            raise DeployError(
                f"{cause}; deleted the new InferenceService {self.namespace}/{self.name} "
                "(there was no previous model to roll back to)"
            ) from exc
        return RolloutResult(url, int(ready["metadata"].get("generation", 1)), True, self.log)

    def _update(self, current: dict[str, Any]) -> RolloutResult:
        previous = {
            "metadata": copy.deepcopy(current["metadata"]),
            "spec": copy.deepcopy(current["spec"]),
        }
        predictor = self.desired["spec"]["predictor"]
        lineage_values = self._lineage()
        mode = isvc.mode_of(current)
        canary = isvc.canary_name(self.model_version or "new", current["spec"]["predictor"].get("name"))
        try:
            for percent in self.steps:
                self._canary_step(percent, canary, mode)
            if self.steps:
                written = self.isvcs.update(self.name, isvc.promoted)
                self._note("promoted")
            else:
                written = self.isvcs.update(
                    self.name, lambda cur: isvc.replaced(cur, predictor, lineage_values)
                )
                self._note("updated in place")
            ready = self._wait(written)
            url = self._url(isvc.predictor_service(ready))
            self.smoke(url)
            self._note(f"serving; smoke test passed at {url}")
        except Exception as exc:  # any failure (readiness, smoke, API) rolls back
            cause = _cause(exc, predictor)
            raise DeployError(f"{cause}; {self._rollback(previous)}") from exc
        return RolloutResult(url, int(ready["metadata"]["generation"]), False, self.log)

    def _canary_step(self, percent: int, canary: str, mode: str, remember: dict | None = None) -> str:
        """Write the desired predictor as a canary at `percent`, wait, smoke test its own Service."""
        predictor, lineage_values = self.desired["spec"]["predictor"], self._lineage()

        def write(cur: dict[str, Any]) -> dict[str, Any]:
            out = isvc.with_canary(cur, predictor, percent, canary, lineage_values)
            if remember is not None:
                out["metadata"].setdefault("annotations", {})[isvc.ROLLBACK_TO] = json.dumps(remember)
            return out

        written = self.isvcs.update(self.name, write)
        self._note(f"canary {percent}% written (generation {written['metadata']['generation']})")
        ready = self._wait(written, canary if mode == "Standard" else None)
        service = isvc.canary_service(ready)
        assert service is not None
        self.smoke(self._url(service))
        self._note(f"canary {percent}%: ready, smoke test passed at {service}")
        return service

    def _rollback(self, previous: dict[str, Any]) -> str:
        """Put the previous spec back and wait for it; return what happened, for the message."""
        try:
            current = self.isvcs.get(self.name) or {}
            if isvc.mode_of(previous) == "Knative" and (
                current.get("spec", {}).get("predictor", {}).get("canaryTrafficPercent") is not None
            ):
                # Pin all traffic to the last rolled-out revision at once.
                self.isvcs.patch(self.name, {"spec": {"predictor": {"canaryTrafficPercent": 0}}})

            def restore(cur: dict[str, Any]) -> dict[str, Any]:
                meta = copy.deepcopy(previous["metadata"])
                for key in ("resourceVersion", "generation", "uid", "creationTimestamp"):
                    if key in cur["metadata"]:
                        meta[key] = cur["metadata"][key]
                return {**cur, "metadata": meta, "spec": copy.deepcopy(previous["spec"])}

            written = self.isvcs.update(self.name, restore)
            self._wait(written)
        except (ReadinessError, ClusterError, DeployError, OSError) as exc:
            self._note(f"rollback failed: {exc}")
            return f"ROLLBACK FAILED ({exc}); inspect InferenceService {self.namespace}/{self.name}"
        except Exception as exc:  # the API server may fail in any way; report, do not mask
            self._note(f"rollback failed: {exc!r}")
            return f"ROLLBACK FAILED ({exc!r}); inspect InferenceService {self.namespace}/{self.name}"
        self._note("rolled back to the previous spec")
        return f"rolled back InferenceService {self.namespace}/{self.name} to the previous spec"


def _snapshot(current: dict[str, Any]) -> dict[str, Any]:
    """What `_rollback` needs to put `current` back: name, lineage metadata and spec."""
    meta = current["metadata"]
    return {
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "labels": dict(meta.get("labels") or {}),
            "annotations": {
                k: v for k, v in (meta.get("annotations") or {}).items() if k != isvc.ROLLBACK_TO
            },
        },
        "spec": copy.deepcopy(current["spec"]),
    }


def _forget(isvc_obj: dict[str, Any]) -> dict[str, Any]:
    """`isvc_obj` without the rollback annotation (a concluded canary has nothing to go back to)."""
    (isvc_obj["metadata"].get("annotations") or {}).pop(isvc.ROLLBACK_TO, None)
    return isvc_obj
