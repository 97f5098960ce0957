"""Run the simulator on a real socket: ``with serve(sim) as url: ...`` (uvicorn in a thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from forgelens.errors import BadInput


@contextmanager
def serve(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, tls: tuple[str, str] | None = None
) -> Iterator[str]:
    """Serve ``app`` on ``host:port`` (0 = a free port) until the block ends; yield its URL.
    ``tls=(certfile, keyfile)`` serves HTTPS (self-hosted servers with their own CA)."""
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - depends on installed extras
        raise BadInput("the simulator needs uvicorn: pip install 'forgelens[service]'") from exc
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
