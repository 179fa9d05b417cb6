"""Connecting to a Kubeflow Pipelines API: host, bearer token, namespace, TLS."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kfp_ct.errors import RemoteError

log = logging.getLogger(__name__)

TOKEN_ENVS = ("KFP_CT_TOKEN", "KF_PIPELINES_TOKEN")
HEALTHZ = "/apis/v2beta1/healthz"


@dataclass(frozen=True)
class ConnectionOptions:
    """Where the KFP API is and how to authenticate to it.

    Attributes:
        host: base URL of the KFP API or UI proxy, e.g. ``http://localhost:8080``.
        token: bearer token; None reads ``KFP_CT_TOKEN`` then ``KF_PIPELINES_TOKEN``.
        namespace: Kubeflow profile namespace (multi-user clusters), or None.
        ca_cert: CA bundle file to verify the server's TLS certificate.
        insecure_skip_tls_verify: do not verify TLS certificates (test clusters only).
        ui_host: base URL for printed links when it differs from ``host``.
        timeout_s: timeout of the reachability probe.
    """

    host: str
    token: str | None = None
    namespace: str | None = None
    ca_cert: str | None = None
    insecure_skip_tls_verify: bool = False
    ui_host: str | None = None
    timeout_s: float = 10.0

    @property
    def base_url(self) -> str:
        """Return the host with a scheme and without a trailing slash."""
        host = self.host.strip()
        if not host.startswith(("http://", "https://")):
            host = "https://" + host
        return host.rstrip("/")

    @property
    def ui_url(self) -> str:
        """Return the base URL for UI links."""
        return (self.ui_host or self.base_url).rstrip("/")

    def resolved_token(self) -> str | None:
        """Return the explicit token, else the first token environment variable set."""
        if self.token:
            return self.token
        return next((os.environ[e] for e in TOKEN_ENVS if os.environ.get(e)), None)


def _verify(options: ConnectionOptions) -> bool | str:
    if options.insecure_skip_tls_verify:
        return False
    if options.ca_cert:
        if not os.path.isfile(options.ca_cert):
            raise RemoteError(f"--ca-cert {options.ca_cert}: no such file")
        return options.ca_cert
    return True


def probe(options: ConnectionOptions) -> None:
    """Call the KFP health endpoint once and turn every failure into a one-line RemoteError."""
    import httpx

    url = options.base_url + HEALTHZ
    headers = {"Accept": "application/json"}
    token = options.resolved_token()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = httpx.get(url, headers=headers, verify=_verify(options), timeout=options.timeout_s)
    except httpx.ConnectError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "SSL" in str(exc):
            raise RemoteError(
                f"TLS verification failed for {options.base_url}: pass --ca-cert FILE with the "
                "cluster's CA, or --insecure-skip-tls-verify for a test cluster"
            ) from exc
        raise RemoteError(
            f"cannot reach the KFP API at {options.base_url} ({exc}): check --host; for a "
            "port-forward run 'kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80' "
            "and use --host http://localhost:8080"
        ) from exc
    except httpx.TimeoutException as exc:
        raise RemoteError(
            f"the KFP API at {options.base_url} did not answer within {options.timeout_s:g} s: "
            "check --host and network access"
        ) from exc
    except httpx.HTTPError as exc:
        raise RemoteError(f"cannot talk to the KFP API at {options.base_url}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise RemoteError(
            f"--host {options.base_url!r} is not a valid URL ({exc}); e.g. http://localhost:8080"
        ) from exc
    status = response.status_code
    if status in (401, 403) or 300 <= status < 400:
        what = "redirected to a login page" if 300 <= status < 400 else f"HTTP {status}"
        raise RemoteError(
            f"the KFP API at {options.base_url} refused the request ({what}): pass a valid "
            "bearer token with --token or KFP_CT_TOKEN, and --namespace for a multi-user cluster"
        )
    if status == 404:
        raise RemoteError(
            f"{url} answered 404: --host must point at the KFP API or UI "
            "(e.g. http://localhost:8080 after a port-forward), without a path"
        )
    if status >= 400:
        raise RemoteError(f"the KFP API at {options.base_url} answered HTTP {status} on {HEALTHZ}")
    if "json" not in response.headers.get("content-type", ""):
        raise RemoteError(
            f"{url} did not answer JSON (an auth proxy login page?): pass --token or check --host"
        )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the kfp client's own prints and FutureWarnings; our CLI prints its own lines."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()) as buf:
        warnings.simplefilter("ignore", FutureWarning)
        try:
            yield
        finally:
            if buf.getvalue().strip():
                log.debug("kfp client: %s", buf.getvalue().strip())


def api_error(exc: Exception, action: str) -> RemoteError:
    """Turn a kfp_server_api / urllib3 exception into a one-line RemoteError."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    detail = ""
    if body:
        import json

        try:
            detail = json.loads(body).get("message") or json.loads(body).get("error") or ""
        except (ValueError, AttributeError):
            detail = str(body)[:200]
    detail = " ".join(str(detail).split())
    if status in (401, 403):
        hint = ": pass a valid --token (or KFP_CT_TOKEN) and the right --namespace"
    elif status:
        hint = f": {detail}" if detail else ""
    else:
        hint = f": {' '.join(str(exc).split())[:200]}"
    code = f" (HTTP {status})" if status else ""
    return RemoteError(f"KFP API failed while {action}{code}{hint}")


@contextlib.contextmanager
def calling(action: str) -> Iterator[None]:
    """Wrap kfp client calls: quiet output, and errors as one-line RemoteErrors."""
    import kfp_server_api
    import urllib3

    try:
        with quiet():
            yield
    except (kfp_server_api.ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise api_error(exc, action) from exc


def connect(options: ConnectionOptions) -> Any:
    """Probe the API, then return a ``kfp.Client`` configured with token, namespace and TLS."""
    probe(options)
    import kfp

    verify = _verify(options)
    kwargs: dict[str, Any] = {
        "host": options.base_url,
        "existing_token": options.resolved_token(),
        "ui_host": options.ui_url,
    }
    if options.namespace:
        kwargs["namespace"] = options.namespace
    if isinstance(verify, str):
        kwargs["ssl_ca_cert"] = verify
    elif verify is False:
        kwargs["verify_ssl"] = False
    with calling("connecting"):
        return kfp.Client(**kwargs)
