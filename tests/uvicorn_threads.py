"""An ASGI app served by uvicorn on 127.0.0.1 in a background thread: a real socket for the
tests that need one, whatever event loop (or none) the test itself runs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def loopback_socket() -> socket.socket:
    """A TCP socket bound to a free port on 127.0.0.1 (``getsockname()[1]`` says which)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve_in_thread(app: Any, sock: socket.socket, **options: Any) -> Iterator[None]:
    """Serve ``app`` on ``sock`` until the block ends, then stop and close ``sock``.

    Args:
        app: the ASGI app.
        sock: a bound socket (see `loopback_socket`).
        options: more `uvicorn.Config` settings (TLS: ``ssl_keyfile``, ``ssl_certfile``).

    Raises:
        RuntimeError: uvicorn did not start within 60 s.
    """
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
        timeout_graceful_shutdown=1,
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()
