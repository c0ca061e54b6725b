"""A real HTTP receiver of webhooks that verifies them with the ``standardwebhooks`` library.

It answers 204 to a call whose signature verifies with its secret (401 otherwise), or what
``script`` says (one status per call, then 204). A verified call is kept once per ``webhook-id``
(as the specification asks receivers to de-duplicate); ``calls`` keeps every attempt.
``stall`` holds verified calls before answering until released, so a test can kill the sender
mid-send.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Receiver:
    """What the receiver saw."""

    url: str
    secret: str
    script: list[int] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    accepted: dict[str, Any] = field(default_factory=dict)  # webhook-id -> payload
    stall: threading.Event | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_receiver(secret: str) -> Iterator[Receiver]:
    """Serve on a free port of 127.0.0.1 until the block ends."""
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.lock:
                state.calls.append(headers)
                scripted = state.script.pop(0) if state.script else None
            try:
                payload = Webhook(state.secret).verify(body, headers)
            except WebhookVerificationError as exc:
                with state.lock:
                    state.refused.append(str(exc))
                self._answer(401)
                return
            state.reached.set()
            if state.stall is not None:
                state.stall.wait(60)
            if scripted is not None and scripted >= 300:
                self._answer(scripted)
                return
            with state.lock:
                state.accepted.setdefault(headers["webhook-id"], payload)
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/ehcp",
                     secret=secret)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if state.stall is not None:
            state.stall.set()
        server.shutdown()
        server.server_close()


def payloads(receiver: Receiver) -> list[Any]:
    """The accepted payloads, as JSON-comparable values."""
    return [json.loads(json.dumps(p)) for p in receiver.accepted.values()]
