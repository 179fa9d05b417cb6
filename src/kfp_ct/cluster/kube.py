"""Kubernetes API access: credentials, and InferenceService reads and writes as plain dicts."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

from kfp_ct.cluster import inferenceservice as isvc_mod
from kfp_ct.cluster.rbac import rbac_fix
from kfp_ct.errors import ClusterError

log = logging.getLogger(__name__)


def load_api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """An ApiClient from in-cluster config first (pipeline pods), then a kubeconfig file."""
    from kubernetes import client, config

    configuration = client.Configuration()
    if kubeconfig is None:
        try:
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        except config.ConfigException:
            pass
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    except (config.ConfigException, FileNotFoundError, OSError) as exc:
        raise ClusterError(
            "no Kubernetes credentials: run inside the cluster (a pipeline pod's "
            f"ServiceAccount) or point KUBECONFIG at a kubeconfig ({exc})"
        ) from None
    return client.ApiClient(configuration)


class InferenceServices:
    """Get, create, replace, patch and delete InferenceServices in one namespace."""

    def __init__(self, api_client: Any, namespace: str, conflict_retries: int = 5) -> None:
        from kubernetes import client

        self.api = client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.conflict_retries = conflict_retries

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(isvc_mod.GROUP, isvc_mod.VERSION, self.namespace, isvc_mod.PLURAL, *args, **kwargs)
        except ApiException as exc:
            if exc.status == 403:
                raise ClusterError(rbac_fix(self.namespace) + f" (API answered 403: {exc.reason})") from None
            raise

    def get(self, name: str) -> dict[str, Any] | None:
        """The InferenceService `name`, or None when it does not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            return self._call(self.api.get_namespaced_custom_object, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create `obj`; return what the API server stored."""
        return self._call(self.api.create_namespaced_custom_object, obj)

    def update(self, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Read, apply `change` to a copy, replace (PUT); retry on write conflicts."""
        from kubernetes.client.exceptions import ApiException

        for attempt in range(self.conflict_retries + 1):
            current = self.get(name)
            if current is None:
                raise ClusterError(f"InferenceService {self.namespace}/{name} disappeared")
            desired = change(copy.deepcopy(current))
            desired.pop("status", None)
            desired["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            try:
                return self._call(self.api.replace_namespaced_custom_object, name, desired)
            except ApiException as exc:
                if exc.status != 409 or attempt == self.conflict_retries:
                    raise
                log.info("write conflict on %s, retrying", name)
        raise AssertionError("unreachable")

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """JSON merge patch (`None` deletes a field)."""
        return self._call(self.api.patch_namespaced_custom_object, name, body)

    def delete(self, name: str) -> None:
        """Delete the InferenceService `name`."""
        self._call(self.api.delete_namespaced_custom_object, name)
