"""Run an ASGI app (a fake X, LLM provider, webhook sink...) on a real 127.0.0.1 port.

    with serve_app(app) as base_url:
        ...  # the real client code talks HTTP to base_url

The server runs in its own thread and event loop, so it answers even while the test's loop is
busy awaiting the client.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_app(app: ASGIApp, *, host: str = "127.0.0.1") -> Iterator[str]:
    """``host``: another loopback address (127.0.0.2) stands for a second machine in a test."""
    port = free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
