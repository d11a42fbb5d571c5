"""Errors raised by the API clients and parsers; each message says what was wrong and where."""

from __future__ import annotations

from asicrc.drivers.usererror import UserError


class ApiError(UserError):
    """Base of every management-API failure. `reason` is a short machine-readable tag for fault events."""

    reason = "api-error"


class TransportError(ApiError):
    """Could not talk to the device: refused, reset, unreachable, timed out."""

    reason = "transport"


class HttpStatusError(ApiError):
    """The HTTP server answered with a non-success status."""

    reason = "http-status"

    def __init__(self, url: str, status: int, body: str = "") -> None:
        super().__init__(f"{url}: HTTP {status}{': ' + body[:200] if body else ''}")
        self.url = url
        self.status = status


class MalformedReply(ApiError, ValueError):
    """The reply is not valid JSON, or a field is missing or has the wrong type."""

    reason = "malformed-reply"


class ApiStatusError(ApiError):
    """A cgminer-style reply whose STATUS is E(rror) or F(atal)."""

    reason = "api-status"
