"""Cluster errors raised before anything on the cluster changed (the message names the fix)."""

from __future__ import annotations

from kfp_ct.errors import KfpCtError


class ClusterError(KfpCtError):
    """A cluster precondition failed: missing RBAC, an unusable storage URI, a bad profile."""
