"""A webhook on 127.0.0.1 in a thread (http.server) that records every JSON body posted to it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Webhook:
    """Its URL, what it received (path and body per POST), and the codes to answer (then 200)."""

    url: str = ""
    posts: list[dict] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)

    @property
    def bodies(self) -> list[dict]:
        return [p["body"] for p in self.posts]


@contextmanager
def webhook(path: str = "/hook") -> Iterator[Webhook]:
    """Serve a recording webhook at `path` for the duration of the block."""
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            hook.posts.append({"path": self.path, "body": body})
            self.send_response(hook.codes.pop(0) if hook.codes else 200)
            self.end_headers()

        def log_message(self, *args) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook.url = f"http://127.0.0.1:{server.server_port}{path}"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
