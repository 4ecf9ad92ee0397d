"""Serve the grading app with uvicorn on a socket bound here, so a busy port is one clear line."""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any

from lensscan.errors import SettingError, UserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port``.

    Raises:
        UserError: If the port is out of range or in use, or the address is not this
            machine's.
    """
    if not 0 <= port <= 65535:
        raise SettingError("port", port, "must be between 0 and 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UserError(f"`host` {host}: cannot resolve ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    listener = socket.socket(family, kind, proto)
    # A restarted server may take its port back at once; a port another process listens on
    # still refuses the bind.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
        listener.listen(128)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise SettingError(
                "port", port, f"already in use on {host} (another server? choose another `port`)"
            ) from None
        raise UserError(f"`host` {host} `port` {port}: cannot listen ({exc.strerror})") from None
    return listener


def make_server(app: Any) -> Any:
    """A uvicorn server for ``app`` (quiet: warnings and errors only, no access log)."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve(app: Any, listener: socket.socket) -> None:
    """Serve ``app`` on a bound socket until interrupted (Ctrl-C or SIGTERM)."""
    make_server(app).run(sockets=[listener])
