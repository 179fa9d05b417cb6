"""Deploying to KServe on Kubernetes: InferenceService specs, rollout, readiness, RBAC, profiles.

Modules are light at import (no `kubernetes` or `kfp` import at module level except where a
function needs it): `storage`, `profiles` and `inferenceservice` are pure functions; `rollout`,
`readiness` and `rbac` talk to the API server through a `kubernetes.client.ApiClient`;
`target.KServeTarget` is the `kserve` deploy target.
"""
