"""An HTTP-level DOUBLE of the KFP v2beta1 REST API (not Kubeflow Pipelines).

A real HTTP server on 127.0.0.1 in a thread, speaking just enough of the v2beta1 API for the
real ``kfp.Client`` to upload pipelines and versions, create experiments, runs and recurring
runs. It records every request so tests can assert on exactly what the client sent. It checks
no pipeline semantics: runs only walk through scripted states.
"""

import email.parser
import email.policy
import itertools
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

API = "/apis/v2beta1"
CREATED = "2026-11-21T00:00:00Z"


class KfpApiDouble:
    """State and request log of the double."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.requests: list[dict] = []
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.recurring: dict[str, dict] = {}
        self.run_states = ["PENDING", "RUNNING", "SUCCEEDED"]
        self._ids = itertools.count(1)
        self.lock = threading.Lock()
        self.url = ""

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def calls(self, method: str, path_regex: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and re.fullmatch(path_regex, r["path"])]


def _filter_name(query: dict) -> str | None:
    raw = query.get("filter")
    if not raw:
        return None
    for pred in json.loads(raw).get("predicates", []):
        if pred.get("key") in ("display_name", "name"):
            return pred.get("stringValue", pred.get("string_value"))
    return None


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    files = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        files[name] = (part.get_filename(), part.get_payload(decode=True))
    return files


class Handler(BaseHTTPRequestHandler):
    double: KfpApiDouble

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        d = self.double
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        record = {
            "method": method,
            "path": parts.path,
            "query": query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "json": json.loads(body) if body and "json" in ctype else None,
            "files": _multipart(ctype, body) if "multipart/form-data" in ctype else {},
        }
        with d.lock:
            d.requests.append(record)
            if d.token and self.headers.get("Authorization") != f"Bearer {d.token}":
                return self._reply(401, {"code": 16, "message": "Unauthenticated: bad token"})
            status, payload = self._route(method, parts.path, query, record)
        self._reply(status, payload)

    def _route(self, method: str, path: str, query: dict, rec: dict) -> tuple[int, dict]:
        d = self.double
        if not path.startswith(API):
            return 404, {"message": "not found"}
        p = path[len(API) :]
        if method == "GET" and p == "/healthz":
            return 200, {"commit_sha": "double", "tag_name": "2.17.0-double", "multi_user": False}
        if method == "GET" and p == "/pipelines":
            name = _filter_name(query)
            items = [x for x in d.pipelines.values() if name in (None, x["display_name"])]
            return 200, {"pipelines": items, "total_size": len(items)}
        if method == "POST" and p == "/pipelines/upload":
            pid = d.new_id("pipeline")
            pipe = {
                "pipeline_id": pid,
                "display_name": query["name"],
                "name": query["name"],
                "created_at": CREATED,
                "namespace": query.get("namespace"),
            }
            d.pipelines[pid] = pipe
            self._add_version(pid, query["name"])
            return 200, pipe
        if method == "POST" and p == "/pipelines/upload_version":
            pid = query.get("pipelineid")
            if pid not in d.pipelines:
                return 404, {"message": f"pipeline {pid} not found"}
            return 200, self._add_version(pid, query["name"])
        m = re.fullmatch(r"/pipelines/([^/]+)/versions", p)
        if method == "GET" and m:
            name = _filter_name(query)
            items = [
                v
                for v in d.versions.values()
                if v["pipeline_id"] == m.group(1) and name in (None, v["display_name"])
            ]
            return 200, {"pipeline_versions": items, "total_size": len(items)}
        if method == "GET" and p == "/experiments":
            name = _filter_name(query)
            items = [x for x in d.experiments.values() if name in (None, x["display_name"])]
            return 200, {"experiments": items, "total_size": len(items)}
        if method == "POST" and p == "/experiments":
            eid = d.new_id("experiment")
            d.experiments[eid] = {**rec["json"], "experiment_id": eid, "created_at": CREATED}
            return 200, d.experiments[eid]
        if method == "POST" and p == "/runs":
            rid = d.new_id("run")
            d.runs[rid] = {**rec["json"], "run_id": rid, "created_at": CREATED, "polls": 0}
            return 200, {**rec["json"], "run_id": rid, "state": "PENDING", "created_at": CREATED}
        m = re.fullmatch(r"/runs/([^/:]+)", p)
        if method == "GET" and m:
            run = d.runs.get(m.group(1))
            if run is None:
                return 404, {"message": "run not found"}
            state = d.run_states[min(run["polls"], len(d.run_states) - 1)]
            run["polls"] += 1
            out = {k: v for k, v in run.items() if k != "polls"}
            if state == "FAILED":
                out["error"] = {"code": 2, "message": "step train failed"}
            return 200, {**out, "state": state}
        if method == "POST" and p == "/recurringruns":
            rid = d.new_id("recurring")
            d.recurring[rid] = {
                **rec["json"],
                "recurring_run_id": rid,
                "created_at": CREATED,
                "status": "ENABLED",
            }
            return 200, d.recurring[rid]
        if method == "GET" and p == "/recurringruns":
            # The real API spells this one key in camelCase (see the kfp_server_api model).
            return 200, {
                "recurringRuns": list(d.recurring.values()),
                "total_size": len(d.recurring),
                "next_page_token": "",
            }
        m = re.fullmatch(r"/recurringruns/([^/:]+)(:enable|:disable)?", p)
        if m and m.group(1) in d.recurring:
            rr = d.recurring[m.group(1)]
            if method == "GET" and not m.group(2):
                return 200, rr
            if method == "DELETE" and not m.group(2):
                del d.recurring[m.group(1)]
                return 200, {}
            if method == "POST" and m.group(2):
                enable = m.group(2) == ":enable"
                rr["mode"] = "ENABLE" if enable else "DISABLE"
                rr["status"] = "ENABLED" if enable else "DISABLED"
                return 200, {}
        return 404, {"message": f"{method} {path} is not in the double"}

    def _add_version(self, pid: str, name: str) -> dict:
        d = self.double
        vid = d.new_id("version")
        d.versions[vid] = {
            "pipeline_id": pid,
            "pipeline_version_id": vid,
            "display_name": name,
            "name": name,
            "created_at": CREATED,
        }
        return d.versions[vid]

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


def _serve(double: KfpApiDouble):
    handler = type("BoundHandler", (Handler,), {"double": double})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    double.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def kfp_double(monkeypatch, tmp_path):
    """A running KFP API double that requires the bearer token ``t0ken``."""
    from kfp.client.client import Client

    # kfp.Client reads and writes ~/.config/kfp/context.json: keep the user's file out of it.
    monkeypatch.setattr(Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))
    for var in (
        "KFP_CT_TOKEN",
        "KF_PIPELINES_TOKEN",
        "KFP_CT_HOST",
        "KF_PIPELINES_ENDPOINT",
        "KF_PIPELINES_UI_ENDPOINT",
    ):
        monkeypatch.delenv(var, raising=False)
    double = KfpApiDouble(token="t0ken")
    server, thread = _serve(double)
    yield double
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def closed_port_url():
    """A loopback URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def tiny_package(tmp_path):
    """A tiny pipeline of the tests' own, compiled to YAML (independent of kfp_ct.pipelines)."""
    from kfp import compiler, dsl

    @dsl.component(base_image="python:3.11-slim")
    def echo(msg: str, n: int) -> str:
        return msg * n

    @dsl.pipeline(name="tiny")
    def tiny(msg: str = "hi", n: int = 1):
        echo(msg=msg, n=n)

    path = tmp_path / "tiny.yaml"
    compiler.Compiler().compile(tiny, str(path))
    return path
