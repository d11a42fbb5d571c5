"""One clear line when a listening socket cannot be bound.

asyncio says ``[Errno 98] error while attempting to bind on address ('127.0.0.1', 3333): address already in
use``; `bind_error` turns that (or any bind OSError) into ``cannot listen on 127.0.0.1:3333: address already in
use (another program is listening there)``, keeping the errno so callers can still test it.
"""

from __future__ import annotations

import errno


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_error(exc: OSError, host: str, port: int, what: str = "") -> OSError:
    """A message-only OSError with the same errno, naming the address and the reason, for one-line reporting."""
    if exc.errno == errno.EADDRINUSE:
        reason = "address already in use (another program is listening there)"
    elif exc.errno == errno.EACCES:
        reason = "permission denied (ports below 1024 need privileges)"
    elif exc.errno == errno.EADDRNOTAVAIL:
        reason = "address not available on this host"
    else:
        reason = (exc.strerror or str(exc)).rstrip(".")
        reason = reason[:1].lower() + reason[1:]
    prefix = f"{what}: " if what else ""
    err = OSError(f"{prefix}cannot listen on {format_address(host, port)}: {reason}")
    err.errno = exc.errno
    return err
